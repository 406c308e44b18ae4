"""Classic Mac files as other file systems keep them: an AppleDouble (or AppleSingle)
header with the Finder info (file type and creator) and the resource fork. A resource
fork's map tells a 68k application ('CODE' resources) from a PowerPC one (a 'cfrg' code
fragment in the data fork), or a fat binary (both)."""

from __future__ import annotations

import struct

MAGICS = (b"\x00\x05\x16\x07", b"\x00\x05\x16\x00")  # AppleDouble, AppleSingle
RESOURCE_FORK, FINDER_INFO = 2, 9


def entries(head: bytes) -> dict[int, tuple[int, int]]:
    """Entry id -> (offset, length) from the header's entry table."""
    if len(head) < 26 or head[:4] not in MAGICS:
        return {}
    count = struct.unpack_from(">H", head, 24)[0]
    out = {}
    for i in range(min(count, 32)):
        at = 26 + 12 * i
        if at + 12 > len(head):
            break
        kind, offset, length = struct.unpack_from(">III", head, at)
        out[kind] = (offset, length)
    return out


def finder_info(head: bytes) -> tuple[str, str] | None:
    """(file type, creator), e.g. ("APPL", "ttxt"), or None."""
    offset, length = entries(head).get(FINDER_INFO, (0, 0))
    if length < 8 or offset + 8 > len(head):
        return None
    return (head[offset:offset + 4].decode("mac_roman"),
            head[offset + 4:offset + 8].decode("mac_roman"))


def resource_types(head: bytes) -> set[str] | None:
    """The resource types in the fork, or None when the fork's map lies beyond `head`
    (the map sits at the fork's end) or is not a plausible map."""
    fork, length = entries(head).get(RESOURCE_FORK, (0, 0))
    if length < 16 or fork + 16 > len(head):
        return None
    _, map_offset, _, map_length = struct.unpack_from(">IIII", head, fork)
    start = fork + map_offset
    if map_offset + map_length > length or map_length < 30 or start + 30 > len(head):
        return None
    list_at = start + struct.unpack_from(">H", head, start + 24)[0]
    if list_at + 2 > len(head):
        return None
    count = struct.unpack_from(">H", head, list_at)[0] + 1
    if count > 0x1000 or list_at + 2 + 8 * count > len(head):
        return None
    return {head[list_at + 2 + 8 * i:list_at + 6 + 8 * i].decode("mac_roman")
            for i in range(count)}


def cpu(types: set[str] | None) -> str:
    """The platform key an application's resources point to ("" when unknown)."""
    if types is None:
        return ""
    if "cfrg" in types:
        return "macppc"  # a fat binary runs on a PowerPC Mac; so does a PowerPC-only one
    return "mac68k" if "CODE" in types else ""
