"""Volume labels of the file systems TSK reads, as blkid reports them (pytsk3 gives none),
and the exFAT root-directory entries TSK lists as if they were files."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from workbench.identify.model import Image, Volume


def ext_label(image: Image, volume: Volume) -> str:
    sb = image.read(volume.offset + 1024, 256)
    if len(sb) < 0x88 or sb[0x38:0x3A] != b"\x53\xef":
        return ""
    return sb[0x78:0x88].split(b"\0")[0].decode("utf-8", errors="replace")


@dataclass
class ExfatRoot:
    label: str = ""
    # volume sectors of the allocation bitmap and up-case table (TSK lists them as files)
    system_sectors: set[int] = field(default_factory=set)


def exfat_root(image: Image, volume: Volume, max_clusters: int = 256) -> ExfatRoot:
    """The label (entry 0x83) and system entries of the root directory, following its
    FAT chain a bounded number of clusters."""
    out = ExfatRoot()
    boot = image.read(volume.offset, 512)
    if len(boot) < 512 or boot[3:11] != b"EXFAT   ":
        return out
    fat_off, _fat_len, heap, count, root = struct.unpack_from("<IIIII", boot, 80)
    bps, spc = 1 << boot[108], 1 << boot[109]
    if bps > 4096 or spc > 1 << 16:
        return out
    cluster_bytes = bps * spc

    def sector(cluster: int) -> int:
        return heap + (cluster - 2) * spc

    cluster, seen = root, set[int]()
    while 2 <= cluster < count + 2 and cluster not in seen and len(seen) < max_clusters:
        seen.add(cluster)
        data = image.read(volume.offset + sector(cluster) * bps, cluster_bytes)
        for pos in range(0, len(data) - 31, 32):
            kind = data[pos]
            if kind == 0:
                return out
            if kind == 0x83:
                n = min(data[pos + 1], 11)
                out.label = data[pos + 2:pos + 2 + 2 * n].decode("utf-16-le", errors="replace")
            elif kind in (0x81, 0x82):
                first, = struct.unpack_from("<I", data, pos + 20)
                out.system_sectors.add(sector(first))
        nxt = image.read(volume.offset + fat_off * bps + 4 * cluster, 4)
        cluster = struct.unpack("<I", nxt)[0] if len(nxt) == 4 else 0
    return out


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
