"""What the archive listers share: a member, the bomb limits, names and DOS dates."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from workbench.identify.model import decode_name, safe_component


@dataclass
class Member:
    path: str  # inside the archive: "/"-separated, every component made safe
    size: int
    packed: int  # compressed size (0 when the format does not say per member)
    modified: str | None
    name_raw: str | None  # hex of the raw name bytes when they were not plain ASCII
    method: str
    data: bytes | None = None  # the decoded bytes; None: not read (see errors)
    crc_ok: bool | None = None  # None: the format has no check for this member
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Limits:
    """Bomb guards, per archive found on the medium (nested archives share them)."""

    member: int = 256 << 20  # one member's decoded size
    total: int = 1 << 30  # all decoded bytes under one archive on the medium
    ratio: int = 1000  # decoded / compressed, for members over 1 MiB
    members: int = 20000
    depth: int = 3  # archives inside archives inside archives
    deadline: float | None = None  # time.monotonic() past which nothing more is decoded
    used: int = 0

    def refuse(self, size: int, packed: int) -> str | None:
        """Why a member of this declared size is not decoded, or None (and the size is
        counted)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            return "not expanded: the volume's time limit was reached"
        if size > self.member:
            return f"not expanded: {size} bytes is over the {self.member}-byte member limit"
        if size > 1 << 20 and packed and size // packed > self.ratio:
            return f"not expanded: compression ratio over {self.ratio}:1 (archive bomb?)"
        if self.used + size > self.total:
            return f"not expanded: over the {self.total}-byte limit for one archive"
        self.used += size
        return None


def dos_datetime(date: int, time: int) -> str | None:
    if date == 0:
        return None
    try:
        return datetime(1980 + (date >> 9), (date >> 5) & 15, date & 31, time >> 11,
                        (time >> 5) & 63, (time & 31) * 2).isoformat()
    except ValueError:
        return None


def member_name(raw: bytes, codepage: str, utf8: bool) -> tuple[str, str | None, list[str]]:
    """A member's display path from its raw name bytes ("/" separated): UTF-8 when the
    archive says so, else the station's legacy code page (Shift_JIS on Japanese
    archives), else cp437 (the DOS default: it decodes every byte). Components are made
    safe as the readers make file names safe; raw bytes are kept as hex."""
    warnings: list[str] = []
    if raw.isascii():
        text, clean = raw.decode("ascii"), True
    elif utf8:
        text, clean = decode_name(raw, "utf-8")
    else:
        text, clean = decode_name(raw, codepage)
        if not clean:
            text, clean = raw.decode("cp437"), True
            warnings.append("name_cp437")
    parts = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        safe, changed = safe_component(part)
        if changed and "unsafe_name" not in warnings:
            warnings.append("unsafe_name")
        parts.append(safe)
    if not clean:
        warnings.append("undecodable_name")
    return "/".join(parts) or "%00", (None if raw.isascii() else raw.hex()), warnings
