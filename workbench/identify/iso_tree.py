"""One ISO 9660 session's directory tree as file entries, read record by record.

The names come from Rock Ridge when the volume has it, else Joliet, else the ISO names;
a record whose Rock Ridge entries are damaged keeps its place in the listing, named from
the Joliet tree (the record with the same extent) or its ISO name, and carries an error.
A directory that cannot be read is an error of that directory; its siblings go on.
Multi-extent files are one entry with their sections in order, Rock Ridge relocated
directories (CL/RE) appear where they belong and an emptied rr_moved is not listed,
symbolic links (SL) carry their target, and zisofs files (ZF) are read decompressed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from workbench.identify import iso_susp as susp
from workbench.identify.iso_records import (
    ASSOCIATED,
    MULTI_EXTENT,
    DescriptorSet,
    Read,
    Record,
    parse_record,
    read_directory,
    record_date,
)
from workbench.identify.model import FileEntry, decode_name, named, walk_guard

_RR_MOVED = (b"rr_moved", b"RR_MOVED", b".rr_moved")
_MAX_JOLIET_DIRS = 200_000  # directories read to name a damaged record from Joliet
_SPECIAL = (0o020000, 0o060000, 0o010000, 0o140000)  # S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK


@dataclass
class Stored:
    """FileEntry.key of a zisofs file: where its compressed bytes lie in the image."""

    extents: list[tuple[int, int]]


@dataclass
class Context:
    read: Read  # bytes of the volume, positioned from its start
    offset: int  # the volume's byte offset in the image
    size: int  # the volume's size in bytes
    volume: int  # Volume.index
    codepage: str
    deadline: float | None
    errors: list[str]  # the reader's (volume's) errors


def choose(ctx: Context, found: DescriptorSet) -> tuple[str, Record, int, list[str]]:
    """The tree to walk: (mode rockridge | joliet | iso, root record, block size, problems
    of the trees passed over). Raises ValueError when no tree has a readable root."""
    problems = list(found.problems)
    pvd, jol = found.primary, found.joliet
    trees: list[tuple[str, Record, int]] = []
    pvd_ok = False
    if pvd is not None:
        records, bad = read_directory(ctx.read, pvd.root, pvd.block)
        pvd_ok = _has_dot(records)
        if pvd_ok and rock_ridge(ctx, records, pvd.block):
            trees.append(("rockridge", pvd.root, pvd.block))
        elif not pvd_ok:
            problems.append(f"primary root directory unreadable: {'; '.join(bad)}")
    if jol is not None:
        trees.append(("joliet", jol.root, jol.block))
    if pvd is not None:
        trees.append(("iso", pvd.root, pvd.block))
    for mode, root, block in trees:
        records, bad = read_directory(ctx.read, root, block)
        if _has_dot(records):
            return mode, root, block, problems
        if mode != "iso" or pvd_ok:
            problems.append(f"{mode} root directory unreadable: {'; '.join(bad)}")
    for mode, root, block in trees:  # a root that is there but holds no '.': what it has
        records, bad = read_directory(ctx.read, root, block)
        if root.size and not any(p.startswith("directory lies beyond") for p in bad):
            return mode, root, block, problems
    raise ValueError("; ".join(problems) or "no ISO 9660 directory tree")


def _has_dot(records: list[Record]) -> bool:
    return bool(records) and records[0].name == b"\x00"


def rock_ridge(ctx: Context, root_records: list[Record], block: int) -> bool:
    """An SP entry in the root's '.' record, or Rock Ridge entries in the root's records
    (some writers leave SP out)."""
    if susp.sharing_protocol(root_records[0].system_use) is not None:
        return True
    return any(susp.parse(r.system_use, 0, ctx.read, block).seen for r in root_records[:4])


class Tree:
    def __init__(self, ctx: Context, found: DescriptorSet) -> None:
        self.ctx = ctx
        self.mode, self.root, self.block, problems = choose(ctx, found)
        ctx.errors.extend(problems)
        self.found = found
        self.skip = 0
        if self.mode == "rockridge":
            dot = read_directory(ctx.read, self.root, self.block)[0][0]
            self.skip = susp.sharing_protocol(dot.system_use) or 0
        self._joliet: tuple[dict[int, bytes], dict[tuple[int, ...], bytes]] | None = None

    def entries(self) -> Iterator[FileEntry]:
        records, problems = read_directory(self.ctx.read, self.root, self.block)
        if problems:
            self.ctx.errors.append(f"/: {'; '.join(problems)}")
        visited = {self.root.extent}
        moved: dict[int, tuple[list[Record], susp.RockRidge, str, int]] = {}
        yield from self._directory(records, "", 0, visited, moved)
        done: set[int] = set()
        while pending := [e for e in moved if e not in visited and e not in done]:
            extent = pending[0]  # (a moved directory's walk may find more moved ones)
            done.add(extent)
            group, rr, parent, depth = moved[extent]
            entry, target = self._entry(group, rr, parent)
            entry.errors.append("relocated directory without its CL stand-in: listed where "
                                "Rock Ridge moved it")
            yield from self._descend(entry, target, depth, visited, moved)

    # -- one directory -------------------------------------------------------------------

    def _directory(self, records: list[Record], parent: str, depth: int, visited: set[int],
                   moved: dict[int, tuple[list[Record], susp.RockRidge, str, int]]
                   ) -> Iterator[FileEntry]:
        """moved collects the relocated directories' records (RE), each listed where its
        CL stand-in is, or at the end where it was moved to when no CL leads there."""
        if not walk_guard(self.ctx.deadline, depth, parent, self.ctx.errors):
            return
        for group, problem in _groups(records):
            rr = self._rr(group[0])
            # rr_moved itself (some writers mark it RE too, to hide it)
            rr_moved = depth == 0 and rr is not None and group[0].is_dir and (
                rr.name or group[0].name) in _RR_MOVED
            if rr is not None and rr.relocated and not rr_moved:
                moved[group[0].extent] = (group, rr, parent, depth)
                continue
            entry, target = self._entry(group, rr, parent)
            if problem:
                entry.errors.append(problem)
            if rr_moved and target is not None and target.extent not in visited:
                children, _ = read_directory(self.ctx.read, target, self.block)
                if _all_relocated(self, children):  # rr_moved and nothing else: not listed
                    visited.add(target.extent)
                    yield from self._directory(children, entry.path, depth + 1, visited, moved)
                    continue
            yield from self._descend(entry, target, depth, visited, moved)

    def _descend(self, entry: FileEntry, target: Record | None, depth: int, visited: set[int],
                 moved: dict[int, tuple[list[Record], susp.RockRidge, str, int]]
                 ) -> Iterator[FileEntry]:
        """The entry, and a directory's contents after it."""
        if target is None:
            if entry.is_dir:
                self._report(entry)
            yield entry
            return
        if target.extent in visited:
            entry.errors.append("directory loop")
            self._report(entry)
            yield entry
            return
        visited.add(target.extent)
        children, problems = read_directory(self.ctx.read, target, self.block)
        entry.errors.extend(problems)
        self._report(entry)
        yield entry
        yield from self._directory(children, entry.path, depth + 1, visited, moved)

    def _report(self, directory: FileEntry) -> None:
        """A directory's errors are the volume's too (reports list files, not folders)."""
        if directory.errors:
            self.ctx.errors.append(f"{directory.path}: {'; '.join(directory.errors)}")

    def _rr(self, rec: Record) -> susp.RockRidge | None:
        if self.mode != "rockridge":
            return None
        return susp.parse(rec.system_use, self.skip, self.ctx.read, self.block)

    def _entry(self, group: list[Record], rr: susp.RockRidge | None, parent: str
               ) -> tuple[FileEntry, Record | None]:
        """The entry for a record (a multi-extent file's records), and the directory
        record to descend into when it is one."""
        rec = group[0]
        text, raw, clean, notes, errors = self._name(rec, rr)
        path, name_raw, warnings = named(parent, text, raw, clean)
        warnings += notes
        if rec.flags & ASSOCIATED:
            warnings.append("iso_associated_file")
        entry = FileEntry(self.ctx.volume, path, 0, modified=record_date(rec.date),
                          name_raw=name_raw, warnings=warnings, errors=errors)
        if rr is not None and rr.child_link is not None:
            entry.is_dir = True
            return entry, self._relocated(rr.child_link, entry)
        if rec.is_dir:
            entry.is_dir = True
            return entry, rec
        if rr is not None and rr.link is not None:
            entry.link, clean = decode_name(rr.link, "utf-8")
            if not clean:
                entry.link = decode_name(rr.link, self.ctx.codepage)[0]
            if not rr.link:
                entry.errors.append("symbolic link without a target")
            return entry, None
        if rr is not None and rr.mode is not None and rr.mode & susp.S_IFMT in _SPECIAL:
            entry.warnings.append("special_file")  # a device, FIFO or socket: no data
            entry.extents = []
            return entry, None
        self._data(entry, group, rr)
        return entry, None

    def _relocated(self, extent: int, entry: FileEntry) -> Record | None:
        """The directory a CL entry points to, sized by its own '.' record."""
        head = self.ctx.read(extent * self.block, self.block)
        dot = parse_record(head, 0) if head else None
        if dot is None or dot.name != b"\x00":
            entry.errors.append("relocated directory (CL) unreadable")
            return None
        return Record(extent, dot.size, dot.flags, dot.name, dot.date, b"")

    def _data(self, entry: FileEntry, group: list[Record], rr: susp.RockRidge | None) -> None:
        extents: list[tuple[int, int]] = []
        for rec in group:
            extents += self._sections(rec)
        entry.size = sum(n for _, n in extents)
        end = self.ctx.offset + self.ctx.size
        if any(start + n > end for start, n in extents):
            entry.errors.append("file data lies beyond the end of the volume")
        entry.extents = extents
        if len(group) > 1:
            entry.warnings.append("multi_extent")
        if rr is not None and rr.sparse:
            entry.errors.append("Rock Ridge sparse file (SF): holes not read")
        zf = rr.zisofs if rr is not None else None
        if zf is not None:
            if zf[0] != b"pz":
                entry.errors.append(f"compressed ({zf[0]!r}), listed as stored, not decompressed")
                return
            if zf[1] != 4 or not 15 <= zf[2] <= 17:  # 16-byte header, 32-128 KiB blocks
                entry.errors.append("zisofs entry (ZF) invalid: listed as stored, not "
                                    "decompressed")
                return
            entry.size, entry.extents, entry.key = zf[3], None, Stored(extents)
            entry.stored = extents
            entry.warnings.append("zisofs")

    def _sections(self, rec: Record) -> list[tuple[int, int]]:
        """A record's data as image byte ranges; an interleaved file (unit size and gap
        in blocks) in its units."""
        base = self.ctx.offset
        if not rec.size:
            return []
        if not rec.unit_size:
            return [(base + rec.extent * self.block, rec.size)]
        out, at, left = [], rec.extent, rec.size
        unit = rec.unit_size * self.block
        while left > 0:
            n = min(unit, left)
            out.append((base + at * self.block, n))
            left -= n
            at += rec.unit_size + rec.gap
        return out

    # -- names ---------------------------------------------------------------------------

    def _name(self, rec: Record, rr: susp.RockRidge | None
              ) -> tuple[str, bytes, bool, list[str], list[str]]:
        """(text, raw bytes, clean, warnings, errors) of a record's name."""
        notes: list[str] = []
        errors: list[str] = []
        if rr is not None:
            if rr.name is not None and rr.name not in (b"", b".", b".."):
                if rr.problems:
                    errors.append(f"Rock Ridge damaged: {'; '.join(rr.problems)}")
                text, clean = decode_name(rr.name, "utf-8")
                if not clean:
                    legacy, clean = decode_name(rr.name, self.ctx.codepage)
                    if clean:
                        text = legacy
                        notes.append("name_in_legacy_codepage")
                return text, rr.name, clean, notes, errors
            if rr.problems:  # no name left: Joliet's, else the ISO name
                raw = self._joliet_name(rec)
                source = "Joliet" if raw is not None else "ISO 9660"
                errors.append(f"Rock Ridge damaged: {'; '.join(rr.problems)}; name from "
                              f"{source}")
                if raw is not None:
                    return (*_joliet(raw), notes, errors)
            # RRIP: a record without NM goes by its ISO name
        elif self.mode == "joliet":
            return (*_joliet(rec.name), notes, errors)
        text, clean = decode_name(rec.name, self.ctx.codepage)
        return (*_plain(text, rec.name, clean, rec.is_dir), notes, errors)

    def _joliet_name(self, rec: Record) -> bytes | None:
        """The Joliet name of the record with the same data (files) or the same file
        extents inside (directories), when exactly one has them."""
        jol = self.found.joliet
        if jol is None:
            return None
        if self._joliet is None:
            self._joliet = ({}, {})
            self._index_joliet(jol.root, jol.block)
        files, dirs = self._joliet
        if rec.is_dir:
            children, _ = read_directory(self.ctx.read, rec, self.block)
            return dirs.get(_contents(children))
        return files.get(rec.extent) if rec.size else None

    def _index_joliet(self, root: Record, block: int) -> None:
        assert self._joliet is not None
        files, dirs = self._joliet
        seen_files: set[int] = set()
        seen_dirs: set[tuple[int, ...]] = set()
        todo, visited = [root], {root.extent}
        while todo and len(visited) < _MAX_JOLIET_DIRS:
            records, _ = read_directory(self.ctx.read, todo.pop(), block)
            for rec in records:
                if rec.is_special:
                    continue
                if rec.is_dir:
                    if rec.extent not in visited:
                        visited.add(rec.extent)
                        todo.append(rec)
                        key = _contents(read_directory(self.ctx.read, rec, block)[0])
                        _unique(dirs, seen_dirs, key, rec.name)
                elif rec.size:
                    _unique(files, seen_files, rec.extent, rec.name)


