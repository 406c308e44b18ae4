"""Classic HFS (Mac floppies, MO and hard disks) by our own catalog B-tree reader.

Why our own and not machfs: machfs reads the whole volume into memory (so a limit), drops
the Desktop files and resource forks, and gives names already decoded. This reader walks
the catalog's leaf nodes on demand, lists every file (Desktop, Desktop DB/DF and other
invisible files too) with its data fork as image extents (so damage from the rescue map
is counted), and lists each file's resource fork and Finder info as an AppleDouble v2
entry `._<name>` beside it. Names are kept as raw bytes and decoded as MacRoman, or
MacJapanese on a station with a Japanese legacy code page.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from workbench.identify import hfs_appledouble as appledouble
from workbench.identify.hfs_btree import (
    DATA_FORK,
    RESOURCE_FORK,
    BTree,
    HfsVolume,
    extent_record,
)
from workbench.identify.hfs_names import decode_mac, decode_name_of, mac_codec, name_codec
from workbench.identify.model import FileEntry, Image, Volume, named, walk_guard

ROOT_PARENT, ROOT = 1, 2
DIRECTORY, FILE = 1, 2
_MAC_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


def _mac_date(seconds: int | None) -> str | None:
    """Mac dates count local seconds from 1904; the zone is unknown, so shown as UTC."""
    return (_MAC_EPOCH + timedelta(seconds=seconds)).isoformat() if seconds else None


@dataclass
class _Record:
    parent: int
    name: bytes
    kind: int
    data: bytes
    children: list[_Record] = field(default_factory=list)

    @property
    def dir_id(self) -> int:
        return struct.unpack_from(">I", self.data, 6)[0]


class HfsReader:
    def __init__(self, image: Image, volume: Volume, codepage: str,
                 deadline: float | None = None) -> None:
        self.image, self.volume, self.deadline = image, volume, deadline
        self.codec = mac_codec(codepage)
        self.kind = "hfs"
        self.hfs = HfsVolume(image, volume)
        self.errors: list[str] = self.hfs.errors
        self.label = decode_mac(self.hfs.mdb.name, self.codec)[0]
        if self.hfs.mdb.embedded == 0x482B:
            # volumes.py hands the embedded HFS+ volume to its reader; here only when that
            # volume is not where the wrapper says
            self.errors.append("HFS wrapper of an HFS+ volume: only the wrapper is listed")

    def _catalog(self) -> dict[int, _Record]:
        """Directory ID -> directory record with its children, in catalog order."""
        dirs: dict[int, _Record] = {}
        records: list[_Record] = []
        tree = BTree(self.image, self.hfs.catalog)
        for key, data in tree.leaf_records(self.errors, "catalog"):
            if len(key) < 7 or not data:
                continue
            parent = struct.unpack_from(">I", key, 2)[0]
            name = key[7:7 + min(key[6], len(key) - 7)]
            kind = data[0]
            if kind == DIRECTORY and len(data) >= 70:
                rec = _Record(parent, name, kind, data)
                dirs.setdefault(rec.dir_id, rec)
                records.append(rec)
            elif kind == FILE and len(data) >= 102:
                records.append(_Record(parent, name, kind, data))
            if self.deadline is not None:
                walk_guard(self.deadline, 0, "/", self.errors)
        if ROOT not in dirs:  # its record is lost: still list what names it as parent
            self.errors.append("catalog: root directory record is missing")
            dirs[ROOT] = _Record(ROOT_PARENT, b"", DIRECTORY, bytes(6) + struct.pack(">I", ROOT))
        orphans = 0
        for rec in records:
            if rec.kind == DIRECTORY and rec.dir_id == ROOT:
                continue
            if rec.parent in dirs:
                dirs[rec.parent].children.append(rec)
            else:
                orphans += 1
        if orphans:
            self.errors.append(f"{orphans} catalog records have no parent directory")
        return dirs

    def walk(self) -> Iterator[FileEntry]:
        dirs = self._catalog()
        yield from self._walk(dirs[ROOT], "", 0, {ROOT})

    def _walk(self, folder: _Record, parent: str, depth: int,
              visited: set[int]) -> Iterator[FileEntry]:
        if not walk_guard(self.deadline, depth, parent, self.errors):
            return
        for rec in folder.children:
            script = rec.data[46] if rec.kind == DIRECTORY else rec.data[64]
            text, clean, extra = decode_name_of(rec.name, name_codec(script, self.codec))
            path, hexraw, warnings = named(parent, text, rec.name, clean)
            warnings += extra
            if rec.kind == DIRECTORY:
                crdate, mddate = struct.unpack_from(">II", rec.data, 10)
                yield FileEntry(self.volume.index, path, 0, is_dir=True,
                                modified=_mac_date(mddate), created=_mac_date(crdate),
                                name_raw=hexraw, warnings=warnings)
                if rec.dir_id in visited:
                    self.errors.append(f"{path}: directory loop")
                    continue
                visited.add(rec.dir_id)
                yield from self._walk(rec, path, depth + 1, visited)
            else:
                yield from self._file(rec, parent, path, hexraw, warnings, text, clean, extra)

    def _fork(self, file_id: int, fork: int, first: bytes, length: int
              ) -> tuple[list[tuple[int, int]], list[str]]:
        extents = self.hfs.fork_extents(file_id, fork, extent_record(first), length)
        ranges = self.hfs.fork_ranges(extents, length)
        what = "data" if fork == DATA_FORK else "resource"
        if ranges is None:
            return [], [f"{what} fork extents lie outside the volume"]
        if sum(n for _, n in ranges) < length:
            return ranges, [f"{what} fork extents are missing"]
        return ranges, []

    def _file(self, rec: _Record, parent: str, path: str, hexraw: str | None,
              warnings: list[str], text: str, clean: bool, extra: list[str]
              ) -> Iterator[FileEntry]:
        d = rec.data
        file_id, data_len, rsrc_len = (struct.unpack_from(">I", d, 20)[0],
                                       struct.unpack_from(">I", d, 26)[0],
                                       struct.unpack_from(">I", d, 36)[0])
        crdate, mddate = struct.unpack_from(">II", d, 44)
        modified, created = _mac_date(mddate), _mac_date(crdate)
        extents, errors = self._fork(file_id, DATA_FORK, d[74:86], data_len)
        yield FileEntry(self.volume.index, path, data_len, name_raw=hexraw,
                        warnings=warnings, extents=extents, errors=errors, modified=modified,
                        created=created)
        finder_info = d[4:20] + d[56:72]
        if rsrc_len == 0 and not any(finder_info):
            return
        r_extents, r_errors = self._fork(file_id, RESOURCE_FORK, d[86:98], rsrc_len)
        head = appledouble.header(finder_info, rsrc_len)
        raw = appledouble.PREFIX.encode() + rec.name
        ad_path, ad_hex, ad_warn = named(parent, appledouble.PREFIX + text, raw, clean)
        yield FileEntry(self.volume.index, ad_path, len(head) + rsrc_len, name_raw=ad_hex,
                        warnings=[*ad_warn, *extra, "appledouble"], errors=r_errors,
                        key=(head, r_extents), stored=r_extents, modified=modified,
                        created=created)

    def read(self, entry: FileEntry, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The bytes of an AppleDouble entry: its header, then the resource fork."""
        if not isinstance(entry.key, tuple):
            raise TypeError(f"{entry.path}: not an AppleDouble entry of this HFS reader")
        head, ranges = entry.key
        yield head
        for start, n in ranges:
            for pos in range(start, start + n, chunk):
                data = self.image.read(pos, min(chunk, start + n - pos))
                if not data:
                    return
                yield data

