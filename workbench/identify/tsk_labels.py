"""Volume labels of ext and HFS+ as blkid reports them (pytsk3 gives none)."""

from __future__ import annotations

import struct

from workbench.identify.model import Image, Volume


def ext_label(image: Image, volume: Volume) -> str:
    sb = image.read(volume.offset + 1024, 256)
    if len(sb) < 0x88 or sb[0x38:0x3A] != b"\x53\xef":
        return ""
    return sb[0x78:0x88].split(b"\0")[0].decode("utf-8", errors="replace")


def hfsplus_label(image: Image, volume: Volume) -> str:
    """The root folder's name: the first catalog leaf record (parent ID 1) holds it."""
    head = image.read(volume.offset + 1024, 512)
    if len(head) < 512 or head[:2] not in (b"H+", b"HX"):
        return ""
    block, = struct.unpack_from(">I", head, 0x28)
    fork = [struct.unpack_from(">II", head, 0x110 + 16 + 8 * i) for i in range(8)]

    def read(pos: int, n: int) -> bytes:
        for start, blocks in fork:
            if pos < blocks * block:
                return image.read(volume.offset + start * block + pos, n)
            pos -= blocks * block
        return b""

    header = read(0, 512)
    if len(header) < 40:
        return ""
    first_leaf, = struct.unpack_from(">I", header, 24)
    node_size, = struct.unpack_from(">H", header, 32)
    if node_size < 512 or first_leaf == 0:
        return ""
    node = read(first_leaf * node_size, node_size)
    if len(node) < node_size or node[8] != 0xFF:  # kind -1: a leaf node
        return ""
    rec, = struct.unpack_from(">H", node, node_size - 2)
    if rec + 8 > node_size:
        return ""
    parent, length = struct.unpack_from(">IH", node, rec + 2)
    if parent != 1 or rec + 8 + 2 * length > node_size:
        return ""
    return node[rec + 8:rec + 8 + 2 * length].decode("utf-16-be", errors="replace")
