#!/usr/bin/env python3
"""A real block device with real I/O errors: a loop device over a FUSE file that fails.

    with faulty_device(image, bad=[(start, size)], delay=0.0) as dev:
        ... read dev (a /dev/loopN): reads touching a bad range get EIO from the kernel ...
        dev.stats()  -> {"reads": n, "failed": n, "bad_area_reads": n, ...}

The kernel's device-mapper `error` target does the same where the kernel has it; many
containers and CI kernels do not, while FUSE and loop devices are nearly always there.
The FUSE side speaks the kernel protocol on /dev/fuse directly (no libfuse, no Python
package), in a child process; files are opened with FOPEN_DIRECT_IO, so every read of
the loop device reaches this server: it counts them, which gives one neutral count of
failing reads for any tool (ours, GNU ddrescue).

Damage: `bad` ranges fail (EIO) on every read that touches them; `die_after` makes every
read fail from the n-th read on (a drive that stops answering half-way); `delay` seconds
are added to every failing read (a real USB floppy drive spends seconds on each), and
`good_delay` to every good one.

Needs root, /dev/fuse and loop devices. Run as a script it serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

FUSE_LOOKUP, FUSE_FORGET, FUSE_GETATTR, FUSE_OPEN, FUSE_READ = 1, 2, 3, 14, 15
FUSE_STATFS, FUSE_RELEASE, FUSE_FLUSH, FUSE_INIT = 17, 18, 25, 26
FUSE_OPENDIR, FUSE_READDIR, FUSE_RELEASEDIR, FUSE_ACCESS = 27, 28, 29, 34
FUSE_INTERRUPT, FUSE_DESTROY, FUSE_BATCH_FORGET = 36, 38, 42
FOPEN_DIRECT_IO = 1
IN_HEADER = struct.Struct("<IIQQIIII")  # len opcode unique nodeid uid gid pid padding
OUT_HEADER = struct.Struct("<IiQ")
DISK_INO, STATS_INO = 2, 3
NAMES = {b"disk": DISK_INO, b"stats": STATS_INO}


def _touches(pos: int, end: int, start: int, size: int) -> bool:
    return pos < start + size and start < end


class Server:
    def __init__(self, image: Path, bad: list[tuple[int, int]], die_after: int,
                 delay: float, good_delay: float) -> None:
        self.fd_image = os.open(image, os.O_RDONLY)
        self.size = os.fstat(self.fd_image).st_size
        self.bad, self.die_after = bad, die_after
        self.delay, self.good_delay = delay, good_delay
        self.counts = {"reads": 0, "failed": 0, "bad_area_reads": 0, "bytes_served": 0}
        self.failed_at: dict[int, int] = {}  # sector (512 B) -> failing reads there

    def attr(self, ino: int) -> bytes:
        if ino == 1:
            mode, size, nlink = 0o40755, 0, 2
        elif ino == DISK_INO:
            mode, size, nlink = 0o100444, self.size, 1
        else:
            mode, size, nlink = 0o100444, 1 << 20, 1
        now = int(time.time())
        return struct.pack("<QQQQQQIIIIIIIIII", ino, size, (size + 511) // 512, now, now,
                           now, 0, 0, 0, mode, nlink, 0, 0, 0, 4096, 0)

    def stats_bytes(self) -> bytes:
        hot = sorted(self.failed_at.items())
        return json.dumps({**self.counts, "failed_sectors": hot}).encode().ljust(1 << 20)

    def read_disk(self, pos: int, size: int) -> bytes | int:
        end = min(pos + size, self.size)
        self.counts["reads"] += 1
        dead = self.die_after >= 0 and self.counts["reads"] > self.die_after
        in_bad = any(_touches(pos, end, s, n) for s, n in self.bad)
        if dead or in_bad:
            self.counts["failed"] += 1
            self.counts["bad_area_reads"] += in_bad
            self.failed_at[pos // 512] = self.failed_at.get(pos // 512, 0) + 1
            if self.delay:
                time.sleep(self.delay)
            return -errno.EIO
        if self.good_delay:
            time.sleep(self.good_delay)
        data = os.pread(self.fd_image, max(0, end - pos), pos)
        self.counts["bytes_served"] += len(data)
        return data

    def serve(self, fuse_fd: int) -> None:
        while True:
            try:
                msg = os.read(fuse_fd, (1 << 20) + 8192)
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue
                return  # ENODEV: unmounted
            length, op, unique, node, *_ = IN_HEADER.unpack_from(msg)
            body = msg[IN_HEADER.size:length]
            reply = self.handle(op, node, body)
            if reply is None:
                continue
            if isinstance(reply, int):
                out = OUT_HEADER.pack(OUT_HEADER.size, reply, unique)
            else:
                out = OUT_HEADER.pack(OUT_HEADER.size + len(reply), 0, unique) + reply
            with contextlib.suppress(OSError):
                os.write(fuse_fd, out)
            if op == FUSE_DESTROY:
                return

    def handle(self, op: int, node: int, body: bytes) -> bytes | int | None:
        if op == FUSE_INIT:
            _major, minor, readahead, _flags = struct.unpack_from("<IIII", body)
            return struct.pack("<IIIIHHIIHHII", 7, min(minor, 31), readahead, 0, 16, 12,
                               128 * 1024, 1, 0, 0, 0, 0) + bytes(24)
        if op in (FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT):
            return None
        if op == FUSE_LOOKUP:
            ino = NAMES.get(body.rstrip(b"\0"))
            if node != 1 or ino is None:
                return -errno.ENOENT
            return struct.pack("<QQQQII", ino, 0, 0, 0, 0, 0) + self.attr(ino)
        if op == FUSE_GETATTR:
            return struct.pack("<QII", 0, 0, 0) + self.attr(node)
        if op in (FUSE_OPEN, FUSE_OPENDIR):
            return struct.pack("<QII", 0, FOPEN_DIRECT_IO if op == FUSE_OPEN else 0, 0)
        if op == FUSE_READ:
            _fh, pos, size = struct.unpack_from("<QQI", body)
            if node == STATS_INO:
                return self.stats_bytes()[pos:pos + size]
            return self.read_disk(pos, size)
        if op == FUSE_READDIR:
            return b""
        if op in (FUSE_RELEASE, FUSE_RELEASEDIR, FUSE_FLUSH, FUSE_DESTROY, FUSE_ACCESS):
            return b""
        if op == FUSE_STATFS:
            return struct.pack("<QQQQQIIII", 0, 0, 0, 0, 0, 512, 255, 512, 0) + bytes(24)
        return -errno.ENOSYS


def mount_fuse(mountpoint: Path) -> int:
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
    if libc.mount(b"faulty", str(mountpoint).encode(), b"fuse.faulty", 6, opts) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount fuse on {mountpoint}: {os.strerror(err)}")
    return fd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("image", type=Path)
    ap.add_argument("mountpoint", type=Path)
    ap.add_argument("--bad", default="[]", help="JSON list of [start, size] byte ranges")
    ap.add_argument("--die-after", type=int, default=-1)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--good-delay", type=float, default=0.0)
    args = ap.parse_args()
    server = Server(args.image, [tuple(r) for r in json.loads(args.bad)], args.die_after,
                    args.delay, args.good_delay)
    fd = mount_fuse(args.mountpoint)
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve(fd)


class FaultyDevice:
    """The loop device path plus the FUSE server's counters."""

    def __init__(self, path: str, mountpoint: Path) -> None:
        self.path, self.mountpoint = path, mountpoint

    def __str__(self) -> str:
        return self.path

    def __fspath__(self) -> str:
        return self.path

    def stats(self) -> dict:
        fd = os.open(self.mountpoint / "stats", os.O_RDONLY)
        try:
            return json.loads(os.pread(fd, 1 << 20, 0).rstrip(b" ").decode())
        finally:
            os.close(fd)


