#!/usr/bin/env python3
"""The ledger at national-library scale: 1,000,000 attempts over 15 media types and 10
stations. Measures batch insertion (target >= 10,000 attempts/s) and the per-media
report (target < 1 s), with the same query layer the CLI, TUI and exports use.

    .venv/bin/python bench/bench_ledger.py [--attempts 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics as stats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.ledger.db import connect  # noqa: E402
from workbench.ledger.query import statistics  # noqa: E402
from workbench.ledger.record import add_attempts  # noqa: E402
from workbench.profiles import load_profiles  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--attempts", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="build the ledger here and keep it")
    args = ap.parse_args()
    profiles = load_profiles(ROOT / "profiles")
    media = sorted(profiles)[:15]
    rng = random.Random(1)
    outcomes = ["success"] * 86 + ["partial"] * 8 + ["failed"] * 5 + ["needs_flux"]
    with tempfile.TemporaryDirectory() as tmp:
        con = connect((args.keep or Path(tmp)) / "ledger.sqlite")
        batch, carriers, total, item = [], [], 0, 0
        start = time.perf_counter()
        while total < args.attempts:
            item += 1
            profile = profiles[rng.choice(media)]
            station = f"station-{rng.randrange(10):02d}"
            day = f"2026-{1 + item % 12:02d}-{1 + item % 28:02d}"
            carriers.append({"item_id": f"I{item:08d}", "profile_id": profile.id,
                             "family": profile.family, "station_id": station,
                             "created": day})
            for n in range(1 if rng.random() < 0.8 else 2):  # some carriers are retried
                outcome = rng.choice(outcomes) if n == 0 else "success"
                batch.append({"attempt": f"{station}|I{item:08d}|{n}", "item_id": f"I{item:08d}",
                              "station_id": station, "operator": f"op{rng.randrange(40)}",
                              "drive": f"drive-{rng.randrange(30)}", "drive_serial": "",
                              "profile_id": profile.id, "family": profile.family,
                              "batch": f"B{item // 20:06d}", "started": f"{day}T{n:02d}:00:00Z",
                              "ended": f"{day}T{n:02d}:05:00Z", "outcome": outcome,
                              "reason_code": "unreadable" if outcome == "failed" else "",
                              "reason": "", "bytes": 1474560, "bytes_rescued": 1474560,
                              "bad_sectors": 0, "read_errors": 0,
                              "rate": rng.uniform(20_000, 90_000), "md5": "", "sha256": "",
                              "job_dir": "", "note": ""})
                total += 1
            if len(batch) >= 50_000:
                add_attempts(con, batch, carriers)
                batch, carriers = [], []
        add_attempts(con, batch, carriers)
        insert_s = time.perf_counter() - start
        con.execute("ANALYZE")
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            rows = statistics(con, "media", label=lambda k: profiles[k].report_label("en"))
            times.append(time.perf_counter() - t0)
        carriers_n = con.execute("SELECT COUNT(*) FROM carriers").fetchone()[0]
    print(f"\n== Ledger: {total:,} attempts, {carriers_n:,} carriers, 15 media types, "
          "10 stations ==")
    rate = total / insert_s
    print(f"batch insertion: {insert_s:.1f} s, {rate:,.0f} attempts/s "
          f"(target >= 10,000: {'MET' if rate >= 10_000 else 'NOT MET'})")
    med = stats.median(times)
    print(f"per-media report: median {med:.2f} s of {args.runs} "
          f"(target < 1 s: {'MET' if med < 1 else 'NOT MET'})")
    for row in rows[:4]:
        print(f"  {row.label}: {row.carriers:,} carriers ({row.succeeded:,} succeeded)")


if __name__ == "__main__":
    main()
