"""ISO 9660 reader: the directory records read straight from the image (iso_records,
iso_susp, iso_tree), names from Rock Ridge, else Joliet, else ISO names in the legacy code
page. One bad record, directory or continuation area is an error of that entry (or
directory), never the loss of the volume. Extents come from the directory records;
zisofs files are decompressed as they are read (iso_zisofs); nothing is extracted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from workbench.identify import iso_zisofs
from workbench.identify.iso_records import DescriptorSet, read_descriptors
from workbench.identify.iso_tree import Context, Stored, Tree
from workbench.identify.model import FileEntry, Image, Volume

# marks (FileEntry warnings) of files that only an older session of a disc holds
OLDER_ONLY = "only_in_older_session"  # no later session's tree has this path
SUPERSEDED = "superseded"  # a later session holds another version under this path


def _first(entry: FileEntry) -> tuple[int, int] | None:
    """Where a file's data starts in the image (a zisofs file: its stored bytes)."""
    extents = entry.key.extents if isinstance(entry.key, Stored) else entry.extents
    return extents[0] if extents else None


class IsoReader:
    """A volume's files; on a multi-session disc (volume.sessions) the newest session's
    tree, then what only older sessions hold, marked with OLDER_ONLY or SUPERSEDED and the
    session (session_N, N counting the volume's sessions from 1)."""

    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        self.image, self.volume, self.codepage, self.deadline = image, volume, codepage, deadline
        self.errors: list[str] = []
        self.sessions = volume.sessions or [0]
        self.ctx = Context(self._read, volume.offset, volume.size, volume.index, codepage,
                           deadline, self.errors)
        found = self._descriptors(self.sessions[-1], len(self.sessions))
        if found.primary is None and found.joliet is None:
            raise ValueError("; ".join(found.problems) or "no ISO 9660 volume descriptor")
        self.tree = Tree(self.ctx, found)
        desc = found.primary or found.joliet
        assert desc is not None
        codec = codepage if found.primary is not None else "utf-16-be"
        self.label = desc.label.decode(codec, "replace").strip(" \0")
        self.kind = "iso9660" + ("+joliet" if found.joliet else "") + (
            "+rockridge" if self.tree.mode == "rockridge" else "")

    def _read(self, pos: int, size: int) -> bytes:
        if pos < 0 or pos >= self.volume.size:
            return b""
        return self.image.read(self.volume.offset + pos, min(size, self.volume.size - pos))

    def _descriptors(self, start: int, number: int) -> DescriptorSet:
        """The session's descriptors. A path table outside the session's volume is an
        error of the volume; the session is still listed (the walk reads directory
        records, never the path table)."""
        found = read_descriptors(self._read, start)
        prefix = f"session {number}: " if len(self.sessions) > 1 else ""
        for desc in (found.primary, found.joliet):
            if desc is None:
                continue
            at, size = desc.path_table
            blocks = -(-size // desc.block) if size >= 0 else -1
            if blocks < 0 or at + blocks > start + desc.space:
                # the walk never reads the path table: the session is still listed
                problem = f"path table outside the volume (block {at}, {size} bytes)"
                self.errors.append(prefix + problem)
        return found

    def walk(self) -> Iterator[FileEntry]:
        held: set[tuple[int, int]] = set()  # file data already listed: (byte start, size)
        files: set[str] = set()
        dirs: set[str] = set()
        for entry in self.tree.entries():
            (dirs if entry.is_dir else files).add(entry.path)
            first = _first(entry)
            held.update([first] if first else [])
            yield entry
        for number in range(len(self.sessions) - 1, 0, -1):  # the newest older one first
            ctx = replace(self.ctx, errors=[])  # this session's errors, said as its own
            try:
                tree = Tree(ctx, self._descriptors(self.sessions[number - 1], number))
            except Exception as exc:  # a damaged older session must not hide the rest
                self.errors.append(f"session {number}: {type(exc).__name__}: {exc}")
                continue
            try:
                yield from self._older(tree, number, held, files, dirs)
            finally:
                self.errors.extend(f"session {number}: {e}" for e in ctx.errors)

    def _older(self, tree: Tree, number: int, held: set[tuple[int, int]], files: set[str],
               dirs: set[str]) -> Iterator[FileEntry]:
        """What an older session's tree holds that no later one listed, marked."""
        for entry in tree.entries():
            if entry.is_dir:
                if entry.path in dirs:
                    continue
                dirs.add(entry.path)
                entry.warnings.append(OLDER_ONLY)
            else:
                first = _first(entry)
                if first in held or (first is None and entry.path in files):
                    continue  # the same file, carried into a later session's tree
                held.update([first] if first else [])
                entry.warnings.append(SUPERSEDED if entry.path in files else OLDER_ONLY)
                files.add(entry.path)
            entry.warnings.append(f"session_{number}")
            yield entry

    def read(self, entry: FileEntry) -> Iterator[bytes]:
        """A zisofs file's real bytes (the only entries listed without extents)."""
        if isinstance(entry.key, Stored):
            yield from iso_zisofs.chunks(self.image.fd, entry.key.extents)
