"""FAT12/16/32 reader: short names in the legacy code page, VFAT long names as UTF-16,
Human68k names of 18 + 3 bytes, deleted entries, cluster runs as image extents. Corrupt
input yields errors, never exceptions; cluster-chain and directory loops are detected.
The layout comes from fatgeom (DOS or Human68k BPB, or the media byte of a floppy
without a BPB); the label is read as blkid reads it (labels.fat_label)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime

from workbench.identify.fatgeom import fat_geometry
from workbench.identify.labels import fat_label
from workbench.identify.model import FileEntry, Image, Volume, decode_name, named, walk_guard

ATTR_LFN, ATTR_DIR, ATTR_LABEL = 0x0F, 0x10, 0x08


class ReaderError(Exception):
    pass


def _dos_datetime(date: int, tm: int = 0) -> str | None:
    if date == 0:
        return None
    try:
        return datetime(1980 + (date >> 9), (date >> 5) & 15, date & 31,
                        tm >> 11, (tm >> 5) & 63, (tm & 31) * 2).isoformat()
    except ValueError:
        return None


def _lfn_checksum(short: bytes) -> int:
    total = 0
    for b in short:
        total = (((total & 1) << 7) + (total >> 1) + b) & 0xFF
    return total


class FatReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        self.image, self.volume, self.codepage = image, volume, codepage
        self.deadline = deadline
        geo = fat_geometry(image.read, volume.offset, volume.size or image.size)
        if geo is None:
            raise ReaderError("not a FAT boot sector")
        self.kind, self.human68k = geo.kind, geo.human68k
        self.fat16 = ">H" if geo.fat_be else "<H"  # big-endian on Human68k hard disks
        self.bps, self.spc, self.nfats = geo.bps, geo.spc, geo.nfats
        self.fat_offset = volume.offset + geo.reserved * self.bps
        self.root_offset = self.fat_offset + self.nfats * geo.fat_sectors * self.bps
        self.root_size = geo.root_entries * 32
        self.data_offset = self.root_offset + geo.root_sectors * self.bps
        self.cluster_size = self.bps * self.spc
        self.clusters = geo.clusters
        self.root_cluster = geo.root_cluster
        self.fat = image.read(self.fat_offset, geo.fat_sectors * self.bps)
        self.label = fat_label(image.read, volume.offset, geo, codepage)
        self.errors: list[str] = []

    # -- clusters ---------------------------------------------------------------------
    def _next(self, cluster: int) -> int:
        if self.kind == "fat12":
            at = cluster + cluster // 2
            if at + 2 > len(self.fat):
                return -1
            value = struct.unpack_from("<H", self.fat, at)[0]
            value = value >> 4 if cluster & 1 else value & 0xFFF
            return -1 if value >= 0xFF8 else value
        if self.kind == "fat16":
            if cluster * 2 + 2 > len(self.fat):
                return -1
            value = struct.unpack_from(self.fat16, self.fat, cluster * 2)[0]
            return -1 if value >= 0xFFF8 else value
        if cluster * 4 + 4 > len(self.fat):
            return -1
        value = struct.unpack_from("<I", self.fat, cluster * 4)[0] & 0x0FFFFFFF
        return -1 if value >= 0x0FFFFFF8 else value

    def chain(self, first: int, limit_bytes: int | None = None) -> tuple[list[int], str | None]:
        """The clusters of a chain, stopping at its end, a loop, a free or bad cluster."""
        out: list[int] = []
        seen: set[int] = set()
        cluster = first
        need = None if limit_bytes is None else -(-limit_bytes // self.cluster_size)
        while 2 <= cluster < self.clusters + 2:
            if cluster in seen:
                return out, "cluster chain loops"
            seen.add(cluster)
            out.append(cluster)
            if need is not None and len(out) >= need:
                return out, None
            nxt = self._next(cluster)
            if nxt == -1:
                return out, None
            cluster = nxt
        if cluster not in (0, 1) and cluster >= self.clusters + 2:
            return out, f"cluster {cluster} is outside the volume"
        return out, ("cluster chain ends early" if need and len(out) < need else None)

    def extents(self, clusters: list[int], size: int) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        left = size
        for c in clusters:
            if left <= 0:
                break
            off = self.data_offset + (c - 2) * self.cluster_size
            n = min(self.cluster_size, left)
            if runs and runs[-1][0] + runs[-1][1] == off:
                runs[-1] = (runs[-1][0], runs[-1][1] + n)
            else:
                runs.append((off, n))
            left -= n
        return runs

    # -- directories ------------------------------------------------------------------
    def _dir_bytes(self, cluster: int) -> tuple[bytes, str | None]:
        if cluster == 0 and self.kind != "fat32":
            return self.image.read(self.root_offset, self.root_size), None
        clusters, problem = self.chain(cluster or self.root_cluster)
        clusters = clusters[:65536 // max(1, self.spc)]  # a directory holds <= 65536 entries
        data = b"".join(self.image.read(self.data_offset + (c - 2) * self.cluster_size,
                                        self.cluster_size) for c in clusters)
        return data, problem

    def walk(self) -> Iterator[FileEntry]:
        yield from self._walk(0, "", 0, set())

    def _walk(self, cluster: int, parent: str, depth: int, visited: set[int]
              ) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        data, problem = self._dir_bytes(cluster)
        if problem:
            self.errors.append(f"{parent or '/'}: {problem}")
        lfn: dict[int, bytes] = {}
        lfn_sum = -1
        for i in range(0, len(data) - 31, 32):
            raw = data[i:i + 32]
            first, attr = raw[0], raw[11]
            if first == 0:
                break
            deleted = first == 0xE5
            if attr == ATTR_LFN:
                if not deleted:
                    seq = raw[0] & 0x1F
                    if raw[0] & 0x40:
                        lfn.clear()
                    lfn[seq] = raw[1:11] + raw[14:26] + raw[28:32]
                    lfn_sum = raw[13]
                continue
            if attr & ATTR_LABEL:
                lfn.clear()
                continue
            short = raw[:11]
            if short in (b".          ", b"..         "):
                lfn.clear()
                continue
            yield from self._entry(raw, parent, depth, visited, deleted,
                                   lfn if lfn and lfn_sum == _lfn_checksum(short) else None)
            lfn.clear()

    def _entry(self, raw: bytes, parent: str, depth: int, visited: set[int], deleted: bool,
               lfn: dict[int, bytes] | None) -> Iterator[FileEntry]:
        (attr, nt, _ct10, ctime, cdate, adate, hi, wtime, wdate, lo,
         size) = struct.unpack_from("<BBBHHHHHHHI", raw, 11)
        short = bytearray(raw[:11])
        if short[0] == 0x05:
            short[0] = 0xE5  # a kanji lead byte, escaped
        base, ext = bytes(short[:8]).rstrip(b" "), bytes(short[8:]).rstrip(b" ")
        if self.human68k:  # bytes 12-21 continue the name; no creation or access dates
            base = (bytes(short[:8]) + raw[12:22].rstrip(b"\0")).rstrip(b" ")
            nt = cdate = adate = 0
        if nt & 0x08:
            base = base.lower()
        if nt & 0x10:
            ext = ext.lower()
        raw_name = base + (b"." + ext if ext else b"")
        warnings = []
        if deleted:
            raw_name = b"_" + raw_name[1:]
        if lfn is not None:
            units = b"".join(lfn[k] for k in sorted(lfn))
            name = units.decode("utf-16-le", errors="replace").split("\0")[0]
            clean = "\ufffd" not in name
            raw_bytes = name.encode("ascii") if clean and name.isascii() else units
        else:
            name, clean = decode_name(raw_name, self.codepage)
            raw_bytes = raw_name
        path, name_raw, name_warnings = named(parent, name, raw_bytes, clean)
        warnings += name_warnings
        first = (hi << 16 | lo) if self.kind == "fat32" else lo
        is_dir = bool(attr & ATTR_DIR)
        entry = FileEntry(
            volume=self.volume.index, path=path, size=0 if is_dir else size, is_dir=is_dir,
            modified=_dos_datetime(wdate, wtime), created=_dos_datetime(cdate, ctime),
            accessed=_dos_datetime(adate), allocated=not deleted, name_raw=name_raw,
            warnings=warnings)
        if not is_dir:
            if deleted:  # the chain is gone: assume contiguous, as recovery tools do
                clusters = list(range(first, first + -(-size // self.cluster_size)))
                clusters = [c for c in clusters if 2 <= c < self.clusters + 2]
                problem = None
                if any(self._next(c) != 0 for c in clusters):
                    # DOS frees a deleted file's clusters: one the FAT marks in use has
                    # most likely gone to a later file, whose bytes these may be
                    entry.warnings.append("clusters_in_use")
            else:
                clusters, problem = self.chain(first, size) if size else ([], None)
            entry.extents = self.extents(clusters, size)
            got = sum(n for _, n in entry.extents)
            if problem or got < size:
                entry.errors.append(problem or "cluster chain shorter than the file")
            yield entry
            return
        yield entry
        if deleted or not 2 <= first < self.clusters + 2:
            return
        if first in visited:
            self.errors.append(f"{path}: directory loop")
            return
        visited.add(first)
        yield from self._walk(first, path, depth + 1, visited)
