#!/usr/bin/env python3
"""The virus scan's cost: one clamscan run per file (`clamscan -` fed each file on
stdin) against one run over a batch of memory files (what workbench/scan does), and the
time identification takes with and without the scan.

    .venv/bin/python bench/bench_virus_scan.py [--files 300] [--kib 16] [--db DIR]

Builds a FAT16 image of N files (mkfs.fat, mtools) with a test signature database made
here (or --db: a real ClamAV database folder, to see the database load that every run
pays: seconds for the full one). Prints seconds and ratios, best of three.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WORKBENCH_IDENTIFY_WORKERS", "0")

from workbench.config import Settings  # noqa: E402
from workbench.identify.engine import identify_image  # noqa: E402
from workbench.scan.virus import VirusScan  # noqa: E402


def build(tmp: Path, files: int, kib: int) -> Path:
    img = tmp / "many.img"
    size_kib = max(8192, files * (kib + 4) * 2)
    subprocess.run(["mkfs.fat", "-F", "16", "-C", str(img), str(size_kib)], check=True,
                   capture_output=True)
    src = tmp / "src"
    src.mkdir()
    for n in range(files):
        (src / f"F{n:05d}.BIN").write_bytes(os.urandom(kib * 1024))
    # in a folder: a FAT16 root holds 512 entries at most
    subprocess.run(["mmd", "-i", str(img), "::/D"], check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", str(img), *map(str, sorted(src.iterdir())), "::/D/"],
                   check=True, capture_output=True)
    return img


def best(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--kib", type=int, default=16)
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    if not shutil.which("clamscan"):
        sys.exit("clamscan is not installed (apt-get install clamav)")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        db = args.db
        if db is None:
            db = tmp / "db"
            db.mkdir()
            (db / "t.ndb").write_text("Bench.Test:0:*:" + b"NEVER-IN-RANDOM-DATA".hex() + "\n")
        img = build(tmp, args.files, args.kib)
        blobs = [os.urandom(args.kib * 1024) for _ in range(args.files)]

        def per_file() -> None:
            for data in blobs:
                subprocess.run(["clamscan", "--no-summary", "-d", str(db), "-"], input=data,
                               capture_output=True, check=False)

        settings = replace(Settings(), virus_database=str(db))
        plain = best(lambda: identify_image(img, settings))
        scanned = best(lambda: identify_image(img, settings,
                                              scanner=VirusScan.for_settings(settings)))
        one = per_file if args.files <= 2000 else None
        per = best(one, runs=1) if one else float("nan")
        report = identify_image(img, settings, scanner=VirusScan.for_settings(settings))
        scan = report.virus_scan
        print(f"{args.files} files of {args.kib} KiB; database {db}")
        print(f"  clamscan per file (stdin), {args.files} runs: {per:8.2f} s")
        print(f"  batched (memory files), {scan['clamscan_runs']} run(s):   "
              f"{scan['seconds']:8.2f} s   ratio {per / max(scan['seconds'], 1e-9):.0f}x")
        print(f"  identify without scan: {plain:8.2f} s; with scan: {scanned:8.2f} s "
              f"(x{scanned / plain:.2f})")


if __name__ == "__main__":
    main()
