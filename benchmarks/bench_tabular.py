"""Tables in and out: CSV and Parquet rows read as requests, and results joined back onto them,
beside the floor of reading the same rows with the standard library's csv / pyarrow alone.

Each of N rows has a prompt of varied Unicode text (about 200 characters), an id, a per-row
``max_output_tokens`` and two columns of the row's own data. Measured:

* ``read_table`` (rows -> validated requests) against ``csv.DictReader`` /
  ``ParquetFile.iter_batches`` + ``to_pylist`` reading the same rows;
* ``write_joined`` (every row with its result's columns, in input order) against writing the same
  rows with ``csv.DictWriter`` / pyarrow, with the results already in memory;
* peak extra memory of reading (flat: rows stream) and of the join (it holds the results).

python benchmarks/bench_tabular.py [N]     (default 50,000)
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from _common import best_time, machine, peak_extra_bytes, row  # noqa: E402

from batch_router_core import RequestResult, ResultStatus, UsageInfo  # noqa: E402
from batch_router_core.formats.tabular import Columns, read_table, write_joined  # noqa: E402

WORDS = (
    "the battery lasts all day",
    "Größe passt nicht",
    "東京の天気は晴れ",
    "вода и лёд",
    "🙂 works fine 👍",
    "naïve café crème",
    "데이터가 많다",
    "नमस्ते दुनिया",
)


def rows(n: int) -> list[dict[str, object]]:
    return [
        {
            "sku": f"sku-{i:07d}",
            "prompt": "; ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(10)) + f" #{i}",
            "max_output_tokens": 32 + i % 64,
            "shop": f"shop-{i % 17}",
            "price": round(1 + (i % 1000) / 10, 2),
        }
        for i in range(n)
    ]


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="br-bench-tabular-"))
    data = rows(n)
    names = list(data[0])
    csv_path, pq_path = tmp / "in.csv", tmp / "in.parquet"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=names)
        w.writeheader()
        w.writerows(data)
    pq.write_table(pa.Table.from_pylist(data), pq_path)
    cols = Columns(id="sku")
    results = {
        d["sku"]: RequestResult(
            custom_id=str(d["sku"]),
            status=ResultStatus.SUCCEEDED,
            text="An answer of a few words, ünïcode included.",
            usage=UsageInfo(prompt_tokens=50, completion_tokens=12, total_tokens=62),
        )
        for d in data
    }
    del data
    print(machine())
    print(
        f"{n} rows ({csv_path.stat().st_size / 1e6:.1f} MB CSV, "
        f"{pq_path.stat().st_size / 1e6:.1f} MB Parquet)"
    )

    def floor_csv() -> None:
        with csv_path.open(newline="", encoding="utf-8") as fh:
            for _ in csv.DictReader(fh):
                pass

    def floor_parquet() -> None:
        for chunk in pq.ParquetFile(pq_path).iter_batches(batch_size=4096):
            chunk.to_pylist()

    for label, path, floor in (("CSV", csv_path, floor_csv), ("Parquet", pq_path, floor_parquet)):
        f = best_time(floor, 3)

        def ours(path: Path = path) -> None:
            for _ in read_table(path, cols):
                pass

        print(row(f"floor: read the {label} rows", f, n))
        print(
            row(
                f"read_table ({label}) -> requests",
                best_time(ours, 3),
                n,
                f,
                peak_extra_bytes(ours),
            )
        )

    out_rows = [
        {
            **r,
            "status": "succeeded",
            "answer": "x",
            "error": None,
            "prompt_tokens": 50,
            "completion_tokens": 12,
        }
        for r in csv.DictReader(csv_path.open(newline="", encoding="utf-8"))
    ]

    def floor_write_csv() -> None:
        with (tmp / "floor.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(out_rows[0]))
            w.writeheader()
            w.writerows(out_rows)

    def ours_csv() -> None:
        write_joined(csv_path, results, tmp / "out.csv", cols)

    def ours_parquet() -> None:
        write_joined(pq_path, results, tmp / "out.parquet", cols)

    f = best_time(floor_write_csv, 3)
    print(row("floor: write the joined rows (csv.DictWriter)", f, n))
    print(
        row("write_joined (CSV -> CSV)", best_time(ours_csv, 3), n, f, peak_extra_bytes(ours_csv))
    )
    print(
        row(
            "write_joined (Parquet -> Parquet)",
            best_time(ours_parquet, 3),
            n,
            None,
            peak_extra_bytes(ours_parquet),
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
