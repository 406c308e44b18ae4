"""Classic HFS on-disk structures (Inside Macintosh: Files, ch. 2): the master directory
block, fork extents (with the extents overflow file) and B-tree leaf records.

Everything is read on demand with bounds checks, so a volume of any size is walked
without holding it in memory; a damaged node ends that walk with an error, never a
wrong record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from workbench.identify.model import Image, Volume

MDB_OFFSET = 1024
SIGNATURE = 0x4244  # 'BD'
EXTENTS_FILE, CATALOG_FILE = 3, 4
DATA_FORK, RESOURCE_FORK = 0x00, 0xFF
_MAX_NODES = 1 << 22  # 2 GiB of 512-byte nodes: more than any HFS B-tree can hold


class HfsError(ValueError):
    pass


@dataclass(frozen=True)
class Mdb:
    created: int
    modified: int
    block_size: int  # allocation block size
    first_block: int  # drAlBlSt: the first allocation block, in 512-byte sectors
    blocks: int
    name: bytes
    extents_size: int
    extents_rec: bytes
    catalog_size: int
    catalog_rec: bytes
    embedded: int  # drEmbedSigWord: 'H+' for an HFS wrapper around HFS+


def read_mdb(raw: bytes) -> Mdb:
    if len(raw) < 162 or struct.unpack_from(">H", raw)[0] != SIGNATURE:
        raise HfsError("classic HFS master directory block not found")
    created, modified = struct.unpack_from(">II", raw, 2)
    blocks, block_size = struct.unpack_from(">HI", raw, 18)
    first_block = struct.unpack_from(">H", raw, 28)[0]
    if block_size == 0 or block_size % 512:
        raise HfsError(f"allocation block size {block_size} is not valid")
    name = raw[37:37 + min(raw[36], 27)]
    embedded = struct.unpack_from(">H", raw, 124)[0]
    xt_size, = struct.unpack_from(">I", raw, 130)
    ct_size, = struct.unpack_from(">I", raw, 146)
    return Mdb(created, modified, block_size, first_block, blocks, name, xt_size,
               raw[134:146], ct_size, raw[150:162], embedded)


def extent_record(raw: bytes) -> list[tuple[int, int]]:
    """The three (first allocation block, block count) pairs of an extent record."""
    out = []
    for at in range(0, min(len(raw), 12) - 3, 4):
        start, count = struct.unpack_from(">HH", raw, at)
        if count:
            out.append((start, count))
    return out


class HfsVolume:
    """Byte access to one HFS volume: allocation blocks to image byte ranges."""

    def __init__(self, image: Image, volume: Volume) -> None:
        self.image, self.volume = image, volume
        self.mdb = read_mdb(self.read(MDB_OFFSET, 512))
        self.overflow: dict[tuple[int, int], list[tuple[int, list[tuple[int, int]]]]] = {}
        self.errors: list[str] = []
        xt = self.fork_ranges(extent_record(self.mdb.extents_rec), self.mdb.extents_size)
        if xt is None:
            self.errors.append("extents overflow file lies outside the volume")
        else:
            self._load_overflow(xt)
        catalog_extents = self.fork_extents(CATALOG_FILE, DATA_FORK,
                                            extent_record(self.mdb.catalog_rec),
                                            self.mdb.catalog_size)
        catalog = self.fork_ranges(catalog_extents, self.mdb.catalog_size)
        if catalog is None:
            raise HfsError("catalog file lies outside the volume")
        self.catalog = catalog

    def read(self, offset: int, size: int) -> bytes:
        if offset < 0 or offset + size > self.volume.size:
            return b""
        return self.image.read(self.volume.offset + offset, size)

    def fork_extents(self, file_id: int, fork: int, first: list[tuple[int, int]],
                     length: int) -> list[tuple[int, int]]:
        """A fork's allocation-block extents: the catalog's three, then the extents
        overflow records in order of their first file block."""
        extents = list(first)
        have = sum(n for _, n in extents)
        for start_abn, more in self.overflow.get((file_id, fork), []):
            if have * self.mdb.block_size >= length:
                break
            if start_abn != have:  # a gap or an overlap: the record does not follow on
                break
            extents += more
            have += sum(n for _, n in more)
        return extents

    def fork_ranges(self, extents: list[tuple[int, int]], length: int
                    ) -> list[tuple[int, int]] | None:
        """Image byte ranges holding the first `length` bytes of a fork, or None when an
        extent lies outside the volume. May cover less than length (missing extents)."""
        out: list[tuple[int, int]] = []
        left = length
        base = self.mdb.first_block * 512
        for start, count in extents:
            if left <= 0:
                break
            if start + count > self.mdb.blocks:
                return None
            off = base + start * self.mdb.block_size
            n = min(count * self.mdb.block_size, left)
            if off + n > self.volume.size:
                return None
            if out and out[-1][0] + out[-1][1] == self.volume.offset + off:
                out[-1] = (out[-1][0], out[-1][1] + n)
            else:
                out.append((self.volume.offset + off, n))
            left -= n
        return out

    def _load_overflow(self, ranges: list[tuple[int, int]]) -> None:
        tree = BTree(self.image, ranges)
        for key, data in tree.leaf_records(self.errors, "extents overflow file"):
            if len(key) < 8 or len(data) < 12:
                continue
            fork, file_id, start_abn = struct.unpack_from(">BIH", key, 1)
            self.overflow.setdefault((file_id, fork), []).append(
                (start_abn, extent_record(data)))
        for records in self.overflow.values():
            records.sort()


class BTree:
    """An HFS B-tree file (catalog or extents overflow) read node by node."""

    def __init__(self, image: Image, ranges: list[tuple[int, int]]) -> None:
        self.image, self.ranges = image, ranges
        self.size = sum(n for _, n in ranges)
        header = self._raw(0, 512)
        if len(header) < 512 or header[8] != 1:
            raise HfsError("B-tree header node not found")
        (self.depth, self.root, self.records, self.first_leaf, self.last_leaf,
         self.node_size) = struct.unpack_from(">HIIIIH", header, 14)
        if self.node_size != 512:
            raise HfsError(f"B-tree node size {self.node_size} is not 512")

    def _raw(self, pos: int, size: int) -> bytes:
        parts, base = [], 0
        for start, n in self.ranges:
            if pos < base + n and pos + size > base:
                lo = max(pos, base)
                hi = min(pos + size, base + n)
                parts.append(self.image.read(start + lo - base, hi - lo))
            base += n
        return b"".join(parts)

    def node(self, number: int) -> bytes:
        if (number + 1) * self.node_size > self.size:
            return b""
        return self._raw(number * self.node_size, self.node_size)

    @staticmethod
    def records_of(node: bytes) -> list[bytes]:
        """The records of a node, each cut at the next record's offset."""
        count = struct.unpack_from(">H", node, 10)[0]
        size = len(node)
        if 14 + 2 * (count + 1) > size:
            raise HfsError("node record count is damaged")
        offsets = [struct.unpack_from(">H", node, size - 2 * (i + 1))[0]
                   for i in range(count + 1)]
        out = []
        for i in range(count):
            lo, hi = offsets[i], offsets[i + 1]
            if not 14 <= lo < hi <= size - 2 * (count + 1):
                raise HfsError("node record offsets are damaged")
            out.append(node[lo:hi])
        return out

    def _chain(self) -> tuple[list[int], bool]:
        """Leaf node numbers along the leaf chain; whether it ran to its end."""
        out: list[int] = []
        seen: set[int] = set()
        number = self.first_leaf
        while number:
            if number in seen or len(out) >= _MAX_NODES:
                return out, False
            node = self.node(number)
            if len(node) < self.node_size or node[8] != 0xFF:
                return out, False
            seen.add(number)
            out.append(number)
            number = struct.unpack_from(">I", node, 0)[0]
        return out, True

    def _descend(self) -> tuple[list[int], bool]:
        """Leaf node numbers in key order from the root through the index nodes;
        whether every index node was whole."""
        out: list[int] = []
        whole = True
        seen: set[int] = set()
        stack = [(self.root, self.depth)]
        while stack and self.root:
            number, height = stack.pop()
            if number in seen or len(seen) >= _MAX_NODES:
                whole = False
                continue
            seen.add(number)
            if height <= 1:
                out.append(number)
                continue
            node = self.node(number)
            try:
                if len(node) < self.node_size or node[8] != 0:
                    raise HfsError("not an index node")
                children = []
                for rec in self.records_of(node):
                    key_len = rec[0] + 1
                    at = key_len + (key_len & 1)
                    children.append(struct.unpack_from(">I", rec, at)[0])
            except (HfsError, struct.error):
                whole = False
                continue
            stack += [(c, height - 1) for c in reversed(children)]
        return out, whole

    def leaf_records(self, errors: list[str], what: str) -> Iterator[tuple[bytes, bytes]]:
        """(key, data) of every leaf record. Leaves are found by the leaf chain and by
        the index: a damaged node costs its own records (with an error), not the rest."""
        chain, chain_whole = self._chain()
        index, index_whole = self._descend()
        if chain_whole:
            order = chain
        elif index_whole:
            order = index
        else:
            order = chain + [n for n in index if n not in set(chain)]
        if not (chain_whole and index_whole) and set(chain) != set(index):
            errors.append(f"{what}: B-tree damaged; leaves read from the index and chain")
        for number in order:
            node = self.node(number)
            if len(node) < self.node_size or node[8] != 0xFF:
                errors.append(f"{what}: leaf node {number} is damaged or missing")
                continue
            try:
                records = self.records_of(node)
            except HfsError as exc:
                errors.append(f"{what}: node {number}: {exc}")
                continue
            for rec in records:
                key_len = rec[0] + 1
                if key_len < 2 or key_len > len(rec):
                    errors.append(f"{what}: node {number}: damaged key")
                    continue
                yield rec[:key_len], rec[key_len + (key_len & 1):]
