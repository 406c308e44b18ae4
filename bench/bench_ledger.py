#!/usr/bin/env python3
"""The ledger at national-library scale: 1,000,000 attempts over 15 media types and 10
stations, on SQLite and (with --url) on a PostgreSQL server, side by side. Measures
batch insertion from one station (target >= 10,000 attempts/s), insertion from four
stations at once (four processes, a quarter each), and the per-media report (target
< 1 s), with the same query layer the CLI, TUI and exports use.

    .venv/bin/python bench/bench_ledger.py [--attempts 1000000] [--runs 3]
        [--url postgresql://USER@HOST/DB]   # a schema of its own, dropped at the end

Without --url and with initdb at hand (scripts/pg_throwaway.py), --throwaway starts a
throwaway cluster for the run.
"""

from __future__ import annotations

import argparse
import random
import statistics as stats
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.ledger.db import connect  # noqa: E402
from workbench.ledger.query import statistics  # noqa: E402
from workbench.ledger.record import add_attempts  # noqa: E402
from workbench.profiles import load_profiles  # noqa: E402

BATCH = 50_000  # one station's import: few, large transactions
STATION_BATCH = 2_000  # four stations at once: short transactions, as stations write


def batches(total: int, part: int = 0, parts: int = 1, size: int = BATCH
            ) -> Iterator[tuple[list[dict], list[dict]]]:
    """The same attempts every run (seeded); part/parts: every parts-th carrier."""
    profiles = load_profiles(ROOT / "profiles")
    media = sorted(profiles)[:15]
    rng = random.Random(1)
    outcomes = ["success"] * 86 + ["partial"] * 8 + ["failed"] * 5 + ["needs_flux"]
    batch: list[dict] = []
    carriers: list[dict] = []
    done, item = 0, 0
    while done < total:
        item += 1
        profile = profiles[rng.choice(media)]
        station = f"station-{rng.randrange(10):02d}"
        day = f"2026-{1 + item % 12:02d}-{1 + item % 28:02d}"
        mine = item % parts == part
        if mine:
            carriers.append({"item_id": f"I{item:08d}", "profile_id": profile.id,
                             "family": profile.family, "station_id": station, "created": day})
        for n in range(1 if rng.random() < 0.8 else 2):  # some carriers are retried
            outcome = rng.choice(outcomes) if n == 0 else "success"
            row = {"attempt": f"{station}|I{item:08d}|{n}", "item_id": f"I{item:08d}",
                   "station_id": station, "operator": f"op{rng.randrange(40)}",
                   "drive": f"drive-{rng.randrange(30)}", "drive_serial": "",
                   "profile_id": profile.id, "family": profile.family,
                   "batch": f"B{item // 20:06d}", "started": f"{day}T{n:02d}:00:00Z",
                   "ended": f"{day}T{n:02d}:05:00Z", "outcome": outcome,
                   "reason_code": "unreadable" if outcome == "failed" else "",
                   "reason": "", "bytes": 1474560, "bytes_rescued": 1474560,
                   "bad_sectors": 0, "read_errors": 0,
                   "rate": rng.uniform(20_000, 90_000), "md5": "", "sha256": "",
                   "job_dir": "", "note": ""}
            if mine:
                batch.append(row)
            done += 1
        if len(batch) >= size:
            yield batch, carriers
            batch, carriers = [], []
    yield batch, carriers


def fill(target: str, total: int, part: int = 0, parts: int = 1, size: int = BATCH
         ) -> tuple[int, float]:
    """Insert; returns the attempts added and the seconds spent in the ledger's writes
    (the rest of the time is this bench generating the rows, in the same process)."""
    con = connect(target, f"bench-{part}")
    n, writing = 0, 0.0
    for rows, carriers in batches(total, part, parts, size):
        t0 = time.perf_counter()
        n += add_attempts(con, rows, carriers)
        writing += time.perf_counter() - t0
    con.close()
    return n, writing


def analyze(target: str) -> None:
    """Statistics for the planner; on PostgreSQL also the visibility map (VACUUM), as
    autovacuum keeps it on a live server, which the report's index-only scans need."""
    con = connect(target)
    con.execute("VACUUM ANALYZE" if target.startswith("postgresql") else "ANALYZE")
    con.close()


def report_times(target: str, runs: int) -> tuple[list[float], str]:
    profiles = load_profiles(ROOT / "profiles")
    con = connect(target)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rows = statistics(con, "media", label=lambda k: profiles[k].report_label("en"))
        times.append(time.perf_counter() - t0)
    top = "; ".join(f"{r.label}: {r.carriers:,}" for r in rows[:2])
    con.close()
    return times, top


def count(target: str) -> tuple[int, int]:
    con = connect(target)
    out = (con.execute("SELECT COUNT(*) FROM attempts").fetchone()[0],
           con.execute("SELECT COUNT(*) FROM carriers").fetchone()[0])
    con.close()
    return out


