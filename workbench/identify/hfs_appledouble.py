"""AppleDouble version 2 (RFC 1740): how a Mac file's Finder info and resource fork are
kept beside its data on other file systems. The HFS reader lists them as a `._<name>`
entry so the fork is identified and covered by the digests like any file."""

from __future__ import annotations

import struct

MAGIC, VERSION = 0x00051607, 0x00020000
RESOURCE_FORK, FINDER_INFO = 2, 9
FINDER_INFO_SIZE = 32
PREFIX = "._"


def header(finder_info: bytes, resource_length: int) -> bytes:
    """Everything of the AppleDouble file before the resource fork's bytes: the header,
    the entry table (Finder Info, then Resource Fork, last so it can be streamed) and the
    32 bytes of Finder info."""
    entries = 2
    fi_at = 26 + 12 * entries
    rf_at = fi_at + FINDER_INFO_SIZE
    head = struct.pack(">II16sH", MAGIC, VERSION, bytes(16), entries)
    head += struct.pack(">III", FINDER_INFO, fi_at, FINDER_INFO_SIZE)
    head += struct.pack(">III", RESOURCE_FORK, rf_at, resource_length)
    return head + finder_info[:FINDER_INFO_SIZE].ljust(FINDER_INFO_SIZE, b"\0")


def parse(data: bytes) -> dict[int, bytes]:
    """Entry id -> bytes of an AppleDouble file (for tests and checks)."""
    magic, version, _, count = struct.unpack_from(">II16sH", data)
    if (magic, version) != (MAGIC, VERSION):
        raise ValueError("not an AppleDouble v2 file")
    out = {}
    for n in range(count):
        kind, at, length = struct.unpack_from(">III", data, 26 + 12 * n)
        out[kind] = data[at:at + length]
    return out
