"""What the engine reads from: block devices, regular files and virtual drives.

Every source is opened O_RDONLY (block devices also O_EXCL, which fails while mounted);
nothing in the workbench ever opens a source for writing.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from workbench.errors import BadInput, Refused
from workbench.imaging.identity import block_facts
from workbench.imaging.pace import ALLOWED as RATE_ALLOWED
from workbench.imaging.pace import Pace, default_rate, parse_rate, training_speed
from workbench.schema import Field, check_table, load_toml

if TYPE_CHECKING:
    from workbench.optical.toc import Disc

BLKGETSIZE64 = 0x80081272
BLKSSZGET = 0x1268
_VANISHED_ERRNOS = {errno.ENODEV, errno.ENXIO, errno.ENOMEDIUM, errno.ESHUTDOWN}
DRIVE_SUFFIX = ".drive.toml"
SCSI_CDROM_MAJOR = 11  # /dev/sr*


class ReadError(Exception):
    """A read that the medium refused (bad sector). The engine records and moves on."""

    def __init__(self, pos: int, size: int, err: int = errno.EIO) -> None:
        super().__init__(f"read error at {pos:#x}+{size:#x}: {os.strerror(err)}")
        self.pos, self.size, self.errno = pos, size, err


class SourceGone(Exception):
    """The source cannot be read any more: unplugged, medium ejected, or no medium.
    reason is one of the outcome reasons: vanished, no_medium, permission."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class DriveIdentity:
    """Who did the reading: goes into the job record and the ledger."""

    path: str
    vendor: str = ""
    model: str = ""
    serial: str = ""
    transport: str = ""
    kind: str = "file"  # block | file | virtual
    firmware: str = ""
    write_blocker: str = ""  # the station's write blocker between drive and computer

    def describe(self) -> str:
        name = " ".join(p for p in (self.vendor, self.model) if p) or self.path
        facts = ", ".join(x for x in (self.serial and f"serial {self.serial}",
                                      self.firmware and f"firmware {self.firmware}") if x)
        text = f"{name} ({facts})" if facts else name
        return f"{text} behind write blocker {self.write_blocker}" if self.write_blocker \
            else text


def describe_drive(drive: dict[str, str]) -> str:
    """A job record's drive in words (bag-info, PREMIS): vendor and model, serial,
    firmware, and the write blocker it was read through."""
    return DriveIdentity(**{k: v for k, v in drive.items()
                            if k in DriveIdentity.__dataclass_fields__}).describe() \
        if drive.get("path") or drive.get("model") else "unknown"


class Source:
    """A readable medium of a fixed size, read in its logical sector size."""

    path: str
    size: int
    sector_size: int
    identity: DriveIdentity
    # an optical disc's table of contents, when the source is a disc (a drive that
    # answers for one, or a CUE sheet): read reads its data sectors, read_raw raw ones
    disc: Disc | None = None
    # the first LBA read_raw gives: 0 on a drive; a CUE/BIN image that holds track 1's
    # pregap gives the sectors before LBA 0 too
    first_readable = 0
    # how the block layer keeps it read-only while imaged (readonly.Protection.to_dict)
    protection: dict[str, Any] | None = None

    def __init__(self) -> None:
        self.read_calls = 0
        self.bytes_read = 0

    def read(self, pos: int, size: int) -> memoryview | bytes:
        raise NotImplementedError

    def read_raw(self, lba: int, count: int) -> bytes:
        """count raw 2,352-byte sectors from lba (audio, Mode 2): discs only."""
        raise ReadError(lba * 2048, count * 2048, errno.EINVAL)

    def read_raw_c2(self, lba: int, count: int) -> tuple[bytes, bytes | None]:
        """Raw sectors and the drive's C2 error pointers for them (294 bytes a sector,
        a bit set for each byte the drive could not correct), None where the drive
        gives none."""
        return self.read_raw(lba, count), None

    def slow_down(self) -> str:
        """Ask the drive to read more slowly (after read errors): the new speed in
        words, or "" when the drive cannot be asked (a file, a virtual drive)."""
        return ""

    def eject(self) -> bool:
        """Open the tray (a disc drive, when imaging is done): whether it did."""
        return False

    def heed(self, cancel: threading.Event | None) -> None:
        """The run's cancel event: a read that waits (a training drive at its rate)
        stops waiting when it is set. Real drives do not wait on us."""

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _gone_from(exc: OSError, path: str) -> SourceGone | None:
    if exc.errno == errno.ENOMEDIUM:
        return SourceGone("no_medium", str(exc))
    if exc.errno in (errno.EACCES, errno.EPERM):
        return SourceGone("permission", str(exc))
    if exc.errno in _VANISHED_ERRNOS or exc.errno == errno.ENOENT:
        return SourceGone("vanished", str(exc))
    return None


