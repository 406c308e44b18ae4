"""Reading a track raw and securely: audio and Mode 2 (video) tracks, 2,352 bytes a sector.

Each chunk is read until two reads agree; where the drive gives C2 error pointers, a read
they flag never counts (the drive says those bytes were interpolated or guessed). A
sector no read returns is zero-filled and named unreadable; one whose reads never agree
keeps the last read and is named unverified. The drive's read offset is corrected: with
an offset of +N samples the drive gives each sample N samples late, so the track is read
N x 4 bytes further on; at the disc's very start and end the missing samples are zero
(no overread), as EAC does.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from workbench.atomic import DiskFull
from workbench.imaging.rescue import Cancelled
from workbench.imaging.sources import ReadError, Source
from workbench.optical.toc import RAW_SECTOR, Track

CHUNK = 27  # sectors a read (63,504 bytes: under the 64 KiB many drives take at once)
SILENCE = bytes(RAW_SECTOR)


@dataclass
class TrackRead:
    """What reading one raw track gave; kept in job.json under tracks."""

    number: int
    file: str
    mode: str
    first_lba: int  # the file's first sector on the disc (the track's pregap included)
    sectors: int
    index1: int  # file sector of the track's INDEX 01
    offset: int = 0  # the drive's read offset corrected, in samples
    digests: dict[str, str] = field(default_factory=dict)
    reads: int = 0  # raw reads made
    unreadable: list[list[int]] = field(default_factory=list)  # [lba, sectors]
    unverified: list[list[int]] = field(default_factory=list)  # [lba, sectors]
    method: str = "two reads agree"
    done: bool = False
    speed_changes: list[str] = field(default_factory=list)  # the drive slowed after errors
    c2_reads: int = 0  # reads the drive's C2 error pointers flagged (not counted as agreeing)
    checksums: dict[str, str] = field(default_factory=dict)  # AccurateRip, CTDB, CRC32

    @property
    def secure(self) -> bool:
        return self.done and not self.unreadable and not self.unverified


def _add(spans: list[list[int]], lba: int, count: int) -> None:
    if spans and spans[-1][0] + spans[-1][1] == lba:
        spans[-1][1] += count
    else:
        spans.append([lba, count])


class TrackReader:
    """Reads raw sectors of one disc through a Source, with read offset correction."""

    def __init__(self, source: Source, offset: int, leadout: int, max_reads: int) -> None:
        self.source, self.shift, self.leadout = source, offset * 4, leadout
        self.max_reads = max(2, max_reads)
        self.reads = 0
        self.speed_changes: list[str] = []
        self.c2_flagged = False  # the last read's C2 pointers flagged an error
        self.c2_reads = 0  # reads whose C2 pointers flagged an error

    def trouble(self, lba: int, what: str) -> None:
        """A sector that failed or whose reads disagree: the drive reads more slowly
        from here on (once a track)."""
        if not self.speed_changes:
            speed = self.source.slow_down()
            if speed:
                self.speed_changes.append(f"read speed lowered to {speed} after {what} at "
                                          f"LBA {lba}")

    def _raw(self, lba: int, count: int) -> bytes:
        """count raw sectors from lba; sectors before LBA 0 or past the lead-out are
        silence (a drive cannot overread them; an image file that holds the pregap
        before LBA 0 gives it)."""
        lo, hi = max(lba, self.source.first_readable), min(lba + count, self.leadout)
        if hi <= lo:
            return SILENCE * count
        self.reads += 1
        data, c2 = self.source.read_raw_c2(lo, hi - lo)
        data = bytes(data)
        if c2 is not None and any(c2):  # the drive itself says these bytes are guesses
            self.c2_flagged = True
        if len(data) != (hi - lo) * RAW_SECTOR:
            raise ReadError(lo * 2048, (hi - lo) * 2048)
        return SILENCE * (lo - lba) + data + SILENCE * (lba + count - hi)

    def _shifted(self, lba: int, count: int) -> bytes:
        """The bytes of sectors lba..lba+count as they are on the disc, the offset
        corrected."""
        if not self.shift:
            return self._raw(lba, count)
        start = lba * RAW_SECTOR + self.shift
        first = start // RAW_SECTOR
        last = -(-(start + count * RAW_SECTOR) // RAW_SECTOR)
        data = self._raw(first, last - first)
        skip = start - first * RAW_SECTOR
        return data[skip:skip + count * RAW_SECTOR]

    def secure(self, lba: int, count: int) -> tuple[bytes, str]:
        """Read until two reads agree: (data, "ok" | "unverified"); ReadError when a
        read fails. A read the drive's C2 pointers flag never counts, agreeing or not."""
        seen: list[bytes] = []
        last = b""
        for _ in range(self.max_reads):
            self.c2_flagged = False
            last = self._shifted(lba, count)
            if self.c2_flagged:
                self.c2_reads += 1
                continue
            if last in seen:
                return last, "ok"
            seen.append(last)
        return last, "unverified"


