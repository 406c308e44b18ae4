#!/usr/bin/env python3
"""Imaging a CUE/BIN mixed-mode disc, against the fastest drive, and the cost of reading
a disc's TOC and classifying it.

    .venv/bin/python bench/bench_discs.py [--data-mib 200] [--audio-mib 200] [--runs 3]

Builds a mixed-mode disc (track 1: an ISO 9660 volume made by genisoimage, MODE1/2048;
tracks 2-3: audio, raw 2,352-byte sectors) in a temporary folder, images it with
`workbench image DISC.cue` (the data track into image.iso, the audio tracks read twice
each and compared), and prints the median rate against a 52x CD drive (7.8 MB/s), the
fastest a real drive reads. Then opens the CUE sheet and plans the disc (TOC, modes,
class) many times: the median must stay well under a second. Needs genisoimage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.imaging.disc import plan_disc  # noqa: E402
from workbench.imaging.sources import open_source  # noqa: E402

DRIVE_52X = 52 * 150 * 1024  # bytes/s: 52 x 150 KiB/s (about 7.8 MB/s)


def build(work: Path, data_mib: int, audio_mib: int) -> Path:
    files = work / "files"
    files.mkdir()
    (files / "random.bin").write_bytes(os.urandom(data_mib << 20))
    subprocess.run(["genisoimage", "-quiet", "-R", "-J", "-o", str(work / "d.iso"),
                    str(files)], check=True)
    half = (audio_mib << 20) // 2 // 2352 * 2352
    for n in (2, 3):
        (work / f"a{n}.bin").write_bytes(os.urandom(half))
    (work / "mixed.cue").write_text(
        'FILE "d.iso" BINARY\n  TRACK 01 MODE1/2048\n    INDEX 01 00:00:00\n'
        'FILE "a2.bin" BINARY\n  TRACK 02 AUDIO\n    PREGAP 00:02:00\n    INDEX 01 00:00:00\n'
        'FILE "a3.bin" BINARY\n  TRACK 03 AUDIO\n    INDEX 01 00:00:00\n')
    return work / "mixed.cue"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-mib", type=int, default=200)
    ap.add_argument("--audio-mib", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    if not shutil.which("genisoimage"):
        sys.exit("missing genisoimage (apt-get install genisoimage)")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        cue = build(work, args.data_mib, args.audio_mib)
        size = sum((work / n).stat().st_size for n in ("d.iso", "a2.bin", "a3.bin"))
        times = []
        for _ in range(args.runs):
            shutil.rmtree(work / "job", ignore_errors=True)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "workbench", "image", str(cue), "--profile",
                            "cd", "--item", "BENCH-DISC", "--out", str(work / "job")],
                           check=True, capture_output=True, env={**os.environ,
                                                                 "PYTHONPATH": str(ROOT)})
            times.append(time.perf_counter() - started)
        med = statistics.median(times)
        rate = size / med
        print(f"\n== Imaging a CUE/BIN mixed-mode disc: {size / 1e6:.0f} MB "
              f"({args.data_mib} MiB data, {args.audio_mib} MiB audio), {args.runs} runs ==")
        print(f"median {med:.2f} s, {rate / 1e6:.1f} MB/s: {rate / DRIVE_52X:.1f}x a 52x drive "
              f"(7.8 MB/s); audio read twice and compared")
        toc = []
        for _ in range(50):
            started = time.perf_counter()
            with open_source(cue, sector_size=2048) as source:
                plan_disc(source)
            toc.append(time.perf_counter() - started)
        print(f"TOC read and classification: median {statistics.median(toc) * 1000:.1f} ms "
              f"(target under 1 s)")


if __name__ == "__main__":
    main()
