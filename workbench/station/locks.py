"""One worker per item (and one tape writer per station).

A lock is an flock on a small file (under paths.logs/locks; a device's drive lock under
one folder per machine, /run/lock/workbench) that names its holder:
station, process, host, since. The kernel drops an flock when its process dies, so a
lock left by a crashed process is simply free: the next process takes it over and
rewrites the holder. flock is taken per open file, so two threads of one process (the UI
and its workers) also exclude each other. Locks are local to one machine: stations that
share a ledger on a server coordinate through it (issue 15), not through these files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.atomic import flock_within
from workbench.errors import Refused
from workbench.imaging.record import utc_now


@dataclass(frozen=True)
class Holder:
    station: str
    pid: int
    host: str
    since: str
    action: str
    item: str = ""  # the carrier a drive's holder images

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["station"]), int(data["pid"]), str(data["host"]),
                       str(data["since"]), str(data.get("action", "")),
                       str(data.get("item", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None


class Lock:
    """An exclusive, non-blocking lock named by a file; released on close or death."""

    def __init__(self, path: Path, station: str, action: str, refusal: str,
                 holder_item: str = "", **params: object) -> None:
        self.path, self.station, self.action = path, station, action
        self.holder_item = holder_item
        self.refusal, self.params = refusal, params
        self.fd: int | None = None

    def acquire(self, wait: float = 0.0) -> Lock:
        """Take the lock, waiting at most `wait` seconds; Refused names the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if self.path.parent == machine_locks():
            with contextlib.suppress(OSError):  # another user's file: theirs to keep
                os.fchmod(fd, 0o666)  # any user's station may take a drive's lock next
        if not flock_within(fd, wait):
            os.close(fd)
            holder = Holder.read(self.path)
            raise Refused(self.refusal, **self.params,
                          station=holder.station if holder else "?",
                          pid=holder.pid if holder else "?",
                          host=holder.host if holder else "?",
                          since=holder.since if holder else "?",
                          action=holder.action if holder else "?",
                          holder_item=holder.item if holder and holder.item else "?")
        mine = {"station": self.station, "pid": os.getpid(), "host": socket.gethostname(),
                "since": utc_now(), "action": self.action, "item": self.holder_item}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(mine).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            # the file stays: removing it would let a waiter lock an unlinked inode
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Lock:
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def item_lock(locks: Path, item_id: str, station: str, action: str) -> Lock:
    return Lock(locks / f"{item_id}.lock", station, action, "station.item_locked", item=item_id)


def folder_lock(out_dir: Path, station: str) -> Lock:
    """A job folder outside the station (`image --out DIR`): one process at a time."""
    return Lock(out_dir.parent / f".{out_dir.name}.workbench-lock", station, "image",
                "station.folder_locked", folder=str(out_dir))


def drive_key(drive: str | Path) -> str:
    """One name per drive: /dev/cdrom and /dev/sr0, or a relative and an absolute path
    to a training drive file, are the same drive."""
    return str(Path(drive).resolve())


# A real drive is one per machine, whatever station folder a process runs from; a
# training drive (a file in media/) is virtual, so two trainees may share one.
MACHINE_LOCKS_ENV = "WORKBENCH_MACHINE_LOCKS"
MACHINE_LOCKS = Path("/run/lock/workbench")


def _is_device(drive: str | Path) -> bool:
    try:
        mode = os.stat(drive).st_mode
    except OSError:
        return False
    return stat.S_ISBLK(mode) or stat.S_ISCHR(mode)


def machine_locks() -> Path:
    """Where locks on device nodes live: one folder per machine, open to every user (the
    sticky bit keeps one user from removing another's lock file)."""
    folder = Path(os.environ.get(MACHINE_LOCKS_ENV) or MACHINE_LOCKS)
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            folder.chmod(0o1777)
    return folder


def _drive_file(locks: Path, drive: str | Path) -> Path:
    from workbench.station.flux_device import DEFAULT_PATH  # gw's own choice: a device too
    where = machine_locks() if _is_device(drive) or str(drive) == DEFAULT_PATH else locks
    # '+' never occurs in an item ID: no item's lock can be this one
    return where / f"drive+{hashlib.sha1(os.fsencode(drive_key(drive))).hexdigest()[:16]}.lock"


def drive_lock(locks: Path, drive: str | Path, station: str, item_id: str) -> Lock:
    """Held for the whole imaging of a carrier: one reader per drive, whichever process
    (board, queue, migrate, autoload) or thread asks. Take it with a short wait, so that
    a drive_holder() look from another process is never taken for a holder."""
    return Lock(_drive_file(locks, drive), station, "image", "station.drive_locked",
                holder_item=item_id, drive=str(drive), item=item_id)


def autoload_file(locks: Path, drive: str | Path) -> Path:
    """The lock an unattended batch holds on its drive from start to end."""
    # '+' never occurs in an item ID: no item's lock can be this one
    return locks / f"autoload+{hashlib.sha1(os.fsencode(drive_key(drive))).hexdigest()[:16]}.lock"


def refuse_while_autoloading(locks: Path, drive: str | Path, item_id: str) -> None:
    """A drive an autoloader feeds is the batch's from load to unload: between two of
    its discs the drive lock is free, and another process would image the robot's disc
    under another item ID. Refused (exit 6) naming the batch's holder; the batch's own
    process (its station images the discs) goes on."""
    holder = _holder_of(autoload_file(locks, drive))
    if holder is not None and holder.pid != os.getpid():
        raise Refused("lead.drive_autoloading", drive=str(drive), item=item_id,
                      station=holder.station, pid=holder.pid, host=holder.host)


def drive_holder(locks: Path, drive: str | Path) -> Holder | None:
    """Who images on drive now (None: no one). A look, not a take: the holder file is
    never written, and a shared flock for an instant only."""
    return _holder_of(_drive_file(locks, drive))


def _holder_of(path: Path) -> Holder | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # never locked on this station
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return Holder.read(path) or Holder("?", 0, "?", "?", "image")
    finally:
        os.close(fd)
    return None


def tape_lock(locks: Path, station: str, action: str = "tape") -> Lock:
    # '+' never occurs in an item ID: no item's lock can be this one. The holder's action
    # (its command: tape write, tape verify, retrieve) is what a refused user is told
    return Lock(locks / "tape+writer.lock", station, action, "stagefix.tape_busy")


@contextlib.contextmanager
def held(lock: Lock, wait: float = 0.0) -> Iterator[Lock]:
    lock.acquire(wait)
    try:
        yield lock
    finally:
        lock.release()