@contextlib.contextmanager
def _track_file(path: Path, mode: str) -> Iterator[IO[Any]]:
    """A track file open for writing, made durable when done; a full disk is DiskFull
    (the track's record is not written: the next run reads it again)."""
    try:
        with open(path, mode) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull("error.disk_full", path=str(path)) from exc
        raise


def read_track(source: Source, track: Track, first_lba: int, path: Path, leadout: int,
               offset: int, algorithms: Iterable[str], max_reads: int = 5,
               cancel: threading.Event | None = None,
               tick: Callable[[int, int], None] | None = None) -> TrackRead:
    """Read sectors first_lba..track.end of track raw into path (written whole, then
    fsynced). tick(done, total) reports sectors."""
    total = track.end - first_lba
    result = TrackRead(number=track.number, file=path.name, mode=track.mode,
                       first_lba=first_lba, sectors=total, index1=track.start - first_lba,
                       offset=offset)
    hashes = {a: hashlib.new(a) for a in algorithms}
    reader = TrackReader(source, offset, leadout, max_reads)
    cancel = cancel or threading.Event()
    with _track_file(path, "wb") as out:
        os.posix_fallocate(out.fileno(), 0, total * RAW_SECTOR)  # room first
        for lba in range(first_lba, track.end, CHUNK):
            if cancel.is_set():
                raise Cancelled()
            n = min(CHUNK, track.end - lba)
            chunk = _read_chunk(reader, lba, n, result)
            out.write(chunk)
            for h in hashes.values():
                h.update(chunk)
            if tick:
                tick(lba + n - first_lba, total)
    result.reads, result.speed_changes = reader.reads, reader.speed_changes
    result.c2_reads = reader.c2_reads
    result.digests = {a: h.hexdigest() for a, h in hashes.items()}
    result.done = True
    return result


def _read_chunk(reader: TrackReader, lba: int, n: int, result: TrackRead) -> bytes:
    try:
        data, status = reader.secure(lba, n)
    except ReadError:
        reader.trouble(lba, "a read error")
        if n > 1:  # sector by sector: keep what reads, name what does not
            return b"".join(_read_chunk(reader, lba + k, 1, result) for k in range(n))
        _add(result.unreadable, lba, 1)
        return SILENCE
    if status != "ok":
        reader.trouble(lba, "reads that disagree")
        if n > 1:  # which sectors disagree: each one on its own
            return b"".join(_read_chunk(reader, lba + k, 1, result) for k in range(n))
        _add(result.unverified, lba, 1)
    return data


def reread_track(source: Source, prior: dict[str, Any], path: Path, leadout: int,
                 offset: int, algorithms: Iterable[str], max_reads: int = 5,
                 cancel: threading.Event | None = None) -> dict[str, Any]:
    """A retry of a track read before: only its unreadable and unverified sectors are
    read again (by this drive, its offset corrected) and written in place; sectors an
    earlier drive read well are kept, so two drives together may read a whole track.
    Returns the track's new record."""
    first = int(prior["first_lba"])
    doubtful = sorted({lba for lba, n in prior.get("unreadable", []) +
                       prior.get("unverified", []) for lba in range(lba, lba + n)})
    result = TrackRead(**{k: v for k, v in prior.items()
                          if k in TrackRead.__dataclass_fields__})
    result.unreadable, result.unverified = [], []
    reader = TrackReader(source, offset, leadout, max_reads)
    cancel = cancel or threading.Event()
    with _track_file(path, "r+b") as out:
        for lba in doubtful:
            if cancel.is_set():
                raise Cancelled()
            data = _read_chunk(reader, lba, 1, result)
            out.seek((lba - first) * RAW_SECTOR)
            out.write(data)
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            for h in hashes.values():
                h.update(block)
    result.digests = {a: h.hexdigest() for a, h in hashes.items()}
    result.reads += reader.reads
    result.c2_reads += reader.c2_reads
    result.speed_changes = [*result.speed_changes, *reader.speed_changes]
    result.done = True
    return asdict(result)
