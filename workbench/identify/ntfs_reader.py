"""The workbench's own NTFS reader, for volumes The Sleuth Kit cannot open (clusters over
64 KiB, as mkntfs -c 2097152 makes). It scans the MFT instead of walking directory
indexes: every in-use base record's $FILE_NAME attributes give its names and parents
(DOS 8.3 aliases skipped), so the tree is rebuilt from the records themselves. It lists
allocated files only (deleted index entries are TSK's business), reads resident data from
the record and non-resident data through its run list, and flags what it cannot read
(compressed, encrypted)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from workbench.identify import ntfs_facts, tsk_runs
from workbench.identify.model import FileEntry, Image, Volume, decode_name, named, walk_guard
from workbench.identify.ntfs_mft import (
    DATA,
    FILE_NAME,
    IN_USE,
    IS_DIR,
    REF_MASK,
    STANDARD_INFO,
    Mft,
    NtfsError,
    Record,
    filetime,
)

ROOT = 5
_DOS = 2  # the 8.3 alias namespace: the long name in namespace 1 or 3 is the same file


@dataclass
class _Node:
    number: int
    is_dir: bool
    names: list[tuple[int, str, bytes]] = field(default_factory=list)  # (parent, text, raw)


class NtfsReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        self.image, self.volume, self.deadline = image, volume, deadline
        self.mft = Mft(image, volume)  # NtfsError when even that fails
        self.errors: list[str] = []
        self.kind = "ntfs"
        self.label = ntfs_facts.volume_label(self.mft)

    def _scan(self) -> tuple[dict[int, _Node], dict[int, list[tuple[str, bytes, int]]]]:
        nodes: dict[int, _Node] = {}
        seqs: dict[int, int] = {}
        parents: list[tuple[int, int, int, str, bytes]] = []  # child, parent, seq, text, raw
        bad = 0
        for number in range(self.mft.count):
            if number % 4096 == 0:
                walk_guard(self.deadline, 0, "", self.errors)
            try:
                rec = self.mft.record(number)
            except NtfsError as exc:
                if self._used(number):  # a blank record is merely unused
                    bad += 1
                    if bad <= 20:
                        self.errors.append(str(exc))
                continue
            if not rec.flags & IN_USE or rec.base:
                continue
            seqs[number] = rec.seq
            nodes[number] = _Node(number, bool(rec.flags & IS_DIR))
            try:
                names = self.mft.attrs(rec, FILE_NAME)
            except NtfsError as exc:
                self.errors.append(f"MFT record {number}: {exc}")
                continue
            for attr in names:
                v = attr.value
                if len(v) < 0x42 or v[0x41] == _DOS:
                    continue
                ref, = struct.unpack_from("<Q", v, 0)
                raw = v[0x42:0x42 + 2 * v[0x40]]
                text = raw.decode("utf-16-le", errors="replace")
                parents.append((number, ref & REF_MASK, ref >> 48, text, raw))
        if bad > 20:
            self.errors.append(f"{bad} damaged MFT records in all (files in them not listed)")
        children: dict[int, list[tuple[str, bytes, int]]] = {}
        orphans = 0
        for child, parent, seq, text, raw in parents:
            if child == ROOT:
                continue
            if parent not in nodes or (seq and seqs.get(parent) != seq):
                orphans += 1
                continue
            kids = children.setdefault(parent, [])
            if (text, raw, child) not in kids:
                kids.append((text, raw, child))
        if orphans:
            self.errors.append(f"{orphans} names whose parent directory is gone (not listed)")
        return nodes, children

    def _used(self, number: int) -> bool:
        try:
            return any(self.mft.raw(number))
        except NtfsError:
            return True

    def walk(self) -> Iterator[FileEntry]:
        nodes, children = self._scan()
        yield from self._walk(ROOT, "", 0, nodes, children, {ROOT})

    def _walk(self, number: int, parent: str, depth: int, nodes: dict[int, _Node],
              children: dict[int, list[tuple[str, bytes, int]]],
              visited: set[int]) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        for text, raw, child in sorted(children.get(number, [])):
            if number == ROOT and child < 16:
                continue  # $MFT ... $Extend: NTFS's own files
            node = nodes[child]
            entry = self._entry(node, parent, text, raw)
            yield entry
            if entry.is_dir:
                if child in visited:
                    self.errors.append(f"{entry.path}: directory loop")
                    continue
                visited.add(child)
                yield from self._walk(child, entry.path, depth + 1, nodes, children, visited)

    def _entry(self, node: _Node, parent: str, text: str, raw: bytes) -> FileEntry:
        clean_text, clean = decode_name(raw, "utf-16-le")
        path, _, warnings = named(parent, clean_text, raw, clean)
        # name_raw: NTFS names are UTF-16; hex only when the name needed care
        name_raw = None if clean and text.isascii() else raw.hex()
        entry = FileEntry(self.volume.index, path, 0, is_dir=node.is_dir,
                          name_raw=name_raw, warnings=warnings)
        try:
            rec = self.mft.record(node.number)
        except NtfsError as exc:
            entry.errors.append(f"MFT record {node.number}: {exc}")
            entry.extents = []
            return entry
        self._times(rec, entry)
        if not node.is_dir:
            self._content(rec, entry)
        else:
            link = ntfs_facts.facts(self.mft, rec).link
            if link is not None:  # a junction or directory symbolic link: not walked
                entry.is_dir, entry.link, entry.extents = False, link, []
        return entry

    def _times(self, rec: Record, entry: FileEntry) -> None:
        for si in rec.find(STANDARD_INFO):
            if len(si.value) >= 0x20:
                created, modified, _changed, accessed = struct.unpack_from("<QQQQ", si.value)
                entry.created, entry.modified = filetime(created), filetime(modified)
                entry.accessed = filetime(accessed)

    def _content(self, rec: Record, entry: FileEntry) -> None:
        facts = ntfs_facts.facts(self.mft, rec)
        entry.errors += facts.errors
        entry.warnings += facts.warnings
        try:
            pieces = self.mft.attrs(rec, DATA)
        except NtfsError as exc:
            entry.errors.append(str(exc))
            pieces = []
        if not pieces:
            entry.extents = []
            return
        first = pieces[0]
        entry.size = first.data_size
        if first.resident:
            entry.key = first.value
            data = first.value
        else:
            data = b""
        if facts.link is None and facts.system and data.startswith(ntfs_facts.INTERIX):
            facts.link = data[len(ntfs_facts.INTERIX):].decode("utf-16-le", errors="replace")
        if facts.link is not None:
            entry.link, entry.extents, entry.key = facts.link, [], None
            return
        if facts.errors:
            entry.extents = []
        elif first.resident:
            entry.extents = None  # read() hands over the record's bytes
        elif ntfs_facts.compressed(rec):
            entry.errors.append("NTFS-compressed: not read by the workbench's NTFS reader")
            entry.extents = []
        else:
            runs: list[tsk_runs.Run] = []
            for piece in pieces:
                vcn = piece.start_vcn
                for lcn, count in piece.runs:
                    runs.append((vcn, lcn, count))
                    vcn += count
            entry.extents, errors = tsk_runs.extents(
                runs, self.mft.cluster, entry.size, self.volume.offset, self.volume.size,
                first.init_size)
            entry.errors += errors

    def read(self, entry: FileEntry) -> Iterator[bytes]:
        if isinstance(entry.key, bytes):
            yield entry.key
