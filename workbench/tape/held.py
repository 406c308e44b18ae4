"""A tape's mount folder held open while a copy is written to it.

Every file of the copy is made relative to the held folder (by descriptor, never by
path): when the tape goes mid-write (unmounted, lazily unmounted, pulled, its LTFS
process gone, or a stand-in folder moved away), the rest of the copy can never land in
the bare mount point on the station's own disk, and a folder is never made anew at the
mount's path. `there()` says whether the path still names the same folder with the same
tape's label in it; the writer asks it between files and every few blocks, and before
the copy is renamed into place or recorded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from workbench.errors import Aborted, Refused
from workbench.tape.tapes import LABEL, Tape, ltfs_space

SYNC = ("user.ltfs.sync", "ltfs.sync")  # LTFS's virtual xattr: write the index to tape now


class TapeGone(Exception):
    """The tape is no longer mounted where it was found."""


class HeldMount:
    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        try:
            self.fd = os.open(tape.mount, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise self.gone(None) from exc
        st = os.fstat(self.fd)
        self.identity = (st.st_dev, st.st_ino)

    def there(self) -> bool:
        """The mount path still leads to the folder held, with the tape's label in it.
        Metadata only (stat): on LTFS that is answered from the index in memory, while
        reading the label's bytes would send the drive back along the tape mid-write.
        (The label was read when the tape was found, just before the write.)"""
        try:
            st = os.stat(self.tape.mount)
            os.stat(LABEL, dir_fd=self.fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.identity

    def check(self) -> None:
        if not self.there():
            raise TapeGone(self.tape.barcode)

    def gone(self, bag: str | None, dead: bool = False) -> Aborted:
        """A write cut short by the tape going (exit 5, run it again): nothing about the
        copy was recorded. A dead LTFS mount says how to bring the tape back (dead: the
        write's own error said so; the mount's stat may still answer from FUSE's cache)."""
        key = "stagefix.tape_dead_write" if dead or mount_dead(self.tape.mount) \
            else "tapefix.tape_gone_write"
        return Aborted(key, barcode=self.tape.barcode, mount=str(self.tape.mount),
                       bag=bag or "-")

    # -- making and removing the copy's files by descriptor ------------------------------

    def mkdir(self, name: str) -> int:
        """Make a folder in the held folder; its descriptor (the caller closes it)."""
        os.mkdir(name, dir_fd=self.fd)
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=self.fd)

    def create(self, name: str, dir_fd: int | None = None) -> int:
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666,
                       dir_fd=self.fd if dir_fd is None else dir_fd)

    def rename(self, old: str, new: str) -> None:
        os.rename(old, new, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def remove(self, name: str) -> None:
        """Remove a file or a folder of the held folder, wherever the tape went (its
        space is given back on the tape; a tape that cannot answer keeps it, and the
        next write removes it)."""
        with contextlib.suppress(OSError):
            info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(name, dir_fd=self.fd)
            else:
                os.unlink(name, dir_fd=self.fd)

    def sync_index(self) -> bool:
        """On LTFS, write the index to the tape now (the mount's virtual extended
        attribute ltfs.sync): the stations mount with sync_type=unmount, so without it
        a copy lives only in the ltfs process's memory until the unmount, and an ltfs
        process that dies (killed, crashed, power) takes every copy written since the
        mount with it, copies already recorded verified included (seen with LTFS
        2.4.8.4: after kill -9 and ltfsck, the cartridge held nothing written since
        mkltfs). False on a folder standing in for a tape (nothing to sync)."""
        if ltfs_space(self.tape.mount, "Data") is None:
            return False
        for name in SYNC[:-1]:
            with contextlib.suppress(OSError):
                os.setxattr(self.fd, name, b"1")
                return True
        os.setxattr(self.fd, SYNC[-1], b"1")  # its error is the one said
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


DEAD = (errno.ENOTCONN, errno.ECONNABORTED)  # FUSE: the ltfs process behind the mount ended


def mount_dead(mount: Path) -> bool:
    """The mount point answers "Transport endpoint is not connected": a FUSE mount whose
    LTFS process ended (killed, crashed). Its tape is neither full nor failing; it needs
    `fusermount -u`, then `ltfsck`, then a new mount."""
    try:
        os.stat(mount)
        # stat may come from FUSE's attribute cache for a second after the process
        # ended; opening the folder always asks the process (no tape movement)
        os.close(os.open(mount, os.O_RDONLY | os.O_DIRECTORY))
    except OSError as exc:
        return exc.errno in DEAD
    return False


def is_dead(exc: BaseException | None) -> bool:
    """The error (or one it was raised from or during) is a FUSE mount's "Transport
    endpoint is not connected": the LTFS process behind the tape ended. That alone
    decides it: for about a second after the process ends the kernel still answers
    stat() of the mount and its label from FUSE's attribute cache, so `there()` and
    `still_mounted()` say the tape is fine while every read and write fails."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DEAD:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def tape_gone(tape: Tape, dead: bool = False) -> Refused:
    """A tape found at the start of a run that is no longer there (unmounted, pulled) or
    whose mount died: nothing about its copies is recorded (that says nothing of them)."""
    if dead or mount_dead(tape.mount):
        return Refused("stagefix.tape_dead", barcode=tape.barcode, mount=str(tape.mount))
    return Refused("lto.vanished", barcode=tape.barcode, mount=str(tape.mount))


def makedirs(dir_fd: int, rel: Path) -> None:
    """The folders of rel under dir_fd (by descriptor)."""
    for depth in range(1, len(rel.parts) + 1):
        with contextlib.suppress(FileExistsError):
            os.mkdir(os.path.join(*rel.parts[:depth]), dir_fd=dir_fd)
