"""ISO 9660 reader over pycdlib: Joliet names (UTF-16) when present, else Rock Ridge
names, else ISO names decoded in the legacy code page. Extents come from the directory
records; nothing is extracted."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from workbench.identify.model import (
    ExtentFile,
    FileEntry,
    Image,
    Volume,
    decode_name,
    named,
    walk_guard,
)
from workbench.optical.sessions import DESCRIPTORS_AT, SECTOR, read_volume

if TYPE_CHECKING:
    from pycdlib import PyCdlib
    from pycdlib.dates import DirectoryRecordDate
    from pycdlib.dr import DirectoryRecord

# marks (FileEntry warnings) of files that only an older session of a disc holds
OLDER_ONLY = "only_in_older_session"  # no later session's tree has this path
SUPERSEDED = "superseded"  # a later session holds another version under this path


def _date(rec_date: DirectoryRecordDate) -> str | None:
    try:
        tz = timezone(timedelta(minutes=15 * rec_date.gmtoffset))
        return datetime(1900 + rec_date.years_since_1900, rec_date.month,
                        rec_date.day_of_month, rec_date.hour, rec_date.minute,
                        rec_date.second, tzinfo=tz).isoformat()
    except (ValueError, AttributeError, TypeError):
        return None


def _record(iso: PyCdlib, **path: str) -> DirectoryRecord:
    """An ISO 9660 or Joliet directory record (get_record may also give UDF ones)."""
    from pycdlib.dr import DirectoryRecord

    rec = iso.get_record(**path)
    if not isinstance(rec, DirectoryRecord):
        raise ValueError(f"no ISO 9660 directory record for {path}")
    return rec


class IsoReader:
    """A volume's files; on a multi-session disc (volume.sessions) the newest session's
    tree, then what only older sessions hold, marked with OLDER_ONLY or SUPERSEDED and the
    session (session_N, N counting the volume's sessions from 1)."""

    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        self.image, self.volume, self.codepage, self.deadline = image, volume, codepage, deadline
        self.errors: list[str] = []
        self.sessions = volume.sessions or [0]
        self.iso = self._open(self.sessions[-1])
        self.block = self.iso.logical_block_size
        self.joliet = self.iso.has_joliet()
        self.rock_ridge = bool(self.iso.has_rock_ridge())
        pvd = _record(self.iso, iso_path="/").vd
        self.label = pvd.volume_identifier.decode(codepage, "replace").strip()
        self.kind = "iso9660" + ("+joliet" if self.joliet else "") + (
            "+rockridge" if self.rock_ridge else "")

    def _open(self, start: int) -> PyCdlib:
        import pycdlib

        iso = pycdlib.PyCdlib()
        iso.open_fp(io.BufferedReader(ExtentFile(self.image.fd, self._view(start))))
        return iso

    def _view(self, start: int) -> list[tuple[int, int]]:
        """The volume as pycdlib reads it with the session starting at start: pycdlib reads
        descriptors from sector 16, so the session's descriptor set (and the sector after
        it, where pycdlib looks for a version descriptor) appears there; every other sector
        stays where it is, as a session's extents are absolute."""
        offset, size = self.volume.offset, self.volume.size
        if start == 0:
            return [(offset, size)]
        found = read_volume(lambda pos, n: self.image.read(offset + pos, n), start)
        head, span = DESCRIPTORS_AT * SECTOR, ((found.descriptors if found else 1) + 1) * SECTOR
        return [(offset, head), (offset + (start + DESCRIPTORS_AT) * SECTOR, span),
                (offset + head + span, max(0, size - head - span))]

    def walk(self) -> Iterator[FileEntry]:
        held: set[tuple[int, int]] = set()  # file data already listed: (byte start, size)
        files: set[str] = set()
        dirs: set[str] = set()
        for entry in self._tree(self.iso):
            (dirs if entry.is_dir else files).add(entry.path)
            held.update(entry.extents[:1] if entry.extents else ())
            yield entry
        for number in range(len(self.sessions) - 1, 0, -1):  # the newest older one first
            try:
                iso = self._open(self.sessions[number - 1])
            except Exception as exc:  # a damaged older session must not hide the rest
                self.errors.append(f"session {number}: {type(exc).__name__}: {exc}")
                continue
            try:
                for entry in self._tree(iso):
                    if entry.is_dir:
                        if entry.path in dirs:
                            continue
                        dirs.add(entry.path)
                        entry.warnings.append(OLDER_ONLY)
                    else:
                        first = entry.extents[0] if entry.extents else None
                        if first in held or (first is None and entry.path in files):
                            continue  # the same file, carried into a later session's tree
                        held.update([first] if first else [])
                        entry.warnings.append(SUPERSEDED if entry.path in files else OLDER_ONLY)
                        files.add(entry.path)
                    entry.warnings.append(f"session_{number}")
                    yield entry
            finally:
                with contextlib.suppress(Exception):
                    iso.close()

    def _tree(self, iso: PyCdlib) -> Iterator[FileEntry]:
        joliet, rock_ridge = iso.has_joliet(), bool(iso.has_rock_ridge())
        root = _record(iso, joliet_path="/") if joliet else _record(iso, iso_path="/")
        yield from self._walk(root, "", 0, {root.extent_location()}, joliet, rock_ridge)

    def _name(self, rec: DirectoryRecord, joliet: bool, rock_ridge: bool
              ) -> tuple[str, bytes, bool]:
        ident = rec.file_identifier()
        if joliet:
            text, clean = decode_name(ident, "utf-16-be")
        elif rock_ridge and rec.rock_ridge is not None and rec.rock_ridge.name():
            ident = rec.rock_ridge.name()
            text, clean = decode_name(ident, "utf-8")
            return text, ident, clean
        else:
            text, clean = decode_name(ident, self.codepage)
        if ";" in text:
            text = text.rsplit(";", 1)[0]
        if text.endswith(".") and not rec.is_dir():
            text = text[:-1]
        return text, ident, clean

    def _walk(self, directory: DirectoryRecord, parent: str, depth: int,
              visited: set[int], joliet: bool, rock_ridge: bool) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        for rec in directory.children:
            if rec is None or rec.is_dot() or rec.is_dotdot():
                continue
            path, raw, warnings = named(parent, *self._name(rec, joliet, rock_ridge))
            if rec.is_dir():
                yield FileEntry(self.volume.index, path, 0, is_dir=True,
                                modified=_date(rec.date), name_raw=raw, warnings=warnings)
                loc = rec.extent_location()
                if loc in visited:
                    self.errors.append(f"{path}: directory loop")
                    continue
                visited.add(loc)
                yield from self._walk(rec, path, depth + 1, visited, joliet, rock_ridge)
                continue
            size = rec.get_data_length()
            start = self.volume.offset + rec.extent_location() * self.block
            entry = FileEntry(self.volume.index, path, size, modified=_date(rec.date),
                              name_raw=raw, warnings=warnings,
                              extents=[(start, size)] if size else [])
            if start + size > self.volume.offset + self.volume.size:
                entry.errors.append("file data lies beyond the end of the volume")
            yield entry

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a corrupt volume may fail too
            self.iso.close()
