"""No shipped docstring, comment or documentation page cites the project's internal planning
documents."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLANNING = re.compile(
    r"\bseed 0\d\d\b|\bwave \d\b|PROVIDER_APIS\.md|ARCHITECTURE\.md|STYLE\.md|\bissue \d+\b",
    re.IGNORECASE,
)


def test_shipped_code_cites_no_planning_document() -> None:
    shipped = [
        *ROOT.joinpath("batch_router_core").rglob("*.py"),
        *(p for p in ROOT.joinpath("plugins").rglob("*.py") if "_tests" not in p.parts[-2]),
    ]
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in shipped
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if PLANNING.search(line)
    ]
    assert not hits, "\n".join(hits)
