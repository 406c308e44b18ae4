#!/usr/bin/env python3
"""`workbench ingest` of many small files against `cp -r` + `sha256sum -c`, medians.

    .venv/bin/python bench/bench_ingest.py [--files 20000] [--runs 3] [--dir DIR]
        [--tree PATH] [--tape]

A folder of --files small files (80-180 bytes each, 250 to a folder) with a sha256sum
list beside them: the ingest (list read, each file copied with its digests computed
while read, checked, synced, bagged with PREMIS and validated with bagit-python,
recorded) vs `cp -r` of the folder then `sha256sum -c --quiet` of the copy. --tape adds
a stand-in tape (a labelled folder) so the ingest stages its bag too (the tape layer's
own cost). --tree: the source tree to run (default: this one), to compare a branch with
main on the same files. The page cache is dropped before each run when the bench runs
as root. Prints the ratio cp+sha256sum / ingest (1.0 = as fast).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def drop_caches() -> None:
    if os.geteuid() == 0:
        os.sync()
        with contextlib.suppress(OSError):
            Path("/proc/sys/vm/drop_caches").write_text("3\n")


def run(cmd: list[str] | str, cwd: Path, env: dict[str, str] | None = None,
        ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, shell=isinstance(cmd, str), capture_output=True,
                          text=True, env=env)
    if done.returncode not in ok:
        sys.exit(f"{cmd} exited {done.returncode}: {done.stdout[-400:]} {done.stderr[-800:]}")
    return time.perf_counter() - start


def make_source(src: Path, count: int) -> int:
    lines, total = [], 0
    for i in range(count):
        name = f"d{i // 250:03d}/f{i:05d}.txt"
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(80 + i % 100)
        total += len(data)
        (src / name).write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (src / "SHA256SUMS").write_text("".join(lines))
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--tree", type=Path, default=ROOT)
    ap.add_argument("--tape", action="store_true")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.tree.resolve())}
    wb = [sys.executable, "-m", "workbench"]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        (work / "workbench.toml").write_text('[tape]\npools = ["primary"]\n'
                                             'headroom_percent = 0\n')
        src = work / "masters"
        size = make_source(src, args.files)
        if args.tape:
            run([*wb, "tape", "label", str(work / "tape" / "T1"), "--barcode", "PRI001L8",
                 "--pool", "primary", "--capacity", str(50 << 30)], work, env)
        ours, theirs = [], []
        for n in range(args.runs):
            drop_caches()
            ours.append(run([*wb, "ingest", str(src), "--item", f"ING-{n}"], work, env))
            copy = work / "cpcopy"
            shutil.rmtree(copy, ignore_errors=True)
            drop_caches()
            theirs.append(run(f"cp -r {src} {copy} && cd {copy} && sha256sum -c --quiet "
                              "SHA256SUMS", work))
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"== Ingest of {args.files} small files ({size / 1048576:.1f} MiB), "
          f"{args.runs} runs, medians, tree {args.tree}{', with tape' if args.tape else ''}")
    print(f"workbench ingest            {o:8.2f} s  ({o / args.files * 1e3:.2f} ms a file)")
    print(f"cp -r + sha256sum -c        {t:8.2f} s")
    print(f"ratio {t / o:.2f}x (cp+sha256sum time / ingest time; 1.0 = as fast)")


if __name__ == "__main__":
    main()
