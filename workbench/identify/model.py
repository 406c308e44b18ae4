"""What the readers produce: volumes and file entries, plus safe display names."""

from __future__ import annotations

import io
import os
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class Image:
    """Read-only positioned access to an image file (shared by every reader)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        self.size = os.fstat(self.fd).st_size

    def read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self.size:
            return b""
        return os.pread(self.fd, min(size, self.size - offset), offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# An extent starting here is that many bytes of zeros, not image bytes: a sparse hole, or
# the bytes of an NTFS file past its initialised size (which Windows reads as zeros).
ZERO = -1


def zero_extent(extent: tuple[int, int]) -> bool:
    return extent[0] == ZERO


class ExtentFile(io.RawIOBase):
    """A seekable file object over byte ranges of an image: a volume (one range) for
    readers that want a file, or a file's extents for container signatures. An extent
    starting at ZERO reads as zeros."""

    def __init__(self, fd: int, extents: list[tuple[int, int]] | tuple[tuple[int, int], ...],
                 owns_fd: bool = False) -> None:
        super().__init__()
        self.fd, self.extents, self.owns_fd = fd, tuple(extents), owns_fd
        self.length = sum(n for _, n in self.extents)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = max(0, {0: 0, 1: self.pos, 2: self.length}[whence] + pos)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def close(self) -> None:
        """Closes the descriptor too when it was handed over (owns_fd), once."""
        closing = self.owns_fd and not self.closed
        super().close()
        if closing:
            os.close(self.fd)

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        want, done, base = min(len(view), self.length - self.pos), 0, 0
        for start, n in self.extents:
            if want <= 0:
                break
            if self.pos < base + n:
                skip = self.pos - base
                take = min(n - skip, want)
                chunk = bytes(take) if start == ZERO else os.pread(self.fd, take, start + skip)
                view[done:done + len(chunk)] = chunk
                done, want, self.pos = done + len(chunk), want - len(chunk), self.pos + len(chunk)
                if len(chunk) < take:
                    break
            base += n
        return done


@dataclass
class Volume:
    index: int
    offset: int
    size: int
    scheme: str  # none | mbr | gpt | apm | pc98 | x68k | hybrid | eltorito | fm-towns
    partition_type: str = ""
    fs_type: str = ""  # fat12 | fat16 | fat32 | exfat | ntfs | iso9660 | udf | hfs | hfsplus | ext
    label: str = ""  # the file system's label, as blkid's LABEL
    # the partition's own name (GPT, APM, PC-98): blkid's PART_ENTRY_NAME / PARTLABEL
    partition_label: str = ""
    label_checked: bool = False  # label was read the blkid way (then it wins, even if "")
    blkid_type: str = ""  # the TYPE blkid reports (vfat, ext4, iso9660, ...), "" unknown
    sector_size: int = 512  # the partition table's sector size (2048 on MO disks)
    errors: list[str] = field(default_factory=list)
    # ISO 9660 on a multi-session disc: the sessions' start LBAs, oldest first ([]: one)
    sessions: list[int] = field(default_factory=list)

    @property
    def recognised(self) -> bool:
        return bool(self.fs_type)

    def report_label(self, reader_label: str) -> str:
        """The label a report shows: the one read the blkid way, except where the label
        is bare bytes in a legacy code page (FAT, classic HFS): there the reader's,
        decoded with the station's code page (found at the same place as blkid's, and
        trimmed as blkid trims)."""
        if not self.label_checked:
            return reader_label
        if self.fs_type.startswith("fat") or self.fs_type == "hfs":
            return reader_label.rstrip(" \t\n\r\v\f")
        return self.label


@dataclass
class FileEntry:
    volume: int
    path: str  # display path, "/"-separated, every component made safe
    size: int
    is_dir: bool = False
    modified: str | None = None
    created: str | None = None
    accessed: str | None = None
    allocated: bool = True
    name_raw: str | None = None  # hex of the raw name bytes when they needed care
    # image byte ranges of the data, in order; (ZERO, n) is n bytes of zeros (a hole)
    extents: list[tuple[int, int]] | None = None
    link: str | None = None  # a symbolic link's target (a link has no data to identify)
    # without extents (the reader makes the bytes: zisofs, an AppleDouble header before a
    # resource fork): the image ranges those bytes come from, so damage is still known
    stored: list[tuple[int, int]] | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key: object = None  # the reader's own handle for reading the data


class Reader(Protocol):
    """A file-system reader as the identification engine uses it. A reader whose entries
    may lack extents also has read(entry) -> Iterator[bytes]; one holding resources has
    close()."""

    kind: str
    label: str
    errors: list[str]

    def walk(self) -> Iterator[FileEntry]: ...


def safe_component(name: str) -> tuple[str, bool]:
    """A name made safe for display and reports: no '/', no control characters, never
    '.' or '..'. '/' and '\\' become %2F and %5C, and a literal '%' becomes %25, so a name
    with '/' and one with a literal '%2F' stay apart. Returns the name and whether it had
    to be changed (beyond the '%')."""
    out = []
    for ch in name:
        if ch == "/" or ch == "\\" or ch == "%":
            out.append(f"%{ord(ch):02X}")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    safe = "".join(out)
    if safe in ("", ".", ".."):
        safe = safe.replace(".", "%2E") or "%00"
    return safe, safe != name.replace("%", "%25")


def decode_name(raw: bytes, codec: str) -> tuple[str, bool]:
    """Decode raw name bytes; undecodable bytes show as U+FFFD (the caller keeps the raw
    bytes). Returns (text, clean)."""
    try:
        return raw.decode(codec), True
    except UnicodeDecodeError:
        return raw.decode(codec, errors="replace"), False


def join(parent: str, component: str) -> str:
    return f"{parent.rstrip('/')}/{component}"


def named(parent: str, text: str, raw: bytes, clean: bool) -> tuple[str, str | None, list[str]]:
    """Every reader's names the same way: (display path, raw bytes as hex when they were
    not plain ASCII, warnings)."""
    safe, changed = safe_component(text)
    warnings = ([] if clean else ["undecodable_name"]) + (["unsafe_name"] if changed else [])
    return join(parent, safe), None if clean and raw.isascii() else raw.hex(), warnings


MAX_DEPTH = 64


def walk_guard(deadline: float | None, depth: int, parent: str, errors: list[str]) -> bool:
    """Raise TimeoutError past the volume's deadline; False (with an error) when the
    directories nest too deeply to be real."""
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError
    if depth > MAX_DEPTH:
        errors.append(f"{parent}: directories nested too deeply")
        return False
    return True
