"""What the readers produce: volumes and file entries, plus safe display names."""

from __future__ import annotations

import io
import os
import unicodedata
from dataclasses import dataclass, field


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


class SliceFile(io.RawIOBase):
    """A seekable file object over part of an image, for readers that want one."""

    def __init__(self, image: Image, offset: int, size: int) -> None:
        self.image, self.offset, self.length, self.pos = image, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.length}[whence]
        self.pos = max(0, base + pos)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        want = min(len(buffer), self.length - self.pos)
        if want <= 0:
            return 0
        data = self.image.read(self.offset + self.pos, want)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


@dataclass
class Volume:
    index: int
    offset: int
    size: int
    scheme: str  # none | mbr | gpt | apm
    partition_type: str = ""
    fs_type: str = ""  # fat12 | fat16 | fat32 | exfat | ntfs | iso9660 | udf | hfs | hfsplus | ext
    label: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def recognised(self) -> bool:
        return bool(self.fs_type)


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
    extents: list[tuple[int, int]] | None = None  # image byte ranges of the data, in order
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key: object = None  # the reader's own handle for reading the data


def safe_component(name: str) -> tuple[str, bool]:
    """A name made safe for display and reports: no '/', no control characters, never
    '.' or '..'. Returns the name and whether it had to be changed."""
    out = []
    for ch in name:
        if ch == "/" or ch == "\\":
            out.append(f"%{ord(ch):02X}")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    safe = "".join(out)
    if safe in ("", ".", ".."):
        safe = safe.replace(".", "%2E") or "%00"
    return safe, safe != name


def decode_name(raw: bytes, codec: str) -> tuple[str, bool]:
    """Decode raw name bytes; undecodable bytes show as U+FFFD (the caller keeps the raw
    bytes). Returns (text, clean)."""
    try:
        return raw.decode(codec), True
    except UnicodeDecodeError:
        return raw.decode(codec, errors="replace"), False


def join(parent: str, component: str) -> str:
    return f"{parent.rstrip('/')}/{component}"
