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

if TYPE_CHECKING:
    from pycdlib.dates import DirectoryRecordDate
    from pycdlib.dr import DirectoryRecord


def _date(rec_date: DirectoryRecordDate) -> str | None:
    try:
        tz = timezone(timedelta(minutes=15 * rec_date.gmtoffset))
        return datetime(1900 + rec_date.years_since_1900, rec_date.month,
                        rec_date.day_of_month, rec_date.hour, rec_date.minute,
                        rec_date.second, tzinfo=tz).isoformat()
    except (ValueError, AttributeError, TypeError):
        return None


class IsoReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        import pycdlib

        self.image, self.volume, self.codepage, self.deadline = image, volume, codepage, deadline
        self.errors: list[str] = []
        self.iso = pycdlib.PyCdlib()
        self.iso.open_fp(io.BufferedReader(ExtentFile(image.fd, [(volume.offset, volume.size)])))
        self.block = self.iso.logical_block_size
        self.joliet = self.iso.has_joliet()
        self.rock_ridge = bool(self.iso.has_rock_ridge())
        pvd = self._record(iso_path="/").vd
        self.label = pvd.volume_identifier.decode(codepage, "replace").strip()
        self.kind = "iso9660" + ("+joliet" if self.joliet else "") + (
            "+rockridge" if self.rock_ridge else "")

    def _record(self, **path: str) -> DirectoryRecord:
        """An ISO 9660 or Joliet directory record (get_record may also give UDF ones)."""
        from pycdlib.dr import DirectoryRecord

        rec = self.iso.get_record(**path)
        if not isinstance(rec, DirectoryRecord):
            raise ValueError(f"no ISO 9660 directory record for {path}")
        return rec

    def _name(self, rec: DirectoryRecord) -> tuple[str, bytes, bool]:
        ident = rec.file_identifier()
        if self.joliet:
            text, clean = decode_name(ident, "utf-16-be")
        elif self.rock_ridge and rec.rock_ridge is not None and rec.rock_ridge.name():
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

    def walk(self) -> Iterator[FileEntry]:
        root = self._record(joliet_path="/") if self.joliet else self._record(iso_path="/")
        yield from self._walk(root, "", 0, {root.extent_location()})

    def _walk(self, directory: DirectoryRecord, parent: str, depth: int,
              visited: set[int]) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        for rec in directory.children:
            if rec is None or rec.is_dot() or rec.is_dotdot():
                continue
            path, raw, warnings = named(parent, *self._name(rec))
            if rec.is_dir():
                yield FileEntry(self.volume.index, path, 0, is_dir=True,
                                modified=_date(rec.date), name_raw=raw, warnings=warnings)
                loc = rec.extent_location()
                if loc in visited:
                    self.errors.append(f"{path}: directory loop")
                    continue
                visited.add(loc)
                yield from self._walk(rec, path, depth + 1, visited)
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
