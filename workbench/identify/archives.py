"""Members of ZIP, LZH and CAB archives found on a medium: listed and identified like any
file, without extracting anything to disk.

Paths: a member's path is its archive's path, "!/", then its path inside the archive:

    /SETUP/DATA.LZH!/DOC/README.TXT      a member of DATA.LZH
    /a.zip!/inner.cab!/x.dll             a member of an archive inside an archive

(the "!/" separator as in Java's jar: URLs). "!" can occur in real names, so the record's
`container` field, the id of the archive's own record, is what ties a member to its
archive. Member names: see archive_member.member_name (UTF-8 when the archive says so,
else the station's legacy code page, else cp437; raw bytes kept as hex).

Guards: archives nest to Limits.depth; decoded bytes per archive on the medium, per
member and the compression ratio are limited (Limits); a member over a limit is listed
with an error, not decoded. A member whose CRC (ZIP, LZH) or data block checksums (CAB)
fail is listed as damaged, its bytes not identified.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from workbench.identify import archive_cab, archive_lzh, archive_zip
from workbench.identify.archive_lzh_decode import LzhError
from workbench.identify.archive_member import Limits, Member

__all__ = ["SEPARATOR", "Found", "Limits", "expand", "kind_of", "member_records", "source"]
from workbench.identify.formats import BUFSIZE
from workbench.identify.model import ExtentFile, FileEntry, Image
from workbench.identify.pool import Job
from workbench.identify.report import FileRecord

SEPARATOR = "!/"
INLINE = 16 << 20  # members up to this size travel to fido with their bytes (containers)
_KINDS: tuple[tuple[str, Callable[[bytes], bool],
                    Callable[[IO[bytes], str, Limits], Iterator[Member]]], ...] = (
    ("zip", archive_zip.is_zip, archive_zip.members),
    ("lzh", archive_lzh.is_lzh, archive_lzh.members),
    ("cab", archive_cab.is_cab, archive_cab.members),
)
_DAMAGE = (zipfile.BadZipFile, LzhError, archive_cab.CabError, zlib.error, EOFError,
           OSError, ValueError, IndexError, KeyError, RuntimeError, NotImplementedError)


def kind_of(head: bytes) -> str | None:
    """zip | lzh | cab when the first bytes are an archive's, else None."""
    return next((name for name, test, _ in _KINDS if test(head)), None)


@dataclass
class Found:
    member: Member
    parent: int  # index (in the order yielded) of the member holding it; -1: the archive
    path: str  # inside the archive on the medium, nested archives joined by "!/"


def expand(stream: IO[bytes], kind: str, codepage: str, limits: Limits,
           errors: Callable[[int, str], None], depth: int = 1, parent: int = -1,
           prefix: str = "", counter: list[int] | None = None) -> Iterator[Found]:
    """Every member of the archive, members of archives inside it after each of those.
    A failure part-way is reported through errors(parent, text); members found stay."""
    counter = [0] if counter is None else counter
    lister = next(f for name, _, f in _KINDS if name == kind)
    try:
        for member in lister(stream, codepage, limits):
            index = counter[0]
            counter[0] += 1
            inner = kind_of(member.data[:64]) if member.data else None
            if inner is not None and depth >= limits.depth:  # said before it is recorded
                member.warnings.append("nested_archive_not_expanded")
            yield Found(member, parent, prefix + member.path)
            if inner is None or member.data is None or depth >= limits.depth:
                continue
            yield from expand(io.BytesIO(member.data), inner, codepage, limits, errors,
                              depth + 1, index, prefix + member.path + SEPARATOR, counter)
    except _DAMAGE as exc:
        errors(parent, f"{kind} archive listing stopped: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def source(image: Image, entry: FileEntry, data: bytes | None,
           read: Callable[[], Iterable[bytes]] | None) -> Iterator[IO[bytes] | None]:
    """A seekable view of the archive file: its bytes when they were kept, its extents
    in the image, or a spooled copy read again from the reader (None: no way to read)."""
    if data is not None:
        yield io.BytesIO(data)
    elif entry.extents is not None:
        with io.BufferedReader(ExtentFile(image.fd, entry.extents)) as view:
            yield view
    elif read is None:
        yield None
    else:
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
            for chunk in read():
                spool.write(chunk)
            spool.seek(0)
            yield spool


def member_records(archive: FileRecord, stream: IO[bytes], kind: str, codepage: str,
                   digests: tuple[str, ...], next_id: Callable[[], int],
                   limits: Limits | None = None) -> Iterator[tuple[FileRecord, Job | None]]:
    """A record per member (and a fido job for each member whose bytes were read). The
    caller appends each record before taking the next: ids come from next_id()."""
    records: list[FileRecord] = []

    def failed(parent: int, text: str) -> None:
        (archive if parent < 0 else records[parent]).errors.append(text)

    for found in expand(stream, kind, codepage, limits or Limits(), failed):
        m = found.member
        holder = archive if found.parent < 0 else records[found.parent]
        rec = FileRecord(next_id(), archive.volume, archive.path + SEPARATOR + found.path,
                         m.size, m.modified, allocated=archive.allocated,
                         name_raw_hex=m.name_raw, warnings=list(m.warnings),
                         errors=list(m.errors), container=holder.id)
        records.append(rec)
        if m.data is None or m.crc_ok is False:  # bytes that fail their check: none kept
            rec.damaged = True if m.crc_ok is False else holder.damaged
            yield rec, None
            continue
        hashes = {name: hashlib.new(name, m.data) for name in digests}
        rec.sha256 = hashes["sha256"].hexdigest()
        rec.md5 = hashes["md5"].hexdigest() if "md5" in hashes else ""
        # a checked CRC vouches for the bytes even when the archive lies on bad sectors
        rec.damaged = False if m.crc_ok else (None if holder.damaged is not False else False)
        name = found.path.rsplit("/", 1)[-1]
        data = m.data if len(m.data) <= INLINE else None
        yield rec, Job(name, len(m.data), m.data[:BUFSIZE], m.data[-BUFSIZE:], data=data)
