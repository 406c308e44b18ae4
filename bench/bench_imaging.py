#!/usr/bin/env python3
"""Imaging throughput and rescue completeness against the field's tools, side by side.

    .venv/bin/python bench/bench_imaging.py [--size-mib 1024] [--runs 3] [--dir DIR]

Needs dc3dd, GNU ddrescue, coreutils (apt-get install dc3dd gddrescue). Every tool reads
the same source file (from the page cache after the first run: all alike) and writes its
image to DIR. Prints medians and ratios; absolute seconds on a shared machine are noise.

Part 2: on a damaged medium (GNU ddrescue's --test-mode map of bad blocks, our virtual
drive with the same bad ranges), both tools with the same retry count: bytes rescued.

Part 3 (root): a real block device with real I/O errors (a loop device over a FUSE file
that returns EIO, tests/faulty_device.py), each failing read taking --fail-delay seconds
as on a real drive: a dead 2HD floppy, a damaged one (scattered bad sectors) and one
whose first half is dead. GNU ddrescue (-d, direct reads like ours) and the workbench at
the same retry count: failing reads counted at the device, bytes rescued, seconds.
"""

from __future__ import annotations

import argparse
import json
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

from workbench.imaging.mapfile import RescueMap  # noqa: E402


def timed(cmd: str, cwd: Path, ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, shell=True, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode not in ok:
        sys.exit(f"{cmd} exited {done.returncode}: {done.stderr[-500:]}")
    return time.perf_counter() - start


def make_source(path: Path, size: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for i in range(size >> 20):
            fh.write(block[i % 7:] + block[: i % 7])  # no two MiB alike


def throughput(work: Path, size_mib: int, runs: int) -> None:
    src = work / "source.img"
    make_source(src, size_mib << 20)
    wb = f"{sys.executable} -m workbench"
    tools = {
        "workbench image (md5+sha256)":
            f"rm -rf job && {wb} image {src} --profile hdd --item BENCH --out job",
        "dc3dd hash=md5 hash=sha256":
            f"rm -f dc3dd.img && dc3dd if={src} of=dc3dd.img hash=md5 hash=sha256",
        "dd bs=1M; md5sum; sha256sum":
            f"rm -f dd.img && dd if={src} of=dd.img bs=1M && md5sum dd.img && sha256sum dd.img",
        "GNU ddrescue (no digests)":
            f"rm -f gnu.img gnu.map && ddrescue {src} gnu.img gnu.map",
        # the disk's floor for a durable copy: the workbench makes the image durable
        # before each map save (a crash must never leave a map claiming unwritten data)
        "dd conv=fdatasync (no digests)":
            f"rm -f dd.img && dd if={src} of=dd.img bs=1M conv=fdatasync status=none",
    }
    missing = [c.split()[0] for c in ("dc3dd", "ddrescue") if not shutil.which(c)]
    if missing:
        sys.exit(f"missing tools: {missing} (apt-get install dc3dd gddrescue)")
    times: dict[str, list[float]] = {name: [] for name in tools}
    env_wb = {"PYTHONPATH": str(ROOT)}
    os.environ.update(env_wb)
    timed(f"cat {src} > /dev/null", work)  # warm the cache for everyone
    for _ in range(runs):
        for name, cmd in tools.items():  # interleaved, so drift hits every tool alike
            times[name].append(timed(cmd, work))
            for leftover in ("dc3dd.img", "dd.img", "gnu.img", "gnu.map"):
                (work / leftover).unlink(missing_ok=True)
            shutil.rmtree(work / "job", ignore_errors=True)
    ours = statistics.median(times["workbench image (md5+sha256)"])
    print(f"\n== Imaging {size_mib} MiB, {runs} runs each, medians ==")
    print(f"{'tool':34} {'median s':>9} {'MiB/s':>8} {'workbench speed-up':>19}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:34} {med:9.2f} {size_mib / med:8.0f} {med / ours:18.2f}x")
    dc3dd = statistics.median(times["dc3dd hash=md5 hash=sha256"])
    dd = statistics.median(times["dd bs=1M; md5sum; sha256sum"])
    print(f"target >= 1.5x dc3dd: {dc3dd / ours:.2f}x  "
          f"{'MET' if dc3dd / ours >= 1.5 else 'NOT MET'}")
    floor = statistics.median(times["dd conv=fdatasync (no digests)"])
    print(f"durable write floor on this disk: {floor:.2f} s; the workbench takes "
          f"{ours / floor:.2f}x that (digests included)")
    print(f"target no slower than dd+md5sum+sha256sum: {dd / ours:.2f}x  "
          f"{'MET' if dd / ours >= 1.0 else 'NOT MET'}")
    src.unlink()


def completeness(work: Path, retries: int) -> None:
    size = 64 << 20
    src = work / "damaged-source.img"
    make_source(src, size)
    bad = [(0x10000, 0x200), (0x200000, 0x40000), (0x240000 + 0x1000, 0x400),
           (0x1000000 + 0x600, 0x9000), (size // 2, 0x200), (size - 0x1000, 0x1000)]
    bad += [(0x2000000 + i * 0x11000, 0x200) for i in range(40)]  # a scratched stretch
    test_map = RescueMap(size=size)
    test_map.mark(0, size, "+")
    drive = [f'image = "{src.name}"', 'model = "bench"']
    for pos, n in bad:
        test_map.mark(pos, n, "-")
        drive += ["[[bad]]", f"start = {pos}", f"size = {n}"]
    test_map.save(work / "test.map")
    (work / "damaged.drive.toml").write_text("\n".join(drive) + "\n")
    t_gnu = timed(f"ddrescue -r{retries} --test-mode=test.map {src} dgnu.img dgnu.map", work)
    t_wb = timed(f"{sys.executable} -m workbench image damaged.drive.toml --profile hdd "
                 f"--item DAMAGED --out djob --retries {retries}", work, ok=(3,))
    gnu = RescueMap.load(work / "dgnu.map").total("+")
    ours = RescueMap.load(work / "djob" / "image.map").total("+")
    readable = test_map.total("+")
    print(f"\n== Damaged 64 MiB medium, {len(bad)} bad ranges, -r{retries} ==")
    print(f"readable bytes      {readable:>12,}")
    print(f"GNU ddrescue        {gnu:>12,}  ({t_gnu:.2f} s)")
    print(f"workbench           {ours:>12,}  ({t_wb:.2f} s)")
    print(f"every byte GNU ddrescue rescued: {'MET' if ours >= gnu else 'NOT MET'}")


FD = 1474560
TRACK = 9216
FD_DAMAGE = {
    "dead 2HD floppy": [(0, FD)],
    "damaged 2HD floppy": [(0x1000, 0x200), (0x30000, 0x8000), (0x39000, 0x200),
                           (FD - 1024, 1024), (0x90000, 2 * TRACK), (0xC0000, 5 * 512),
                           (0x100000 + 77 * 512, 512), (0x120000, 3 * 512)],
    "2HD floppy, first half dead": [(0, FD // 2)],
}


def real_device(work: Path, retries: int, delay: float) -> None:
    from tests.faulty_device import can_build, faulty_device
    why = can_build()
    if why:
        print(f"\n== Real faulty block device: skipped ({why}) ==")
        return
    src = work / "floppy.img"
    make_source(src, 2 << 20)
    with open(src, "r+b") as fh:
        fh.truncate(FD)
    print(f"\n== Real block device with I/O errors (loop over FUSE), {delay * 1000:.0f} ms "
          f"per failing read, -r{retries} ==")
    print(f"{'medium':30} {'tool':14} {'failing reads':>13} {'rescued bytes':>14} "
          f"{'seconds':>8}")
    for name, bad in FD_DAMAGE.items():
        rows = {}
        for tool in ("GNU ddrescue", "workbench"):
            out = work / "rd"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            with faulty_device(src, bad=bad, delay=delay) as dev:
                if tool == "GNU ddrescue":
                    cmd = f"ddrescue -d -r{retries} {dev.path} gnu.img gnu.map"
                    seconds = timed(cmd, out)
                    rescued = RescueMap.load(out / "gnu.map").total("+")
                else:
                    cmd = (f"{sys.executable} -m workbench image {dev.path} --profile fd35-2hd "
                           f"--item RD --out job --retries {retries}")
                    seconds = timed(cmd, out, ok=(0, 3, 4))
                    rescued = RescueMap.load(out / "job" / "image.map").total("+")
                    reason = json.loads((out / "job" / "job.json").read_text())["reason"]
                failed = dev.stats()["failed"]
            rows[tool] = (failed, rescued, seconds)
            print(f"{name:30} {tool:14} {failed:13,} {rescued:14,} {seconds:8.2f}")
        (g_failed, g_rescued, g_s), (w_failed, w_rescued, w_s) = rows.values()
        code = (reason or {}).get("code", "-")
        if name.startswith("dead"):
            print(f"{'':30} recognised dead within 300 failing reads: "
                  f"{'MET' if w_failed <= 300 else 'NOT MET'} ({w_failed}, reason {code}); "
                  f"{g_s / w_s:.1f}x faster than GNU ddrescue")
        else:
            print(f"{'':30} every byte GNU ddrescue rescued: "
                  f"{'MET' if w_rescued >= g_rescued else 'NOT MET'}; failing reads "
                  f"{w_failed / g_failed:.3f}x GNU ddrescue's (target <= 1.10): "
                  f"{'MET' if w_failed <= 1.10 * g_failed else 'NOT MET'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--fail-delay", type=float, default=0.01,
                    help="seconds each failing read takes on the faulty device")
    ap.add_argument("--only", choices=("throughput", "completeness", "device"), default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        if args.only in (None, "throughput"):
            throughput(work, args.size_mib, args.runs)
        if args.only in (None, "completeness"):
            completeness(work, args.retries)
        if args.only in (None, "device"):
            real_device(work, args.retries, args.fail_delay)


if __name__ == "__main__":
    main()