def count_of(total: int) -> tuple[int, int]:
    """The attempts and carriers one station's insertion of total makes."""
    attempts = carriers = 0
    for rows, items in batches(total):
        attempts, carriers = attempts + len(rows), carriers + len(items)
    return attempts, carriers


def four_at_once(target: str, total: int) -> float:
    """Four station processes, each a quarter of the carriers, at once, in
    transactions of STATION_BATCH attempts."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--writer", target, str(total),
                               str(part)]) for part in range(4)]
    for p in procs:
        if p.wait(timeout=3600) != 0:
            raise SystemExit(f"a writer failed (exit {p.returncode})")
    return time.perf_counter() - t0


def run_backend(name: str, make: Callable[[], str], total: int, runs: int, four_total: int
                ) -> dict[str, str]:
    out: dict[str, str] = {"backend": name}
    one = make()
    t0 = time.perf_counter()
    _, write_s = fill(one, total)
    insert_s = time.perf_counter() - t0
    analyze(one)
    attempts, carriers = count(one)
    times, top = report_times(one, runs)
    four = make()
    four_s = four_at_once(four, four_total)
    four_attempts, four_carriers = count(four)
    print(f"{name}: one station {insert_s:.1f} s; report {times}; four at once {four_s:.1f} s",
          flush=True)
    rate, rate4 = attempts / insert_s, four_attempts / four_s
    expected = count_of(four_total)
    same = (four_attempts, four_carriers) == expected
    med = stats.median(times)
    out.update({
        "attempts / carriers": f"{attempts:,} / {carriers:,}",
        "insertion, one station": f"{insert_s:.1f} s, {rate:,.0f}/s "
                                  f"({'MET' if rate >= 10_000 else 'NOT MET'} >= 10,000)",
        "  of which ledger writes": f"{write_s:.1f} s, {attempts / write_s:,.0f}/s "
                                    "(the rest: generating the rows)",
        "insertion, four at once": f"{four_s:.1f} s, {rate4:,.0f}/s, "
                                   f"({four_attempts:,} / {four_carriers:,}: "
                                   f"{'same' if same else 'DIFFER'})",
        "per-media report": f"median {med:.2f} s of {runs} "
                            f"({'MET' if med < 1 else 'NOT MET'} < 1 s)",
        "largest slices": top})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--attempts", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=("sqlite", "postgresql"), default="",
                    help="run one backend only")
    ap.add_argument("--four", type=int, default=0,
                    help="attempts the four stations insert at once (default: --attempts)")
    ap.add_argument("--url", default="", help="a PostgreSQL server (a schema of its own)")
    ap.add_argument("--throwaway", action="store_true",
                    help="start a throwaway PostgreSQL cluster for the run")
    ap.add_argument("--writer", nargs=3, metavar=("TARGET", "TOTAL", "PART"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only == "postgresql" and not (args.url or args.throwaway):
        ap.error("--only postgresql needs a server: --url postgresql://... or --throwaway")
    if args.url:  # a server that does not answer: said, not a driver's traceback
        import psycopg
        try:
            psycopg.connect(args.url, connect_timeout=10).close()
        except psycopg.Error as exc:
            ap.error(f"cannot reach {args.url.split('@')[-1]}: {str(exc).strip()}")
    if args.writer:
        target, total, part = args.writer
        fill(target, int(total), int(part), 4, STATION_BATCH)
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        files = iter(range(100))
        if args.only != "postgresql":
            results.append(run_backend(
                "SQLite", lambda: str(Path(tmp) / f"ledger-{next(files)}.sqlite"),
                args.attempts, args.runs, args.four or args.attempts))
        url, cluster = args.url, None
        if not url and args.throwaway:
            sys.path.insert(0, str(ROOT / "scripts"))
            import pg_throwaway
            cluster = Path(tempfile.mkdtemp(prefix="workbench-pg-bench-"))
            url = pg_throwaway.start(cluster)
        if url and args.only != "sqlite":
            import psycopg
            schemas: list[str] = []

            def new_schema() -> str:
                name = f"bench_{uuid.uuid4().hex[:10]}"
                with psycopg.connect(url, autocommit=True) as con:
                    con.execute(f"CREATE SCHEMA {name}")
                schemas.append(name)
                sep = "&" if "?" in url else "?"
                return f"{url}{sep}options={quote(f'-c search_path={name}')}"
            try:
                results.append(run_backend("PostgreSQL", new_schema, args.attempts,
                                           args.runs, args.four or args.attempts))
            finally:
                with psycopg.connect(url, autocommit=True) as con:
                    for name in schemas:
                        con.execute(f"DROP SCHEMA {name} CASCADE")
                if cluster is not None:
                    pg_throwaway.stop(cluster)
    print(f"\n== Ledger: {args.attempts:,} attempts, 15 media types, 10 stations ==")
    keys = [k for k in results[0] if k != "backend"]
    width = max(len(k) for k in keys) + 2
    print(" " * width + " | ".join(f"{r['backend']:<44}" for r in results))
    for key in keys:
        print(f"{key:<{width}}" + " | ".join(f"{r[key]:<44}" for r in results))


if __name__ == "__main__":
    main()
