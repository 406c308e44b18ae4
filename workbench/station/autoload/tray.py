"""The drive side of an unattended batch: is a medium in the drive, and open its tray.

A device is never opened for writing: the presence check and the eject use a read-only,
non-blocking descriptor (O_NONBLOCK: a CD drive opens without a disc), as eject(1)
does. A training drive (*.drive.toml) has a simulated tray.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Protocol

from workbench.errors import BadInput, WorkbenchError
from workbench.imaging.sources import BLKGETSIZE64, DRIVE_SUFFIX
from workbench.schema import load_toml

CDROMEJECT = 0x5309
CDROM_DRIVE_STATUS = 0x5326
CDSL_CURRENT = 0x7FFFFFFF  # the disc in the drive now (not a changer slot)
CDS_DISC_OK = 4
EJECT_SECONDS = 60.0


class Tray(Protocol):
    path: str

    def medium_present(self) -> bool: ...

    def eject(self) -> bool: ...


class BlockTray:
    """A block device: an optical drive answers CDROM_DRIVE_STATUS; any other removable
    drive has a medium when it reports a size."""

    def __init__(self, path: str) -> None:
        self.path = path

    def medium_present(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False  # no medium (ENOMEDIUM), gone, or not ours to read
        try:
            try:
                return bool(fcntl.ioctl(fd, CDROM_DRIVE_STATUS, CDSL_CURRENT) == CDS_DISC_OK)
            except OSError as exc:
                if exc.errno not in (errno.ENOTTY, errno.EINVAL):
                    return False
            size = struct.unpack("Q", fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8))[0]
            return bool(size > 0)
        except OSError:
            return False
        finally:
            os.close(fd)

    def eject(self) -> bool:
        """The CDROMEJECT ioctl (an optical drive), else eject(1) when installed (it
        knows SCSI drives: USB floppy, MO), told not to unmount anything (-m); whether
        the tray opened."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.ioctl(fd, CDROMEJECT)
            return True
        except OSError:
            pass
        finally:
            os.close(fd)
        tool = shutil.which("eject")
        if tool is None:
            return False
        try:
            return subprocess.run([tool, "-m", self.path], capture_output=True,
                                  timeout=EJECT_SECONDS).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


class VirtualTray:
    """A training drive file: a medium is in it when the file and its image are there.
    An eject is simulated: the tray stays open until another disc is put in (the file
    is written again)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._ejected: tuple[int, int, int] | None = None

    def _stamp(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return st.st_ino, st.st_mtime_ns, st.st_size

    def medium_present(self) -> bool:
        try:
            stamp = self._stamp()
            if stamp == self._ejected:
                return False
            image = load_toml(Path(self.path)).get("image", "")
        except (OSError, WorkbenchError):
            return False
        self._ejected = None
        return isinstance(image, str) and bool(image) and \
            (Path(self.path).parent / image).is_file()

    def eject(self) -> bool:
        try:
            self._ejected = self._stamp()
        except OSError:
            self._ejected = None
        return True


def tray_for(path: str) -> Tray:
    if path.endswith(DRIVE_SUFFIX):
        return VirtualTray(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BadInput("error.no_source", path=path) from None
    if not stat.S_ISBLK(mode):
        raise BadInput("autoload.not_a_drive", drive=path)
    return BlockTray(path)


def wait_for_medium(tray: Tray, seconds: float, cancel: threading.Event,
                    poll: float = 0.5) -> bool:
    """Whether a medium is in the drive within `seconds` (a drive takes a few seconds
    to spin a disc up after its tray closes). Returns early on cancel (False)."""
    deadline = time.monotonic() + seconds
    while True:
        if tray.medium_present():
            return True
        left = deadline - time.monotonic()
        if left <= 0 or cancel.is_set():
            return False
        cancel.wait(min(poll, left))
