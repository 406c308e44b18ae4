"""Audio CD verification: AccurateRip and CUETools DB (CTDB) checksums and disc IDs.

A track, as AccurateRip, EAC and CUETools count it, runs from its INDEX 01 to the next
audio track's INDEX 01 (a pregap belongs to the track before it) or to its session's
lead-out; the hidden audio before track 1's INDEX 01 is not part of any track. Audio is
16-bit stereo little-endian: one 32-bit sample word per stereo frame, 588 a sector.

- AccurateRip v1: the sum of position * sample over the track (positions from 1),
  modulo 2**32; v2 adds the high 32 bits of each 64-bit product. The first track skips
  its first 5 * 588 - 1 samples and the last track its last 5 * 588 (drive offsets
  make them unreliable). The database also holds a v1-style sum of the track's sector
  450 alone (positions 1 to 588), used to find a pressing's offset.
- CTDB: a plain CRC-32 of the whole disc's audio, less the first 10 sectors and the last
  10 sectors plus the disc's sample count modulo 10 sectors (CUETools' CDRepair strides:
  CUETools.AccurateRip/CDRepair.cs and AccurateRip.cs CTDBCRC).
- Copy CRC: a plain CRC-32 of each track, as EAC's log prints it.

The sums are computed in pure Python (numpy is not a dependency): 0.04 to 0.07 s a MB
measured (15 to 25 MB/s), 30 to 55 s for a 74-minute disc: faster than a 52x drive reads
(7.8 MB/s), slower than a CUE/BIN image is copied.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import count
from operator import mul

import numpy as np

from workbench.errors import ExitCode, WorkbenchError
from workbench.optical.toc import MSF_OFFSET, RAW_SECTOR, SAMPLES_PER_SECTOR, Disc

SAMPLE_BYTES = 4
AR_SKIP_START = 5 * SAMPLES_PER_SECTOR - 1  # samples the first track leaves out
AR_SKIP_END = 5 * SAMPLES_PER_SECTOR  # samples the last track leaves out
AR_FRAME = 450  # the track sector whose sum the database keeps beside the track's
CTDB_STRIDE = 10 * SAMPLES_PER_SECTOR  # CUETools' parity stride, in samples
AR_URL = "http://www.accuraterip.com/accuraterip/"
CHUNK_SECTORS = 256  # read size for a whole disc: ~600 KB, small enough for the sum lists
_BLOCK = 1 << 22  # samples multiplied at a time (32 MiB of products)
_MASK = 0xFFFFFFFF

# A function giving `count` raw 2352-byte sectors from an LBA, as a drive reads them.
ReadSectors = Callable[[int, int], bytes]


# -- the disc as AccurateRip sees it -----------------------------------------------------


@dataclass(frozen=True)
class AudioSpan:
    """An audio track as AccurateRip counts it: INDEX 01 to the next audio INDEX 01."""

    number: int  # the track number on the disc
    start: int  # LBA of INDEX 01
    sectors: int

    @property
    def end(self) -> int:
        return self.start + self.sectors

    @property
    def samples(self) -> int:
        return self.sectors * SAMPLES_PER_SECTOR


def audio_spans(disc: Disc) -> list[AudioSpan]:
    """The disc's audio tracks in order, each running to the next audio track of its
    session (pregaps included) or to its own end (a session's lead-out, a data track)."""
    tracks = sorted(disc.tracks, key=lambda t: t.start)
    spans = []
    for i, t in enumerate(tracks):
        if not t.audio:
            continue
        nxt = tracks[i + 1] if i + 1 < len(tracks) else None
        end = nxt.start if nxt and nxt.audio and nxt.session == t.session else t.end
        spans.append(AudioSpan(t.number, t.start, end - t.start))
    return spans


@dataclass(frozen=True)
class DiscIds:
    """The three numbers an AccurateRip entry is filed under."""

    tracks: int  # audio tracks
    id1: int
    id2: int
    cddb: int

    @property
    def name(self) -> str:
        return f"dBAR-{self.tracks:03d}-{self.id1:08x}-{self.id2:08x}-{self.cddb:08x}.bin"

    @property
    def path(self) -> str:
        """The entry's path under AR_URL: the last three hex digits of id1, reversed."""
        return f"{self.id1 & 15:x}/{self.id1 >> 4 & 15:x}/{self.id1 >> 8 & 15:x}/{self.name}"

    @property
    def url(self) -> str:
        return AR_URL + self.path


def cddb_id(disc: Disc) -> int:
    """The CDDB/FreeDB disc id: every track counts, data tracks too, and the disc's
    last lead-out (whole seconds, as freedb rounds them)."""
    tracks = sorted(disc.tracks, key=lambda t: t.start)
    if not tracks:
        raise ValueError("a disc without tracks has no CDDB id")
    digits = sum(sum(map(int, str((t.start + MSF_OFFSET) // 75))) for t in tracks)
    seconds = disc.leadout // 75 - tracks[0].start // 75
    return ((digits % 255) << 24 | seconds << 8 | len(tracks)) & _MASK


def disc_ids(disc: Disc) -> DiscIds:
    """AccurateRip's disc ids as CUETools computes them (AccurateRip.cs,
    CalculateAccurateRipId): the audio tracks' starts, weighted by their order among
    the audio tracks, and the disc's last lead-out, so an Enhanced CD's data session
    moves the lead-out term although the data track itself is not summed."""
    spans = audio_spans(disc)
    if not spans:
        raise ValueError("a disc without audio tracks has no AccurateRip id")
    id1 = sum(s.start for s in spans) + disc.leadout
    id2 = sum(max(s.start, 1) * n for n, s in enumerate(spans, 1))
    id2 += max(disc.leadout, 1) * (len(spans) + 1)
    return DiscIds(len(spans), id1 & _MASK, id2 & _MASK, cddb_id(disc))


def ctdb_toc_id(disc: Disc) -> str:
    """CUETools DB's TOC id (CDImage.cs, TOCID): SHA-1 over the audio tracks' starts
    after the first and the audio's end, relative to the first start, as %08X, padded
    with zeros to 100 entries; base64 with + / = written as . _ -."""
    spans = audio_spans(disc)
    if not spans:
        raise ValueError("a disc without audio tracks has no CTDB TOC id")
    origin = spans[0].start
    text = "".join(f"{s.start - origin:08X}" for s in spans[1:])
    text += f"{spans[-1].end - origin:08X}" + "0" * 8 * max(0, 100 - len(spans))
    digest = base64.b64encode(hashlib.sha1(text.encode("ascii")).digest()).decode("ascii")
    return digest.replace("+", ".").replace("/", "_").replace("=", "-")


# -- checksums ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackChecksums:
    number: int
    v1: int  # AccurateRip v1
    v2: int  # AccurateRip v2
    frame450: int | None  # AccurateRip's sum of sector 450; None when the track is shorter
    crc32: int  # EAC's Copy CRC of the whole track

    def to_dict(self) -> dict[str, str]:
        """As a job record keeps them: hex, as EAC's and CUETools' logs print them."""
        return {"accuraterip_v1": f"{self.v1:08x}", "accuraterip_v2": f"{self.v2:08x}",
                "crc32": f"{self.crc32:08x}",
                "frame450": "" if self.frame450 is None else f"{self.frame450:08x}"}


class TrackSums:
    """One track's checksums, fed its audio bytes in order, in chunks of any size."""

    def __init__(self, number: int, samples: int, first: bool, last: bool) -> None:
        self.number, self.samples = number, samples
        # AccurateRip's window, in 1-based sample positions within the track
        self._lo = AR_SKIP_START + 1 if first else 1
        self._hi = samples - AR_SKIP_END if last else samples
        self._frame = AR_FRAME * SAMPLES_PER_SECTOR  # 0-based start of sector 450
        self._pos = 0  # samples taken so far
        self._rest = b""  # a partial sample word carried to the next chunk
        self._v1 = self._hi_sum = self._frame450 = 0
        self._crc = 0

    def update(self, data: bytes | memoryview) -> None:
        self._crc = zlib.crc32(data, self._crc)
        if self._rest:
            data = self._rest + bytes(data)
        whole = len(data) - len(data) % SAMPLE_BYTES
        self._rest = bytes(data[whole:])
        words = memoryview(data)[:whole].cast("I")
        first = self._pos + 1  # the position of words[0]
        self._pos += len(words)
        if self._pos > self.samples:
            raise ValueError(f"track {self.number}: more than {self.samples} samples")
        lo, hi = max(self._lo, first), min(self._hi, self._pos)
        if lo <= hi:
            # one product array serves both sums: v1 takes them whole, v2 adds their
            # high words (sum of lows + sum of highs = v1 + sum of highs, mod 2**32).
            # A sample (< 2**32) times a position (< 2**32) fits 64 bits; sums wrap at
            # 2**64, which keeps them right modulo 2**32, all that is kept.
            samples = np.frombuffer(words, dtype="<u4")
            for at in range(lo, hi + 1, _BLOCK):
                end = min(at + _BLOCK, hi + 1)
                products = np.multiply(samples[at - first:end - first],
                                       np.arange(at, end, dtype=np.uint64), dtype=np.uint64)
                self._v1 += int(products.sum(dtype=np.uint64))
                self._hi_sum += int((products >> np.uint64(32)).sum(dtype=np.uint64))
        a, b = max(self._frame, first - 1), min(self._frame + SAMPLES_PER_SECTOR, self._pos)
        if a < b:  # sector 450, positions counted from 1 within it
            part = words[a - first + 1:b - first + 1]
            self._frame450 += sum(map(mul, part, count(a - self._frame + 1)))

    def result(self) -> TrackChecksums:
        if self._pos != self.samples or self._rest:
            raise ValueError(f"track {self.number}: {self._pos} of {self.samples} samples")
        long_enough = self.samples >= (AR_FRAME + 1) * SAMPLES_PER_SECTOR
        return TrackChecksums(self.number, self._v1 & _MASK, (self._v1 + self._hi_sum) & _MASK,
                              self._frame450 & _MASK if long_enough else None, self._crc)


def track_checksums(data: bytes, index: int = 1, count: int = 1,
                    number: int | None = None) -> TrackChecksums:
    """The checksums of one whole track's bytes, INDEX 01 to the next audio track's
    INDEX 01: the index-th of the disc's `count` audio tracks (AccurateRip trims the
    first and the last). number: its track number, if not index."""
    sums = TrackSums(index if number is None else number, len(data) // SAMPLE_BYTES,
                     index == 1, index == count)
    sums.update(data)
    return sums.result()


def ctdb_window(samples: int) -> tuple[int, int]:
    """The samples of a disc's audio the CTDB CRC covers: [start, end)."""
    return CTDB_STRIDE, samples - CTDB_STRIDE - samples % CTDB_STRIDE


@dataclass(frozen=True)
class DiscChecksums:
    ids: DiscIds
    ctdb_toc_id: str
    ctdb_crc: int
    tracks: list[TrackChecksums]

    def to_dict(self) -> dict[str, object]:
        return {"accuraterip_id": self.ids.name, "cddb_id": f"{self.ids.cddb:08x}",
                "ctdb_toc_id": self.ctdb_toc_id, "ctdb_crc": f"{self.ctdb_crc:08x}",
                "tracks": [{"number": t.number, **t.to_dict()} for t in self.tracks]}


def checksum_disc(disc: Disc, read_sectors: ReadSectors, offset: int = 0,
                  progress: Callable[[int], None] | None = None) -> DiscChecksums:
    """Every audio track's checksums and the disc's CTDB CRC, reading the audio once.
    read_sectors(lba, n) gives raw sectors; offset (samples) is the drive's read offset,
    corrected here (0 for an image already corrected). progress gets sectors done."""
    spans = audio_spans(disc)
    if not spans:
        raise ValueError("a disc without audio tracks has no AccurateRip checksums")
    if offset:
        read_sectors = offset_corrected(read_sectors, offset, audio_end(disc))
    disc_samples = sum(s.samples for s in spans)
    lo, hi = ctdb_window(disc_samples)
    ctdb = 0
    pos = 0  # samples of the disc's audio done
    tracks = []
    for i, span in enumerate(spans):
        sums = TrackSums(span.number, span.samples, i == 0, i == len(spans) - 1)
        for lba in range(span.start, span.end, CHUNK_SECTORS):
            n = min(CHUNK_SECTORS, span.end - lba)
            data = read_sectors(lba, n)
            if len(data) != n * RAW_SECTOR:
                raise ValueError(f"read {len(data)} bytes at LBA {lba}, not {n} sectors")
            sums.update(data)
            a, b = max(lo, pos), min(hi, pos + n * SAMPLES_PER_SECTOR)
            if a < b:
                ctdb = zlib.crc32(memoryview(data)[(a - pos) * 4:(b - pos) * 4], ctdb)
            pos += n * SAMPLES_PER_SECTOR
            if progress:
                progress(n)
        tracks.append(sums.result())
    return DiscChecksums(disc_ids(disc), ctdb_toc_id(disc), ctdb, tracks)


# -- drive read offsets ------------------------------------------------------------------

# Common drives' read offsets in samples, from AccurateRip's drive offset list as the
# redumper project embeds it (github.com/superg/redumper, offsets.ixx, commit 2ab9a423);
# keys as the drive's INQUIRY gives vendor and product, spaces collapsed. A drive not
# listed is looked up at accuraterip.com/driveoffsets.htm and set per drive.
DRIVE_OFFSETS: dict[tuple[str, str], int] = {
    ("ASUS", "DRW-24B1ST"): 6,
    ("ASUS", "DRW-24D5MT"): 6,
    ("ASUS", "SDRW-08D2S-U"): 6,
    ("HL-DT-ST", "BD-RE BH16NS40"): 6,
    ("HL-DT-ST", "BD-RE WH16NS40"): 6,
    ("HL-DT-ST", "DVDRAM GH24NSB0"): 6,
    ("HL-DT-ST", "DVDRAM GH24NSC0"): 6,
    ("HL-DT-ST", "DVDRAM GH24NSD1"): 6,
    ("HL-DT-ST", "DVDRAM GP57EB40"): 6,
    ("HL-DT-ST", "DVDRAM GP60NB50"): 6,
    ("HL-DT-ST", "DVDRAM GT80N"): 102,
    ("hp", "DVD-ROM TS-H353C"): 6,
    ("Optiarc", "DVD RW AD-7280S"): 48,
    ("PIONEER", "BD-RW BDR-209D"): 667,
    ("PIONEER", "BD-RW BDR-XD05"): 667,
    ("PLEXTOR", "CD-R PX-W4824A"): 98,
    ("PLEXTOR", "CD-R PX-W8432T"): 355,
    ("PLEXTOR", "DVDR PX-712A"): 30,
    ("PLEXTOR", "DVDR PX-716A"): 30,
    ("PLEXTOR", "DVDR PX-760A"): 30,
    ("PLEXTOR", "DVDR PX-L890SA"): 6,
    ("TSSTcorp", "CDDVDW SE-208AB"): 6,
    ("TSSTcorp", "CDDVDW SH-224DB"): 6,
    ("TSSTcorp", "DVD-ROM TS-H353C"): 6,
}


def drive_offset(vendor: str, product: str) -> int | None:
    """The read offset of a listed drive, or None. INQUIRY strings are space-padded."""
    def key(s: str) -> str:
        return " ".join(s.split()).casefold()

    wanted = (key(vendor), key(product))
    for (v, p), offset in DRIVE_OFFSETS.items():
        if (key(v), key(p)) == wanted:
            return offset
    return None


def shift_by_offset(read_sectors: ReadSectors, start_sample: int, count: int, offset: int,
                    *, first_lba: int = 0, end_lba: int | None = None) -> bytes:
    """`count` samples of the disc from sample `start_sample` (LBA * 588), corrected for
    a drive whose read offset is `offset` samples: a positive offset delivers samples
    late, so the disc's sample p is the drive's p + offset. Samples the drive cannot
    give (before first_lba, or from end_lba: the lead-in and lead-out) are zero, as EAC
    fills them without overreading."""
    lo = start_sample + offset
    hi = lo + count
    floor = first_lba * SAMPLES_PER_SECTOR
    ceiling = hi if end_lba is None else end_lba * SAMPLES_PER_SECTOR
    a, b = max(lo, floor), min(hi, ceiling)
    if a >= b:
        return bytes(count * SAMPLE_BYTES)
    first = a // SAMPLES_PER_SECTOR
    last = -(-b // SAMPLES_PER_SECTOR)
    data = read_sectors(first, last - first)
    skip = a - first * SAMPLES_PER_SECTOR
    body = data[skip * SAMPLE_BYTES:(skip + b - a) * SAMPLE_BYTES]
    return bytes((a - lo) * SAMPLE_BYTES) + body + bytes((hi - b) * SAMPLE_BYTES)


def offset_corrected(read_sectors: ReadSectors, offset: int, end_lba: int,
                     first_lba: int = 0) -> ReadSectors:
    """read_sectors with the drive's read offset corrected (see shift_by_offset)."""
    def read(lba: int, n: int) -> bytes:
        return shift_by_offset(read_sectors, lba * SAMPLES_PER_SECTOR,
                               n * SAMPLES_PER_SECTOR, offset,
                               first_lba=first_lba, end_lba=end_lba)
    return read


def audio_end(disc: Disc) -> int:
    """The lead-out that ends the disc's audio (the first session's, on an Enhanced CD):
    where a drive stops giving audio samples."""
    last = audio_spans(disc)[-1]
    for s in disc.sessions:
        if s.first_track <= last.number <= s.last_track:
            return s.leadout
    return last.end


# -- the AccurateRip database ------------------------------------------------------------


@dataclass(frozen=True)
class ArTrack:
    confidence: int  # how many rips agreed
    crc: int  # their v1 or v2 CRC
    frame450: int


@dataclass(frozen=True)
class ArSubmission:
    """One pressing's (or one CRC version's) record in a dBAR file."""

    id1: int
    id2: int
    cddb: int
    tracks: tuple[ArTrack, ...]


def parse_dbar(data: bytes) -> list[ArSubmission]:
    """A dBAR file: records of a header (track count byte, id1, id2, cddb id: 32-bit
    little-endian) and per track a confidence byte, the CRC and the sector-450 sum."""
    out = []
    pos = 0
    while pos < len(data):
        if pos + 13 > len(data):
            raise ValueError(f"dBAR record header cut short at byte {pos}")
        n = data[pos]
        id1, id2, cddb = struct.unpack_from("<III", data, pos + 1)
        pos += 13
        if pos + 9 * n > len(data):
            raise ValueError(f"dBAR record of {n} tracks cut short at byte {pos}")
        tracks = tuple(ArTrack(c, crc, f450) for c, crc, f450 in
                       struct.iter_unpack("<BII", data[pos:pos + 9 * n]))
        pos += 9 * n
        out.append(ArSubmission(id1, id2, cddb, tracks))
    return out


class Verdict(StrEnum):
    ACCURATE = "accurate"
    NOT_IN_DATABASE = "not_in_database"
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class TrackVerdict:
    number: int
    verdict: str  # a Verdict value
    v1_confidence: int = 0  # confidence summed over records holding our v1 CRC
    v2_confidence: int = 0
    total: int = 0  # confidence of every record for this track

    @property
    def confidence(self) -> int:
        return self.v1_confidence + self.v2_confidence

    @property
    def versions(self) -> str:
        return "+".join(v for v, c in (("v1", self.v1_confidence),
                                       ("v2", self.v2_confidence)) if c)

    def __str__(self) -> str:
        if self.verdict == Verdict.ACCURATE:
            return f"accurate (confidence {self.confidence}, {self.versions})"
        return "not in database" if self.verdict == Verdict.NOT_IN_DATABASE else "mismatch"


def match(crcs: Sequence[TrackChecksums], records: Sequence[ArSubmission]) -> list[TrackVerdict]:
    """Each track's verdict against a dBAR file's records (those of another track count
    describe another disc and are left out)."""
    records = [r for r in records if len(r.tracks) == len(crcs)]
    out = []
    for i, ours in enumerate(crcs):
        entries = [r.tracks[i] for r in records]
        v1 = sum(e.confidence for e in entries if e.crc == ours.v1)
        v2 = sum(e.confidence for e in entries if e.crc == ours.v2 and ours.v2 != ours.v1)
        total = sum(e.confidence for e in entries)
        verdict = (Verdict.ACCURATE if v1 or v2 else
                   Verdict.MISMATCH if total else Verdict.NOT_IN_DATABASE)
        out.append(TrackVerdict(ours.number, verdict.value, v1, v2, total))
    return out


class LookupFailed(WorkbenchError):
    """The AccurateRip server could not be asked, or answered something unreadable."""

    exit_code = ExitCode.FAILED


Fetch = Callable[[str], bytes | None]


def fetch_url(url: str, timeout: float = 10) -> bytes | None:
    """The body at url, or None when the server has no such entry (HTTP 404)."""
    request = urllib.request.Request(url, headers={"User-Agent": "migration-workbench"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise LookupFailed("error.accuraterip_lookup", url=url, reason=f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LookupFailed("error.accuraterip_lookup", url=url, reason=str(reason)) from exc


def lookup(disc: Disc, crcs: Sequence[TrackChecksums], fetch: Fetch | None = None,
           timeout: float = 10) -> list[TrackVerdict]:
    """Ask AccurateRip about the disc and judge each track. fetch(url) gives the body,
    or None for "no such entry" (default: HTTP with the timeout)."""
    url = disc_ids(disc).url
    body = fetch(url) if fetch else fetch_url(url, timeout)
    if not body:
        return [TrackVerdict(c.number, Verdict.NOT_IN_DATABASE.value) for c in crcs]
    try:
        records = parse_dbar(body)
    except ValueError as exc:
        raise LookupFailed("error.accuraterip_lookup", url=url, reason=str(exc)) from exc
    return match(crcs, records)

