"""Rock Ridge (RRIP 1.09/1.12) over SUSP, read from a directory record's System Use area
and its continuation areas (CE). The entries a file listing needs: NM (name), SL
(symbolic link), PX (mode), CL/PL/RE (relocated directories), ZF (zisofs). Bad entries
and continuation loops become problems of this one record, never an exception."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from workbench.identify.iso_records import Read

_MAX_CONTINUATIONS = 32
_MAX_AREA = 64 << 10  # SUSP bytes one record may use, continuation areas included
S_IFMT, S_IFLNK, S_IFDIR = 0o170000, 0o120000, 0o040000


@dataclass
class RockRidge:
    name: bytes | None = None
    link: bytes | None = None  # the SL target, components joined with '/'
    mode: int | None = None
    child_link: int | None = None  # CL: the relocated directory's block
    relocated: bool = False  # RE: this record is a relocated directory's stand-in home
    zisofs: tuple[bytes, int, int, int] | None = None  # ZF: algorithm, header/4, log2, size
    sparse: bool = False  # SF (RRIP 1.12 sparse file): not read
    seen: bool = False  # any Rock Ridge entry at all
    problems: list[str] = field(default_factory=list)


def sharing_protocol(system_use: bytes) -> int | None:
    """The SP entry of the root's '.' record: None when absent, else the bytes every other
    record's System Use area skips (LEN_SKP)."""
    if system_use[:2] == b"SP" and len(system_use) >= 7 and system_use[4:6] == b"\xbe\xef":
        return system_use[6]
    return None


def _xa(area: bytes) -> bool:
    """A CD-XA record (14 bytes, 'XA' at 6) opening the System Use area."""
    return len(area) >= 14 and area[6:8] == b"XA" and not area[:2].isalpha()


def parse(system_use: bytes, skip: int, read: Read, block: int) -> RockRidge:
    rr = RockRidge()
    area = system_use[skip:]
    if _xa(area):
        area = area[14:]
    seen_ce: set[tuple[int, int]] = set()
    name_open = link_open = True  # NM / SL continuing into the next entry
    link: list[bytes] = []
    component = b""
    total = 0
    while area:
        continuation = None
        pos = 0
        while pos + 4 <= len(area):
            sig, length = area[pos:pos + 2], area[pos + 2]
            if length < 4 or pos + length > len(area):
                if any(area[pos:]):
                    rr.problems.append(f"bad SUSP entry {sig!r} (length {length})")
                break
            body = area[pos + 4:pos + length]
            pos += length
            if sig == b"ST":
                break
            if sig == b"CE" and len(body) >= 24:
                continuation = struct.unpack_from("<I4xI4xI", body)
            elif sig == b"NM" and body:
                rr.seen = True
                if body[0] & 0x06:  # CURRENT / PARENT: '.' and '..' carry no name
                    continue
                if name_open:
                    rr.name = (rr.name or b"") + body[1:]
                name_open = bool(body[0] & 0x01)
            elif sig == b"SL" and body:
                rr.seen = True
                if not link_open:
                    continue
                component = _symlink(body, link, component, rr)
                link_open = bool(body[0] & 0x01)
            elif sig == b"PX" and len(body) >= 4:
                rr.seen = True
                rr.mode = struct.unpack_from("<I", body)[0]
            elif sig == b"CL" and len(body) >= 4:
                rr.seen = True
                rr.child_link = struct.unpack_from("<I", body)[0]
            elif sig == b"RE":
                rr.seen, rr.relocated = True, True
            elif sig == b"ZF" and len(body) >= 8:
                rr.seen = True
                rr.zisofs = (body[0:2], body[2], body[3], struct.unpack_from("<I", body, 4)[0])
            elif sig == b"SF":
                rr.seen, rr.sparse = True, True
            elif sig in (b"RR", b"TF", b"PN", b"PL"):
                rr.seen = True
        total += len(area)
        if continuation is None:
            break
        at, offset, length = continuation
        if (at, offset) in seen_ce:
            rr.problems.append("continuation area loop")
            break
        seen_ce.add((at, offset))
        if len(seen_ce) > _MAX_CONTINUATIONS or total + length > _MAX_AREA:
            rr.problems.append("too many continuation areas")
            break
        area = read(at * block + offset, length)
        if len(area) < length:
            rr.problems.append("continuation area beyond the end of the volume")
    if component:
        link.append(component)
    if link or (rr.mode is not None and rr.mode & S_IFMT == S_IFLNK):
        rr.link = b"/".join(link)
        if link and link[0] == b"":  # the root component
            rr.link = b"/" + b"/".join(link[1:])
    if name_open is False and rr.name is None:
        rr.problems.append("NM entry without a name")
    return rr


def _symlink(body: bytes, link: list[bytes], component: bytes, rr: RockRidge) -> bytes:
    """Appends the SL entry's finished components to link; returns the unfinished one."""
    pos = 1
    while pos + 2 <= len(body):
        flags, length = body[pos], body[pos + 1]
        text = body[pos + 2:pos + 2 + length]
        if len(text) < length:
            rr.problems.append("SL component runs past its entry")
            break
        pos += 2 + length
        if flags & 0x02:
            text = b"."
        elif flags & 0x04:
            text = b".."
        elif flags & 0x08:
            text = b""  # the root: the target is absolute
        component += text
        if not flags & 0x01:  # this component ends here
            link.append(component)
            component = b""
    return component
