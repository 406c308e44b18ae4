"""SuperCard Pro (.scp) flux images, as SuperCard Pro and Greaseweazle write them.

Layout (SCP image specification; little-endian unless said):
  0x00  "SCP", version, disk type, revolutions per track, start track, end track,
        flags, cell width (0 = 16 bits), heads (0 both sides, 1 side 0 only, 2 side 1
        only), resolution (a tick is 25 ns * (n + 1)), checksum (u32: sum of the bytes
        from 0x10 to the end)
  0x10  track table: up to 168 u32 offsets of track headers (0 = not captured); entry
        cylinder * 2 + head (legacy single-sided files number tracks 0, 1, 2, ...)
  each  "TRK", track number, then per revolution three u32: index time (ticks from
        index to index), cell count, offset of the cells from the "TRK"; the cells are
        big-endian, and a cell of 0 adds 65536 (or 256 with 8-bit cells) to the next.

A track's revolutions are one continuous capture: the interval the index pulse falls in
is stored whole at the start of the next revolution. Every revolution is read, and cut at
its pulses as the model has it (bounds.split_revolutions): the first interval counts from
the pulse, the tail runs from the last transition to the closing pulse, and intervals and
tail add up to the index time. The writer joins them again (bounds.joined).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from workbench.atomic import write_atomic
from workbench.errors import BadInput
from workbench.flux.bounds import (
    checked_revolution,
    joined,
    read_bytes,
    resample,
    split_revolutions,
)
from workbench.flux.model import FluxCapture, Revolution, TrackDamage, TrackFlux

MAGIC = b"SCP"
HEADER = struct.Struct("<3s9BI")
TABLE_AT = 0x10
TABLE_ENTRIES = 168
DATA_AT = TABLE_AT + 4 * TABLE_ENTRIES  # 0x2b0: where a full track table ends
BASE_HZ = 40_000_000.0  # resolution 0: 25 ns ticks
FLAG_INDEXED = 0x01  # revolutions start at the index pulse
FLAG_TPI96 = 0x02
FLAG_EXTENDED = 0x40  # tape / hard-disk images: not a floppy capture
VERSION = 0x24  # specification 2.4
DISK_TYPE_OTHER = 0x80


def read_scp(path: Path | str) -> FluxCapture:
    path = Path(path)
    return parse_scp(read_bytes(path), path)


def parse_scp(data: bytes, path: Path) -> FluxCapture:
    """Every revolution of every track in an SCP image held in memory."""
    size = len(data)
    if data[:3] != MAGIC[:size]:
        raise BadInput("flux_formats.scp.bad_magic", path=str(path))
    if size < HEADER.size:
        raise BadInput("flux_formats.scp.truncated_header", path=str(path), size=size,
                       needed=HEADER.size)
    (_, _, _, nr_revs, _, _, flags, width, heads, resolution,
     checksum) = HEADER.unpack_from(data)
    if nr_revs == 0:
        raise BadInput("flux_formats.scp.zero_revolutions", path=str(path))
    if flags & FLAG_EXTENDED:
        raise BadInput("flux_formats.scp.extended", path=str(path))
    if width not in (0, 8, 16):
        raise BadInput("flux_formats.scp.cell_width", path=str(path), bits=width)
    cell = 1 if width == 8 else 2
    sample_hz = BASE_HZ / (resolution + 1)
    notes: list[str] = []
    computed = int(np.frombuffer(data, np.uint8, offset=TABLE_AT).sum(dtype=np.uint64))
    if checksum and checksum != computed & 0xFFFFFFFF:
        notes.append(f"scp: checksum {checksum:#010x} in the header, {computed & 0xFFFFFFFF:#010x}"
                     " computed: the file changed after it was written")
    if heads > 2:
        notes.append(f"scp: heads field {heads} is not 0, 1 or 2: read as both sides")
        heads = 0

    table = _track_table(data, path, notes)
    raw: dict[int, tuple[Revolution, ...]] = {}
    stats = dict.fromkeys(("no_index_time", "uncued", "empty", "clamped", "claimed"), 0)
    seen: dict[int, int] = {}
    errors: dict[int, BadInput] = {}  # a damaged track costs itself only
    for number, offset in table:
        try:
            if offset in seen:
                raise BadInput("flux_formats.scp.track_twice", path=str(path), track=number,
                               other=seen[offset], offset=offset)
            seen[offset] = number
            revs = _track(data, path, number, offset, nr_revs, cell, sample_hz,
                          bool(flags & FLAG_INDEXED), stats)
        except BadInput as exc:
            errors[number] = exc
            continue
        if revs:
            raw[number] = tuple(revs)
        else:
            stats["empty"] += 1

    tracks = {}
    numbers = [*raw, *errors]
    for number, kept in raw.items():
        cyl, head = _physical(number, heads, numbers)
        tracks[(cyl, head)] = TrackFlux(cylinder=cyl, head=head, sample_hz=sample_hz,
                                        revolutions=kept)
    damaged = {key: TrackDamage.of(error) for number, error in errors.items()
               if (key := _physical(number, heads, numbers)) not in tracks}
    for number, error in errors.items():
        notes.append(f"scp: track {number} damaged, not read: {error.message('en')}")
    if stats["uncued"]:
        notes.append(f"scp: not index-cued: the first, partial revolution of "
                     f"{stats['uncued']} tracks was dropped")
    if stats["no_index_time"]:
        notes.append(f"scp: {stats['no_index_time']} revolutions have no index time: each "
                     "was taken to end with its last transition")
    if stats["clamped"]:
        notes.append(f"scp: the index times of {stats['clamped']} revolutions disagree with "
                     "their flux: each pulse was kept within the interval it is stored in")
    if stats["empty"]:
        notes.append(f"scp: {stats['empty']} tracks in the table hold no revolution")
    if not tracks:
        if errors:  # nothing readable at all: the file is refused, with its first fault
            raise next(iter(errors.values()))
        raise BadInput("flux_formats.no_revolutions", path=str(path))
    return FluxCapture(tracks=tracks, source_format="scp", notes=notes, damaged=damaged)


def _track_table(data: bytes, path: Path, notes: list[str]) -> list[tuple[int, int]]:
    """(track number, offset) of every captured track. Some tools write a short table:
    it ends where the first track header begins (as Greaseweazle reads them too)."""
    size = len(data)
    available = min(TABLE_ENTRIES, max(0, (size - TABLE_AT) // 4))
    offsets = struct.unpack_from(f"<{available}I", data, TABLE_AT)
    length = available
    first = min((o for o in offsets if o), default=0)
    if first and first < DATA_AT:
        if first < TABLE_AT + 4:
            raise BadInput("flux_formats.scp.bad_offset", path=str(path),
                           track=offsets.index(first), offset=first)
        length = min(available, (first - TABLE_AT) // 4)
        notes.append(f"scp: short track table ({length} entries)")
    elif available < TABLE_ENTRIES and size < DATA_AT:
        raise BadInput("flux_formats.scp.truncated_table", path=str(path), size=size,
                       needed=DATA_AT)
    return [(n, o) for n, o in enumerate(offsets[:length]) if o]


def _track(data: bytes, path: Path, number: int, offset: int, nr_revs: int, cell: int,
           sample_hz: float, indexed: bool, stats: dict[str, int]
           ) -> list[Revolution]:
    """The revolutions of one track (stats["claimed"] counts the bytes of cells every
    revolution so far claims: never more than the file holds). The file's
    revolutions follow each other without a gap (one continuous capture), each index time
    the time from pulse to pulse: those times place each pulse within the interval it
    fell in, so a revolution's first interval counts from its pulse."""
    size = len(data)
    header_end = offset + 4 + 12 * nr_revs
    if offset >= size:
        raise BadInput("flux_formats.scp.offset_past_end", path=str(path), track=number,
                       offset=offset, size=size)
    if header_end > size:
        raise BadInput("flux_formats.scp.truncated_track", path=str(path), track=number,
                       size=size, needed=header_end)
    if data[offset:offset + 3] != b"TRK":
        raise BadInput("flux_formats.scp.bad_track_header", path=str(path), track=number,
                       offset=offset)
    if data[offset + 3] != number:
        raise BadInput("flux_formats.scp.track_number", path=str(path), track=number,
                       found=data[offset + 3])
    entries = struct.unpack_from(f"<{3 * nr_revs}I", data, offset + 4)
    parts: list[NDArray[Any]] = []
    times: list[int] = []
    claimed = stats["claimed"]  # counted for the file only once the track reads whole
    for r in range(nr_revs):
        index_time, count, cells_at = entries[3 * r:3 * r + 3]
        if count == 0 and index_time == 0:
            continue  # an unused entry (a track with fewer revolutions than the header)
        start = offset + cells_at
        end = start + count * cell
        if end > size:
            raise BadInput("flux_formats.scp.offset_past_end", path=str(path),
                           track=number, offset=end, size=size)
        claimed += end - start
        if claimed > size:  # revolutions that share cells: a trap, or damage
            raise BadInput("flux_formats.scp.overlap", path=str(path), track=number)
        parts.append(_cells(data, start, count, cell))
        flux = int(parts[-1].sum(dtype=np.int64))
        if index_time == 0:  # not recorded: the revolution ends with its flux
            stats["no_index_time"] += 1
        times.append(index_time or flux)
    if not indexed and len(parts) > 1:
        parts, times = parts[1:], times[1:]  # the first began anywhere: not a whole turn
        stats["uncued"] += 1
    if not parts:
        return []
    values = np.concatenate(parts).astype(np.int64)
    cut = np.concatenate(([0], np.cumsum([p.size for p in parts], dtype=np.int64)))
    index = np.concatenate(([0], np.cumsum(times, dtype=np.int64)))
    split, _, clamped = split_revolutions(values, cut, index)
    label = str(number)
    revs = [checked_revolution(path, label, n, v, tail, sample_hz)
            for n, (v, tail) in enumerate(split)]
    stats["clamped"] += clamped
    stats["claimed"] = claimed
    return revs


