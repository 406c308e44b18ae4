"""exFAT facts TSK does not give: the volume label (entry 0x83), which root entries TSK
lists as files are the allocation bitmap and up-case table, and each file's valid data
length (bytes past it read as zeros, as Windows and Linux read them; TSK ignores it)."""

from __future__ import annotations

import struct

from workbench.identify.model import Image, Volume

_FIRST_INODE = 3  # TSK numbers FAT/exFAT directory entries from here (FATFS_FIRST_NORMINO)


class ExfatVolume:
    def __init__(self, image: Image, volume: Volume, max_clusters: int = 256) -> None:
        self.image, self.base = image, volume.offset
        self.label = ""
        # volume sectors of the allocation bitmap and up-case table
        self.system_sectors: set[int] = set()
        self.ok = False
        boot = image.read(volume.offset, 512)
        if len(boot) < 512 or boot[3:11] != b"EXFAT   ":
            return
        self.fat, _fat_len, self.heap, self.count, root = struct.unpack_from("<IIIII", boot, 80)
        self.bps, self.spc = 1 << boot[108], 1 << boot[109]
        if self.bps > 4096 or self.spc > 1 << 16:
            return
        self.ok = True
        self._root(root, max_clusters)

    def sector(self, cluster: int) -> int:
        return self.heap + (cluster - 2) * self.spc

    def _root(self, cluster: int, max_clusters: int) -> None:
        seen: set[int] = set()
        while 2 <= cluster < self.count + 2 and cluster not in seen \
                and len(seen) < max_clusters:
            seen.add(cluster)
            data = self.image.read(self.base + self.sector(cluster) * self.bps,
                                   self.bps * self.spc)
            for pos in range(0, len(data) - 31, 32):
                kind = data[pos]
                if kind == 0:
                    return
                if kind == 0x83:
                    n = min(data[pos + 1], 11)
                    self.label = data[pos + 2:pos + 2 + 2 * n].decode("utf-16-le",
                                                                      errors="replace")
                elif kind in (0x81, 0x82):
                    first, = struct.unpack_from("<I", data, pos + 20)
                    self.system_sectors.add(self.sector(first))
            nxt = self.image.read(self.base + self.fat * self.bps + 4 * cluster, 4)
            cluster = struct.unpack("<I", nxt)[0] if len(nxt) == 4 else 0

    def valid_length(self, inum: int, size: int) -> int | None:
        """The valid data length in the stream extension entry after file entry inum,
        or None when the entries are not where TSK's numbering says (checked against
        the data length, size)."""
        if not self.ok or inum < _FIRST_INODE:
            return None
        per = self.bps // 32
        sector = (inum - _FIRST_INODE) // per + self.heap
        pos = self.base + sector * self.bps + (inum - _FIRST_INODE) % per * 32
        pair = self.image.read(pos, 64)
        # the stream entry may start the next sector; within a cluster that is contiguous
        if len(pair) < 64 or pair[0] != 0x85 or pair[32] != 0xC0:
            return None
        valid, = struct.unpack_from("<Q", pair, 32 + 8)
        length, = struct.unpack_from("<Q", pair, 32 + 24)
        return int(valid) if length == size and valid <= length else None
