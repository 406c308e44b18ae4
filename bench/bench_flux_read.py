#!/usr/bin/env python3
"""Reading and writing flux captures at full size: an 80-cylinder, two-sided 2HD disk,
3 revolutions a track (about 30 million transitions), as one SCP image and as a
KryoFlux stream set. Prints seconds per whole capture and per track.

    .venv/bin/python bench/bench_flux_read.py [--cylinders 80] [--revs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.flux.kryoflux import write_kryoflux  # noqa: E402
from workbench.flux.model import FluxCapture, Revolution, TrackFlux  # noqa: E402
from workbench.flux.read import read_capture  # noqa: E402
from workbench.flux.scp import write_scp  # noqa: E402

T = TypeVar("T")
HZ = 40e6
REV_TICKS = int(HZ * 0.2)  # 300 rpm


def synthetic(cylinders: int, revs: int) -> FluxCapture:
    """MFM-like flux at 500 kbit/s: 2, 3 or 4 us between transitions, with jitter."""
    rng = np.random.default_rng(14)
    tracks = {}
    for cyl in range(cylinders):
        for head in (0, 1):
            turns = []
            for _ in range(revs):
                cells = rng.choice(np.array([80, 120, 160]), 70_000)
                ticks = cells + rng.integers(-3, 4, cells.size)
                end = int(np.searchsorted(np.cumsum(ticks), REV_TICKS))
                ticks = ticks[:end]
                turns.append(Revolution(ticks.astype(np.uint32),
                                        tail=REV_TICKS - int(ticks.sum())))
            tracks[(cyl, head)] = TrackFlux(cyl, head, HZ, tuple(turns))
    return FluxCapture(tracks, "scp")


def timed(label: str, tracks: int, fn: Callable[[], T]) -> T:
    t0 = time.perf_counter()
    result = fn()
    dt = time.perf_counter() - t0
    print(f"{label:<28} {dt:7.2f} s   {dt / tracks * 1000:7.1f} ms/track")
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cylinders", type=int, default=80)
    ap.add_argument("--revs", type=int, default=3)
    args = ap.parse_args()
    capture = synthetic(args.cylinders, args.revs)
    n = len(capture.tracks)
    total = sum(r.intervals.size for t in capture.tracks.values() for r in t.revolutions)
    print(f"{n} tracks x {args.revs} revolutions, {total / 1e6:.1f} M transitions")
    with tempfile.TemporaryDirectory() as tmp:
        scp, kf = Path(tmp) / "disk.scp", Path(tmp) / "kf"
        timed("write SCP", n, lambda: write_scp(capture, scp))
        timed("read SCP", n, lambda: read_capture(scp))
        timed("write KryoFlux (resampled)", n, lambda: write_kryoflux(capture, kf))
        back = timed("read KryoFlux streams", n, lambda: read_capture(kf))
        size = sum(p.stat().st_size for p in kf.iterdir())
        print(f"SCP {scp.stat().st_size / 1e6:.0f} MB, streams {size / 1e6:.0f} MB; "
              f"read back {len(back.tracks)} tracks")


if __name__ == "__main__":
    main()