def _cells(data: bytes, start: int, count: int, cell: int) -> NDArray[Any]:
    """Intervals from big-endian cells; runs of 0 add a full cell range to the next
    non-zero cell. A run of zeros at the very end (no transition follows) is time the
    index time holds anyway: it is not an interval."""
    if count == 0:
        return np.zeros(0, np.uint32)
    words = np.frombuffer(data, ">u2" if cell == 2 else np.uint8, count=count,
                          offset=start)
    if words.all():
        return words.astype(np.uint32)
    nonzero = np.flatnonzero(words)
    values = words[nonzero].astype(np.int64)
    values += (np.diff(nonzero, prepend=-1) - 1) << (8 * cell)
    return values


def _physical(number: int, heads: int, tracks: Iterable[int]) -> tuple[int, int]:
    """(cylinder, head) of a track table entry. Both sides: entry = cylinder*2 + head.
    One side only: the same numbering when every entry has that side's parity, else the
    legacy numbering (one entry per cylinder) some tools write."""
    if heads == 0:
        return number // 2, number % 2
    side = heads - 1
    if all(n % 2 == side for n in tracks):
        return number // 2, side
    return number, side


def write_scp(capture: FluxCapture, path: Path | str) -> None:
    """Write the capture as an SCP image (atomically): every revolution of every track,
    numbered cylinder*2 + head, index-cued, 16-bit cells."""
    write_atomic(Path(path), scp_bytes(capture))