def _unique(table: dict, seen: set, key: object, name: bytes) -> None:
    """table[key] = name, unless two records share the key (then neither names it)."""
    if key in seen:
        table.pop(key, None)
        return
    seen.add(key)
    if key != ():
        table[key] = name


def _contents(records: list[Record]) -> tuple[int, ...]:
    return tuple(sorted(r.extent for r in records if not r.is_special and not r.is_dir
                        and r.size))


def _all_relocated(tree: Tree, children: list[Record]) -> bool:
    for rec in children:
        if rec.is_special:
            continue
        rr = tree._rr(rec)
        if rr is None or not rr.relocated:
            return False
    return True


def _joliet(raw: bytes) -> tuple[str, bytes, bool]:
    text, clean = decode_name(raw, "utf-16-be")
    return _plain(text, raw, clean, True)


def _plain(text: str, raw: bytes, clean: bool, is_dir: bool) -> tuple[str, bytes, bool]:
    """An ISO or Joliet identifier without its ';version' (and a file's empty extension
    dot)."""
    if ";" in text:
        text = text.rsplit(";", 1)[0]
    if text.endswith(".") and not is_dir:
        text = text[:-1]
    return text, raw, clean


def _groups(records: list[Record]) -> Iterator[tuple[list[Record], str | None]]:
    """The directory's entries: a multi-extent file's records as one group, in order."""
    pending: list[Record] = []
    for rec in records:
        if rec.is_special:
            continue
        if pending and rec.name != pending[0].name:
            yield pending, "multi-extent file without its last section"
            pending = []
        pending.append(rec)
        if not rec.flags & MULTI_EXTENT:
            yield pending, None
            pending = []
    if pending:
        yield pending, "multi-extent file without its last section"
