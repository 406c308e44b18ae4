"""Decoding speed of a whole flux capture, against the time the capture itself takes.

Builds (in memory, with the synthetic encoder) a 3-revolution capture of an 80-cylinder,
two-sided 2HD disk (1.44 MB, 40 ns jitter, 2 % drift, one weak sector that reads on one
revolution of three), decodes it, and prints the time, the rate, the ratio to the ~60 s a
300 rpm drive needs to capture it, and the sectors recovered with every revolution against
the first one only. When Greaseweazle's host tools are on PATH (`gw`, or --gw PATH), the
same capture is written as an SCP file and `gw convert x.scp x.img --format ibm.1440` is
timed side by side (the field's decoder), with its sectors compared to ours. Prints;
asserts nothing.

    python bench/bench_flux.py [--revolutions 3] [--jitter-ns 40] [--gw PATH]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.flux.decode import decode_capture  # noqa: E402
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks, with_fault  # noqa: E402
from workbench.flux.model import FluxCapture  # noqa: E402


def first_revolution(capture: FluxCapture) -> FluxCapture:
    tracks = {k: replace(t, revolutions=t.revolutions[:1]) for k, t in capture.tracks.items()}
    return FluxCapture(tracks, capture.source_format)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--revolutions", type=int, default=3)
    ap.add_argument("--jitter-ns", type=float, default=40.0)
    ap.add_argument("--gw", help="Greaseweazle's gw (default: gw on PATH, if any)")
    args = ap.parse_args()
    fmt = FORMATS["ibm.1440"]
    image = random.Random(1440).randbytes(fmt.image_size())
    specs = with_fault(image_tracks(image, fmt), 40, 1, 7,
                       weak=tuple(range(1, args.revolutions)))  # good on the first only
    specs = with_fault(specs, 62, 0, 3, weak=(0,))  # bad on the first only
    timing = Timing(revolutions=args.revolutions, jitter_ns=args.jitter_ns, drift=0.02,
                    speed=1.01, index_jitter_us=2.0)
    start = time.perf_counter()
    capture = encode_capture(specs, timing, seed=1)
    built = time.perf_counter() - start
    transitions = sum(r.intervals.size for t in capture.tracks.values() for r in t.revolutions)
    flux_mb = transitions * 2 / 1e6  # as 16-bit SCP samples

    start = time.perf_counter()
    tracks = decode_capture(capture)
    secs = time.perf_counter() - start
    one = decode_capture(first_revolution(capture))

    size = 512
    expected = {(c, h, r): image[((c * 2 + h) * 18 + r - 1) * size:][:size]
                for c in range(80) for h in range(2) for r in range(1, 19)}

    def recovered(decoded: list) -> tuple[int, int]:
        good = exact = 0
        for t in decoded:
            for s in t.sectors:
                if s.data is not None:
                    good += 1
                    exact += s.data == expected.get((s.id.c, s.id.h, s.id.r))
        return good, exact

    capture_s = args.revolutions * 160 * 0.2 + 160 * 0.006  # turns plus head steps
    all_good, all_exact = recovered(tracks)
    one_good, _ = recovered(one)
    print(f"capture built in {built:.1f} s: 160 tracks x {args.revolutions} revolutions, "
          f"{transitions / 1e6:.1f} M transitions ({flux_mb:.0f} MB as SCP samples)")
    print(f"decode: {secs:.1f} s, {flux_mb / secs:.1f} MB/s of flux, "
          f"{transitions / secs / 1e6:.2f} M transitions/s")
    print(f"the drive's capture takes ~{capture_s:.0f} s: decoding is {secs / capture_s:.2f} "
          f"of it ({capture_s / secs:.1f}x faster than the drive)")
    print(f"sectors recovered: {all_good}/{len(expected)} with all revolutions "
          f"({all_exact} bit-exact), {one_good}/{len(expected)} with the first only")
    gw = args.gw or shutil.which("gw")
    if gw:
        side_by_side(gw, capture, image, secs)
    else:
        print("Greaseweazle's gw not found (--gw PATH): no side-by-side decode")


def side_by_side(gw: str, capture: FluxCapture, image: bytes, ours: float) -> None:
    """The same capture through Greaseweazle's own decoder, timed."""
    from workbench.flux.scp import write_scp
    with tempfile.TemporaryDirectory() as tmp:
        scp, img = Path(tmp) / "disk.scp", Path(tmp) / "disk.img"
        write_scp(capture, scp)
        start = time.perf_counter()
        done = subprocess.run([gw, "convert", "--format", "ibm.1440", str(scp), str(img)],
                              capture_output=True, text=True, timeout=1800)
        theirs = time.perf_counter() - start
        if done.returncode != 0 or not img.exists():
            print(f"gw convert failed ({done.returncode}): {done.stderr.strip()[-300:]}")
            return
        got = img.read_bytes()
    same = sum(got[i:i + 512] == image[i:i + 512] for i in range(0, len(image), 512))
    print(f"gw convert (Greaseweazle's decoder) on the same capture: {theirs:.1f} s, "
          f"{same}/{len(image) // 512} sectors equal to the source; ours is "
          f"{theirs / ours:.1f}x faster")


if __name__ == "__main__":
    main()
