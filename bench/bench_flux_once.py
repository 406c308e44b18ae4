#!/usr/bin/env python3
"""What parsing a brought-in capture once saves in the station's flux imaging.

A 3.5-inch 2HD disk (80 x 2 x 18 x 512) is imaged from a drive (a plain image file),
then a 3-revolution SCP capture of it is brought in with `image_flux`: the station reads
the capture to validate it, reads and decodes it to compare it with the image, copies it
into the job and reads and decodes it again for the image. Timed as the station runs it,
then inside `workbench.flux.once.parse_once()` (one parse, each track decoded once).
Prints; asserts nothing (both runs' images are compared).

    .venv/bin/python bench/bench_flux_once.py [--revolutions 3] [--format scp|kryoflux]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.config import Settings  # noqa: E402
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks  # noqa: E402
from workbench.flux.kryoflux import write_kryoflux  # noqa: E402
from workbench.flux.once import parse_once  # noqa: E402
from workbench.flux.scp import write_scp  # noqa: E402
from workbench.station import Station  # noqa: E402
from workbench.station import flux as station_flux  # noqa: E402


def settings(root: Path) -> Settings:
    base = Settings()
    return replace(base, free_space_margin=0, tape_headroom=0.0,
                   paths=replace(base.paths, staging=root / "staging", bags=root / "bags",
                                 tape=root / "tape", ledger=root / "ledger.sqlite",
                                 logs=root / "logs"))


def run(root: Path, image: bytes, capture_path: Path, once: bool) -> tuple[float, bytes, str]:
    with Station(settings(root)) as station:
        (root / "disk.img").write_bytes(image)
        profile = station.profiles["fd35-2hd"]
        station.image(root / "disk.img", profile, "ONCE-1")
        scope = parse_once() if once else contextlib.nullcontext()
        start = time.perf_counter()
        with scope as cache:
            result = station_flux.image_flux(station, "ONCE-1", profile, capture_path)
        took = time.perf_counter() - start
        counts = (f"{cache.parses} parse(s), {cache.hits} reuse(s), {cache.decodes} track "
                  f"decodes") if cache is not None else "3 reads, 2 decodes of each track"
        return took, (result.job_dir / "image.img").read_bytes(), counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--revolutions", type=int, default=3)
    ap.add_argument("--format", choices=("scp", "kryoflux"), default="scp")
    args = ap.parse_args()
    fmt = FORMATS["ibm.1440"]
    image = random.Random(1440).randbytes(fmt.image_size())
    capture = encode_capture(image_tracks(image, fmt),
                             Timing(revolutions=args.revolutions, jitter_ns=40, drift=0.02),
                             seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("disk.scp" if args.format == "scp" else "kf")
        if args.format == "scp":
            write_scp(capture, path)
        else:
            write_kryoflux(capture, path)
        del capture
        plain, a, said_a = run(Path(tmp) / "plain", image, path, once=False)
        once, b, said_b = run(Path(tmp) / "once", image, path, once=True)
    print(f"bring in a {args.revolutions}-revolution 2HD {args.format} capture to a "
          "carrier imaged from a drive:")
    print(f"  as the station runs it: {plain:6.1f} s ({said_a})")
    print(f"  inside parse_once():    {once:6.1f} s ({said_b})")
    print(f"  saved {plain - once:.1f} s ({(plain - once) / plain:.0%}); same image: {a == b}")


if __name__ == "__main__":
    main()