def can_build() -> str:
    """Why this machine cannot build a faulty device ('' when it can)."""
    if os.geteuid() != 0:
        return "needs root (FUSE mount and loop devices)"
    if not os.path.exists("/dev/fuse"):
        return "the kernel offers no /dev/fuse"
    if not os.path.exists("/dev/loop-control"):
        return "the kernel offers no loop devices (/dev/loop-control)"
    import shutil
    if shutil.which("losetup") is None:
        return "losetup (util-linux) is not installed"
    return ""


@contextlib.contextmanager
def faulty_device(image: Path, bad: list[tuple[int, int]] | None = None, die_after: int = -1,
                  delay: float = 0.0, good_delay: float = 0.0) -> Iterator[FaultyDevice]:
    """A /dev/loopN over image whose reads fail as told. Raises OSError when the machine
    cannot mount FUSE or attach a loop device."""
    mnt = Path(tempfile.mkdtemp(prefix="faulty-"))
    server = subprocess.Popen(
        [sys.executable, __file__, str(image), str(mnt), "--bad", json.dumps(bad or []),
         "--die-after", str(die_after), "--delay", str(delay), "--good-delay",
         str(good_delay)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    loop = ""
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            server.wait(10)
            raise OSError(errno.ENODEV, f"FUSE server: {server.stderr.read().strip()}")
        made = subprocess.run(["losetup", "-f", "--show", "-r", str(mnt / "disk")],
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise OSError(errno.ENODEV, f"losetup: {made.stderr.strip()}")
        loop = made.stdout.strip()
        yield FaultyDevice(loop, mnt)
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
            for _ in range(50):  # detaching is asynchronous: the file stays open a moment
                if loop not in subprocess.run(["losetup", "-j", str(mnt / "disk")],
                                              capture_output=True, text=True).stdout:
                    break
                time.sleep(0.05)
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()
        with contextlib.suppress(OSError):
            mnt.rmdir()


if __name__ == "__main__":
    main()