def scp_bytes(capture: FluxCapture) -> bytes:
    tracks = capture.tracks
    if not tracks:
        raise ValueError("a capture without tracks")
    rates = {t.sample_hz for t in tracks.values()}
    resolution = 0
    if len(rates) == 1:
        steps = BASE_HZ / rates.pop() - 1
        if abs(steps - round(steps)) < 1e-9 and 0 <= round(steps) <= 255:
            resolution = round(steps)
    sample_hz = BASE_HZ / (resolution + 1)
    for cyl, head in tracks:
        if not 0 <= cyl * 2 + head < TABLE_ENTRIES or head not in (0, 1):
            raise BadInput("flux_formats.scp.too_many_tracks", cylinder=cyl, head=head,
                           limit=TABLE_ENTRIES // 2 - 1)
    nr_revs = max(len(t.revolutions) for t in tracks.values())
    if not 1 <= nr_revs <= 255:
        raise ValueError(f"SCP holds 1 to 255 revolutions per track, not {nr_revs}")

    table = [0] * TABLE_ENTRIES
    body = bytearray()
    for (cyl, head), track in sorted(tracks.items()):
        number = cyl * 2 + head
        table[number] = DATA_AT + len(body)
        factor = sample_hz / track.sample_hz
        revs = [resample(rev, factor) for rev in track.revolutions]
        parts, _ = joined(revs)  # the file holds the physical intervals, continuous
        header = bytearray(b"TRK" + bytes([number]))
        cells_at = 4 + 12 * nr_revs
        chunks = []
        for rev, values in zip(revs, parts, strict=True):
            words = _encode(values)
            header += struct.pack("<3I", min(rev.ticks, 0xFFFFFFFF), words.size, cells_at)
            cells_at += words.nbytes
            chunks.append(words.tobytes())
        header += struct.pack("<3I", 0, 0, cells_at) * (nr_revs - len(revs))
        body += header + b"".join(chunks)
    numbers = [c * 2 + h for c, h in tracks]
    sides = {h for _, h in tracks}
    heads = 0 if len(sides) == 2 else (1 if 0 in sides else 2)
    rest = struct.pack(f"<{TABLE_ENTRIES}I", *table) + bytes(body)
    checksum = int(np.frombuffer(rest, np.uint8).sum(dtype=np.uint64)) & 0xFFFFFFFF
    head_bytes = HEADER.pack(MAGIC, VERSION, DISK_TYPE_OTHER, nr_revs, min(numbers),
                             max(numbers), FLAG_INDEXED | FLAG_TPI96, 0, heads,
                             resolution, checksum)
    return head_bytes + rest


def _encode(intervals: NDArray[np.int64]) -> NDArray[Any]:
    """Big-endian 16-bit cells. A cell of 0 means +65536, so an interval that is a
    multiple of 65536 (or 0) cannot be written exactly: its transition is written one
    tick late and the next interval one tick shorter, so every later transition keeps
    its time (no drive gives such an interval; a 40 MHz tick is 25 ns)."""
    values = intervals.copy()
    late = np.flatnonzero((values & 0xFFFF) == 0)
    while late.size:  # each pass moves right, so it ends at the revolution's end
        values[late] += 1
        after = late + 1
        after = after[after < values.size]
        values[after] -= 1
        late = after[(values[after] & 0xFFFF) == 0]
    overflows = values >> 16
    if not overflows.any():
        return values.astype(">u2")
    ends = np.cumsum(overflows + 1) - 1
    words = np.zeros(int(ends[-1]) + 1 if ends.size else 0, ">u2")
    words[ends] = values & 0xFFFF
    return words