class DeviceSource(Source):
    """A block device or a regular file, read with pread (O_DIRECT where aligned)."""

    def __init__(self, path: str | os.PathLike, sector_size: int = 512,
                 direct: bool = True) -> None:
        super().__init__()
        self.path = str(path)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise BadInput("error.no_source", path=self.path) from None
        except PermissionError as exc:
            raise SourceGone("permission", str(exc)) from exc
        self.is_block = stat.S_ISBLK(st.st_mode)
        if not (self.is_block or stat.S_ISREG(st.st_mode)):
            raise BadInput("error.not_a_source", path=self.path)
        flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_EXCL if self.is_block else 0)
        try:
            self._fd = os.open(self.path, flags)
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                raise Refused("refuse.mounted", path=self.path) from exc
            gone = _gone_from(exc, self.path)
            if gone:
                raise gone from exc
            raise
        self._direct_fd = -1
        self.on_close: list[Callable[[], None]] = []  # what else to close with the device
        if self.is_block:
            self.size = struct.unpack("Q", fcntl.ioctl(self._fd, BLKGETSIZE64, b"\0" * 8))[0]
            self.sector_size = struct.unpack("i", fcntl.ioctl(self._fd, BLKSSZGET, b"\0" * 4))[0]
            if direct:
                try:  # a second descriptor: O_EXCL is held by the first
                    self._direct_fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECT)
                except OSError:
                    self._direct_fd = -1
        else:
            self.size = st.st_size
            self.sector_size = sector_size
        self.rdev = st.st_rdev if self.is_block else 0
        self.identity = DriveIdentity(path=self.path, kind="block", **block_facts(self.rdev)) \
            if self.is_block else DriveIdentity(path=self.path, kind="file")

    def fileno(self) -> int:
        """The read-only descriptor (ioctls such as BLKROSET: workbench/imaging/readonly)."""
        return self._fd

    def read(self, pos: int, size: int) -> memoryview | bytes:
        self.read_calls += 1
        try:
            if self._direct_fd >= 0 and pos % self.sector_size == 0 \
                    and size % self.sector_size == 0:
                buf = mmap.mmap(-1, size)  # page-aligned, fresh for every read
                got = os.preadv(self._direct_fd, [buf], pos)
                data: memoryview | bytes = memoryview(buf)[:got]
            else:
                data = os.pread(self._fd, size, pos)
        except OSError as exc:
            gone = _gone_from(exc, self.path)
            if gone is None and not os.path.exists(self.path):
                gone = SourceGone("vanished", str(exc))
            if gone:
                raise gone from exc
            raise ReadError(pos, size, exc.errno or errno.EIO) from exc
        if not data:
            if not os.path.exists(self.path):
                raise SourceGone("vanished", self.path)
            raise ReadError(pos, size)
        self.bytes_read += len(data)
        return data

    #: reads raw disc sectors (an optical drive whose TOC was read: optical.discs)
    raw_reader: Callable[[int, int], bytes] | None = None
    #: lowers an optical drive's read speed, opens its tray (optical.discs.DriveControl)
    control: Any = None
    #: raw sectors with C2 error pointers, where the drive gives them
    raw_c2_reader: Callable[[int, int], tuple[bytes, bytes | None]] | None = None

    def read_raw_c2(self, lba: int, count: int) -> tuple[bytes, bytes | None]:
        if self.raw_c2_reader is None:
            return super().read_raw_c2(lba, count)
        self.read_calls += 1
        data, c2 = self.raw_c2_reader(lba, count)
        self.bytes_read += len(data)
        return data, c2

    def slow_down(self) -> str:
        return self.control.slow_down() if self.control is not None else ""

    def eject(self) -> bool:
        return self.control.eject() if self.control is not None else False

    def read_raw(self, lba: int, count: int) -> bytes:
        if self.raw_reader is None:
            return super().read_raw(lba, count)
        self.read_calls += 1
        data = self.raw_reader(lba, count)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        for fd in (self._direct_fd, self._fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._direct_fd = -1
        while self.on_close:
            self.on_close.pop()()


# -- virtual drives ----------------------------------------------------------------------

def _span(extra: dict[str, Field] | None = None) -> dict[str, Field]:
    """The spec of one bad, flaky or slow span table."""
    spec = {"start": Field(int, required=True, check=lambda v: None if v >= 0 else ">= 0"),
            "size": Field(int, required=True, check=lambda v: None if v > 0 else "> 0")}
    return {**spec, **(extra or {})}


DRIVE_SPEC = {
    "image": Field(str, required=True, allowed="the image file, relative to this file"),
    "model": Field(str, default="Virtual drive"),
    "vendor": Field(str, default="Workbench"),
    "serial": Field(str, default=""),
    "transport": Field(str, default="virtual"),
    "sector_size": Field(int, default=512, check=lambda v: None
                         if v in (512, 1024, 2048, 4096) else "512, 1024, 2048 or 4096"),
    "size": Field(int, default=0, check=lambda v: None if v >= 0 else ">= 0 (0: the image's)"),
    "vanish_at": Field(int, default=-1),
    "profile": Field(str, default="", allowed="the media profile the carrier's label names"),
    "label": Field(dict, table={"en": Field(str, default=""), "ja": Field(str, default="")}),
    "bad": Field(list, default=[]),
    "flaky": Field(list, default=[]),
    "slow": Field(list, default=[]),
    # read rate: bytes per second or "27 KB/s", "24x" (workbench/imaging/pace.py);
    # unset: the usual rate for the profile
    "rate": Field((int, float, str), default=None, allowed=RATE_ALLOWED),
}
_SPAN_SPECS = {
    "bad": _span(),
    "flaky": _span({"fails": Field(int, default=1,
                                   check=lambda v: None if v >= 1 else "1 or more")}),
    "slow": _span({"seconds": Field((int, float), default=0.05,
                                    check=lambda v: None if 0 <= v <= 60 else "0 to 60")}),
}


@dataclass
class Damage:
    """Fault injection for a virtual drive. Ranges are in bytes."""

    bad: list[tuple[int, int]] = field(default_factory=list)
    #: (start, size, reads that fail before the range reads well)
    flaky: list[tuple[int, int, int]] = field(default_factory=list)
    #: (start, size, seconds added to each read that touches the range)
    slow: list[tuple[int, int, float]] = field(default_factory=list)
    #: reading at or past this offset makes the drive vanish (-1: never)
    vanish_at: int = -1


def _touches(pos: int, end: int, start: int, size: int) -> bool:
    return pos < start + size and start < end


class VirtualDrive(Source):
    """An image file that behaves as a drive, with optional damage: for training,
    demos and tests. A size smaller than the image emulates a truncating drive."""

    def __init__(self, image: str | os.PathLike, damage: Damage | None = None,
                 sector_size: int = 512, size: int = 0, identity: DriveIdentity | None = None,
                 labels: dict[str, str] | None = None, profile_hint: str = "",
                 rate: float = 0) -> None:
        super().__init__()
        self._inner: Source = open_image(image, sector_size)
        self.disc = self._inner.disc
        self.first_readable = self._inner.first_readable
        # the drive the technician named (its descriptor), so a retry reads the same drive
        self.path = identity.path if identity is not None and identity.path else str(image)
        self.sector_size = sector_size
        self.size = min(size, self._inner.size) if size else self._inner.size
        self.damage = damage or Damage()
        self.identity = identity or DriveIdentity(path=self.path, model="Virtual drive",
                                                  kind="virtual", transport="virtual")
        self.labels = labels or {}
        self.profile_hint = profile_hint
        self._flaky_failures = [0] * len(self.damage.flaky)
        self._vanished = False
        self._lock = threading.Lock()  # the damage's state; never held while waiting
        self.rate = rate  # bytes a second, as the drive file says (0: full speed)
        self.pace = Pace(rate)  # this drive's own clock
        self._cancel = threading.Event()  # the run's, once heed() is told it

    def heed(self, cancel: threading.Event | None) -> None:
        self._cancel = cancel or threading.Event()

    def _meet_damage(self, pos: int, end: int, where: str) -> None:
        """What the damage does to a read of [pos, end): vanish, wait, or fail. Every
        read takes the drive's time for its bytes, a failing one too."""
        with self._lock:
            self.read_calls += 1
            if self.damage.vanish_at >= 0 and end > self.damage.vanish_at:
                self._vanished = True
            if self._vanished:
                raise SourceGone("vanished", f"{self.path} vanished at {where}")
            delay = sum(s for start, length, s in self.damage.slow
                        if _touches(pos, end, start, length))
            failing = any(_touches(pos, end, start, length)
                          for start, length in self.damage.bad)
            for i, (start, length, fails) in enumerate(self.damage.flaky):
                if _touches(pos, end, start, length) and self._flaky_failures[i] < fails:
                    self._flaky_failures[i] += 1
                    failing = True
        # waits happen outside the lock: another thread reading this drive is not held
        if delay and not self._cancel.is_set():
            self._cancel.wait(delay)
        self.pace.take(end - pos, self._cancel)
        if failing:
            raise ReadError(pos, end - pos)

    def read(self, pos: int, size: int) -> memoryview | bytes:
        end = min(pos + size, self.size)
        self._meet_damage(pos, end, f"{pos:#x}")
        data = self._inner.read(pos, end - pos)
        self.bytes_read += len(data)
        return data

    def read_raw(self, lba: int, count: int) -> bytes:
        """Raw sectors of a disc drive; its damage spans count in 2,048-byte sectors
        (pos = LBA x 2048), for data and raw reads alike, and so does its rate."""
        self._meet_damage(lba * 2048, (lba + count) * 2048, f"LBA {lba}")
        data = self._inner.read_raw(lba, count)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._inner.close()

    @classmethod
    def from_file(cls, path: Path) -> VirtualDrive:
        data = check_table(load_toml(path), DRIVE_SPEC, path)
        spans: dict[str, list[dict[str, Any]]] = {}
        for kind in ("bad", "flaky", "slow"):
            spans[kind] = []
            for n, item in enumerate(data[kind]):
                if not isinstance(item, dict):
                    raise BadInput("error.bad_value", file=str(path), key=f"{kind}[{n}]",
                                   value=repr(item), allowed="a table with start and size")
                spans[kind].append(check_table(item, _SPAN_SPECS[kind], path, f"{kind}[{n}]."))
        damage = Damage(
            bad=[(s["start"], s["size"]) for s in spans["bad"]],
            flaky=[(s["start"], s["size"], s["fails"]) for s in spans["flaky"]],
            slow=[(s["start"], s["size"], float(s["seconds"])) for s in spans["slow"]],
            vanish_at=data["vanish_at"],
        )
        image = (path.parent / data["image"]).resolve()
        identity = DriveIdentity(path=str(path), vendor=data["vendor"], model=data["model"],
                                 serial=data["serial"], transport=data["transport"],
                                 kind="virtual")
        labels = {k: v for k, v in data["label"].items() if v}
        rate = default_rate(data["profile"], data["transport"]) if data["rate"] is None \
            else parse_rate(data["rate"], data["profile"], path)
        drive = cls(image, damage, data["sector_size"], data["size"], identity, labels,
                    data["profile"], rate)
        if training_speed() == "fast":  # tests and scripts: the rate is kept, not waited
            drive.pace = Pace(0)
        return drive


def open_image(path: str | os.PathLike, sector_size: int = 512) -> Source:
    """An image file: a CUE sheet (a disc with its TOC) or a flat image."""
    if str(path).lower().endswith(".cue"):
        from workbench.optical.discs import CueSource
        return CueSource(Path(path))
    return DeviceSource(path, sector_size=sector_size, direct=False)


def open_source(path: str | os.PathLike, sector_size: int = 512, direct: bool = True) -> Source:
    """Open a block device, a regular file, a CUE sheet (a disc image with its TOC), or
    a virtual drive (*.drive.toml). An optical drive's TOC is read when it has one."""
    if str(path).endswith(DRIVE_SUFFIX):
        return VirtualDrive.from_file(Path(path))
    if str(path).lower().endswith(".cue"):
        return open_image(path, sector_size)
    source = DeviceSource(path, sector_size=sector_size, direct=direct)
    if source.is_block and os.major(source.rdev) == SCSI_CDROM_MAJOR:
        from workbench.optical.discs import attach_drive_toc
        attach_drive_toc(source)
    return source
