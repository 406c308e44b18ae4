"""KryoFlux stream files (trackNN.S.raw: NN the cylinder, S the side), as DTC and
Greaseweazle write them.

A stream is a run of blocks (KryoFlux stream protocol rev. 1.1):
  0x00-0x07 Flux2 (value = header << 8 | next byte)   0x08 Nop1, 0x09 Nop2, 0x0A Nop3
  0x0B Ovl16 (adds 0x10000 to the next flux)          0x0C Flux3 (value = next two, MSB first)
  0x0D OOB: type, u16 LE size, payload                0x0E-0xFF Flux1 (value = the byte)
The stream position counts only the in-stream bytes (everything but OOB blocks).
OOB types: 1 StreamInfo (position, transfer time), 2 Index (position of the next flux
block after the pulse, the sample counter at the pulse, the index counter), 3 StreamEnd
(position, result code), 4 KFInfo (text: "sck=..., ick=..."), 0x0D EOF.

Revolutions are cut at the index pulses, each placed by its sample counter within the
flux it fell in (bounds.split_revolutions: the first interval counts from the pulse);
the flux before the first pulse and after the last is not a whole revolution, so it is
dropped (and said in the capture's notes).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from workbench.atomic import write_atomic
from workbench.errors import BadInput
from workbench.flux.bounds import (
    MAX_REVOLUTIONS,
    checked_revolution,
    joined,
    read_bytes,
    resample,
    split_revolutions,
    track_label,
)
from workbench.flux.model import FluxCapture, TrackDamage, TrackFlux

# The KryoFlux clocks when the stream does not give them (KFInfo "sck=" / "ick=").
DEFAULT_MCK = 18432000 * 73 / 14 / 2  # 48054857.142857 Hz
DEFAULT_SCK = DEFAULT_MCK / 2  # 24027428.571429 Hz
DEFAULT_ICK = DEFAULT_MCK / 16
OVL16, FLUX3, OOB = 0x0B, 0x0C, 0x0D
STREAM_INFO, INDEX, STREAM_END, KF_INFO, EOF = 1, 2, 3, 4, 0x0D
NAME = re.compile(r"^(.*?)(\d{2,3})\.([01])\.raw$", re.IGNORECASE)
_SCK = re.compile(r"(?:^|[,\s])sck=([^,\s\x00]+)")

_MULTI = np.zeros(256, bool)  # block headers longer than one byte
_MULTI[[0, 1, 2, 3, 4, 5, 6, 7, 9, 10, FLUX3, OOB]] = True
_LENGTH = np.ones(256, np.int64)  # block length by header (OOB blocks aside)
_LENGTH[0:8] = 2
_LENGTH[[9, 10, FLUX3]] = [2, 3, 3]
_LENGTHS = _LENGTH.tolist()


@dataclass
class _Stream:
    values: NDArray[np.int64]  # every flux interval in the file, in sample ticks
    starts: NDArray[np.int64]  # stream position of each flux block
    overflows: NDArray[np.int64]  # stream positions of the Ovl16 blocks
    index: list[tuple[int, int]]  # (stream position, sample counter) of each pulse
    sck: float
    notes: list[str]


def parse_stream(data: bytes, path: Path) -> _Stream:
    """All flux and index pulses of one stream file, checked against the file."""
    size = len(data)
    buf = np.frombuffer(data, np.uint8)
    # Pass 1, over the multi-byte block headers only (most flux is Flux1): where each
    # block begins. A 0x0D inside a Flux3's payload is data, not an OOB block.
    isb_at: list[int] = []
    oob_at: list[tuple[int, int, int]] = []  # (file position, type, payload size)
    cur, end, ended = 0, size, False
    for p in np.flatnonzero(_MULTI[buf]).tolist():
        if p < cur:
            continue
        if data[p] != OOB:
            cur = p + _LENGTHS[data[p]]
            if cur > size:
                raise BadInput("flux_formats.kryoflux.truncated", path=str(path), offset=p,
                               size=size)
            isb_at.append(p)
            continue
        if p + 4 > size:
            raise BadInput("flux_formats.kryoflux.truncated", path=str(path), offset=p,
                           size=size)
        kind = data[p + 1]
        if kind == EOF:
            end, ended = p, True
            break
        length = data[p + 2] | data[p + 3] << 8
        cur = p + 4 + length
        if cur > size:
            raise BadInput("flux_formats.kryoflux.truncated", path=str(path), offset=p,
                           size=size)
        oob_at.append((p, kind, length))

    # Everything outside the OOB blocks is the stream buffer the positions count in.
    oob_pos = np.array([o[0] for o in oob_at], np.int64)
    oob_len = np.array([o[2] + 4 for o in oob_at], np.int64)
    isb = buf[:end][~_ranges(end, oob_pos, oob_pos + oob_len)]
    before = np.concatenate(([0], np.cumsum(oob_len)))  # OOB bytes before each OOB block

    index, sck, notes, stream_ended = _oob_blocks(data, path, oob_at, oob_pos - before[:-1],
                                                  isb.size)
    if not (ended or stream_ended):
        raise BadInput("flux_formats.kryoflux.no_end", path=str(path), size=size)

    # Pass 2, vectorised: the value of every flux block.
    multi = np.array(isb_at, np.int64)
    multi -= before[np.searchsorted(oob_pos, multi)]
    lengths = _LENGTH[buf[np.array(isb_at, np.int64)]]
    heads_at = np.flatnonzero(~_ranges(isb.size, multi + 1, multi + lengths))
    heads = isb[heads_at]
    is_flux = (heads >= 0x0E) | (heads <= 7) | (heads == FLUX3)
    starts = heads_at[is_flux].astype(np.int64)
    h = heads[is_flux].astype(np.int64)
    last = max(isb.size - 1, 0)
    b1 = isb[np.minimum(starts + 1, last)].astype(np.int64) if isb.size else h
    b2 = isb[np.minimum(starts + 2, last)].astype(np.int64) if isb.size else h
    values = np.where(h >= 0x0E, h, np.where(h == FLUX3, b1 << 8 | b2, h << 8 | b1))
    overflows = heads_at[heads == OVL16].astype(np.int64)
    if overflows.size:
        counts = np.searchsorted(overflows, starts)
        values += np.diff(counts, prepend=0) << 16
    return _Stream(values, starts, overflows, index, sck, notes)


def _ranges(size: int, starts: NDArray[np.int64], stops: NDArray[np.int64]) -> NDArray[Any]:
    """A mask of `size` that is True inside the given disjoint [start, stop) ranges."""
    delta = np.zeros(size + 1, np.int32)
    delta[starts] += 1
    delta[stops] -= 1
    return np.cumsum(delta[:-1]) > 0


def _oob_blocks(data: bytes, path: Path, blocks: list[tuple[int, int, int]],
                positions: NDArray[np.int64], length: int
                ) -> tuple[list[tuple[int, int]], float, list[str], bool]:
    """Index pulses, the sample clock and notes from the OOB blocks, each checked."""
    index: list[tuple[int, int]] = []
    sck = DEFAULT_SCK
    notes: list[str] = []
    ended = False
    for (p, kind, size), here in zip(blocks, positions.tolist(), strict=True):
        payload = data[p + 4:p + 4 + size]
        if kind in (STREAM_INFO, STREAM_END, INDEX):
            if size < (12 if kind == INDEX else 8):
                raise BadInput("flux_formats.kryoflux.bad_block", path=str(path), offset=p,
                               kind=kind, size=size)
            claimed, value = struct.unpack_from("<2I", payload)
            if kind == INDEX:
                if claimed > length or (index and claimed < index[-1][0]):
                    raise BadInput("flux_formats.kryoflux.bad_index", path=str(path),
                                   offset=p, position=claimed, length=length)
                index.append((claimed, value))
                if len(index) > MAX_REVOLUTIONS + 1:
                    raise BadInput("flux_formats.too_many_revolutions", path=str(path),
                                   count=len(index) - 1, limit=MAX_REVOLUTIONS)
            elif claimed != here:
                raise BadInput("flux_formats.kryoflux.out_of_sync", path=str(path), offset=p,
                               claimed=claimed, actual=here)
            elif kind == STREAM_END:
                ended = True
                if value:
                    notes.append(f"kryoflux: {path.name}: the device ended the stream with "
                                 f"code {value} (1 buffering, 2 no index)")
        elif kind == KF_INFO:
            found = _SCK.search(payload.decode("ascii", "replace"))
            if found:
                try:
                    sck = float(found.group(1))
                except ValueError:
                    sck = -1.0
                if not 1e6 <= sck <= 1e9:
                    shown = re.sub(r"[^0-9A-Za-z.+-]", "?", found.group(1)[:20])
                    raise BadInput("flux_formats.kryoflux.bad_clock", path=str(path),
                                   value=shown)
        elif kind == 0:
            raise BadInput("flux_formats.kryoflux.invalid_block", path=str(path), offset=p)
        else:
            notes.append(f"kryoflux: {path.name}: unknown block type {kind} skipped")
    return index, sck, notes, ended


def stream_track(data: bytes, path: Path, cylinder: int, head: int
                 ) -> tuple[TrackFlux | None, int, list[str]]:
    """The whole revolutions of one stream (None when it has none), the count of flux
    transitions outside them, and notes."""
    s = parse_stream(data, path)
    if len(s.index) < 2:
        return None, int(s.values.size), s.notes
    positions = np.array([i[0] for i in s.index], np.int64)
    firsts = np.searchsorted(s.starts, positions)  # flux blocks before each pulse
    # A pulse's time: the end of the last flux before it, then the Ovl16 blocks between
    # them (the counter wrapped before the pulse) and the sample counter at the pulse.
    prev = np.where(firsts > 0, s.starts[np.maximum(firsts - 1, 0)], -1)
    wraps = (np.searchsorted(s.overflows, positions)
             - np.searchsorted(s.overflows, prev, side="right"))
    ends = np.concatenate(([0], np.cumsum(s.values)))
    times = ends[firsts] + wraps * 65536 + np.array([i[1] for i in s.index], np.int64)
    split, outside, clamped = split_revolutions(s.values, firsts, times)
    if clamped:
        s.notes.append(f"kryoflux: {path.name}: the sample counter of {clamped} index "
                       "pulses points outside the flux they are recorded in: clamped")
    label = track_label(cylinder, head)
    revs = [checked_revolution(path, label, n, v, tail, s.sck)
            for n, (v, tail) in enumerate(split)]
    return TrackFlux(cylinder, head, s.sck, tuple(revs)), outside, s.notes


def stream_files(folder: Path, names: list[Path] | None = None) -> dict[tuple[int, int], Path]:
    """(cylinder, head) -> stream file in a folder: one set (one name prefix), each track
    once."""
    matches = [(m, path) for path in sorted(names if names is not None else folder.iterdir())
               if (m := NAME.match(path.name)) and path.is_file()]
    prefixes = {m.group(1).lower() for m, _ in matches}
    if len(prefixes) > 1:
        raise BadInput("flux_formats.kryoflux.two_sets", path=str(folder),
                       prefixes=", ".join(sorted(p or "(none)" for p in prefixes)))
    found: dict[tuple[int, int], Path] = {}
    for m, path in matches:
        key = (int(m.group(2)), int(m.group(3)))
        if key in found:  # track00.0.raw and track000.0.raw
            raise BadInput("flux_formats.track_twice", path=str(folder),
                           track=track_label(*key), first=found[key].name, second=path.name)
        found[key] = path
    return found


def read_kryoflux(folder: Path | str, names: list[Path] | None = None) -> FluxCapture:
    """Every stream file of a capture folder (or the given ones of it)."""
    folder = Path(folder)
    files = stream_files(folder, names)
    if not files:
        raise BadInput("flux_formats.empty_folder", path=str(folder))
    return _capture(files, folder)


def read_stream_file(path: Path | str) -> FluxCapture:
    """One stream file; its cylinder and side are only in its name."""
    path = Path(path)
    m = NAME.match(path.name)
    if not m:
        raise BadInput("flux_formats.kryoflux.raw_name", path=str(path))
    return _capture({(int(m.group(2)), int(m.group(3))): path}, path)


def _capture(files: dict[tuple[int, int], Path], where: Path) -> FluxCapture:
    """The set's tracks. A damaged stream file costs its own track only (kept in
    `damaged` with the reason); a set with no readable track at all is refused with the
    first file's reason."""
    tracks: dict[tuple[int, int], TrackFlux] = {}
    notes: list[str] = []
    outside = partial = 0
    empty: list[str] = []
    damaged: dict[tuple[int, int], TrackDamage] = {}
    first_error: BadInput | None = None
    for (cyl, head), path in sorted(files.items()):
        try:
            track, dropped, more = stream_track(read_bytes(path), path, cyl, head)
        except BadInput as exc:
            first_error = first_error or exc
            damaged[(cyl, head)] = TrackDamage.of(exc)
            notes.append(f"kryoflux: {path.name}: damaged, track {track_label(cyl, head)} "
                         f"not read: {exc.message('en')}")
            continue
        notes += more
        if track is None or not track.revolutions:
            empty.append(track_label(cyl, head))
            continue
        tracks[(cyl, head)] = track
        outside += dropped
        partial += dropped > 0
    if partial:
        notes.append(f"kryoflux: {outside} flux transitions before the first or after the "
                     f"last index pulse of {partial} tracks are not whole revolutions: dropped")
    if empty:
        notes.append(f"kryoflux: no whole revolution (fewer than two index pulses) on "
                     f"tracks {', '.join(empty)}: not in the capture")
    if not tracks:
        if first_error is not None:
            raise first_error
        raise BadInput("flux_formats.no_revolutions", path=str(where))
    return FluxCapture(tracks=tracks, source_format="kryoflux", notes=notes, damaged=damaged)


def write_kryoflux(capture: FluxCapture, folder: Path | str, sck: float | None = None,
                   prefix: str = "track") -> list[Path]:
    """Write the capture as a stream set trackNN.S.raw (each file atomically). Tracks
    whose clock differs from sck (default: KryoFlux's) are resampled to it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = {key: folder / f"{prefix}{key[0]:02d}.{key[1]}.raw" for key in capture.tracks}
    foreign = [p.name for p in folder.iterdir()
               if NAME.match(p.name) and p not in names.values()]
    if foreign:
        raise BadInput("flux_formats.kryoflux.folder_not_empty", path=str(folder),
                       names=", ".join(sorted(foreign)[:3]))
    written = []
    for key, track in sorted(capture.tracks.items()):
        if track.revolutions:
            write_atomic(names[key], stream_bytes(track, sck))
            written.append(names[key])
    return written


def _oob(kind: int, payload: bytes) -> bytes:
    return struct.pack("<BBH", OOB, kind, len(payload)) + payload


def stream_bytes(track: TrackFlux, sck: float | None = None) -> bytes:
    """One track as a KryoFlux stream: KFInfo with the clock, an index pulse before the
    first flux, one after each revolution (placed by the revolution's tail), a short
    closing flux after the last pulse (so every reader registers it), StreamEnd, EOF."""
    target = sck or DEFAULT_SCK
    if abs(track.sample_hz / target - 1) < 1e-6:
        target = track.sample_hz
    revs = [resample(r, target / track.sample_hz) for r in track.revolutions]
    parts, since = joined(revs)
    parts.append(np.array([since[-1] + max(1, round(target * 12e-6))], np.int64))
    info = f"name=Migration Workbench, sck={target!r}, ick={target / 8!r}"
    out = bytearray(_oob(KF_INFO, info.encode("ascii") + b"\0"))
    out += _oob(STREAM_INFO, struct.pack("<2I", 0, 0))
    position = ticks = 0  # stream bytes and flux ticks before the revolution
    for values, before in zip(parts, since, strict=True):
        body = _encode(values).tobytes()
        # The Ovl16 blocks of the flux the pulse falls in that count time before the
        # pulse go before it, as the hardware writes them; the counter holds the rest.
        wraps = before >> 16 if values.size else 0
        out += body[:wraps]
        out += _oob(INDEX, struct.pack("<3I", position + wraps, before - (wraps << 16),
                                       round((ticks + before) / 8) & 0xFFFFFFFF))
        out += body[wraps:]
        position += len(body)
        ticks += int(values.sum())
    out += _oob(STREAM_END, struct.pack("<2I", position, 0))
    out += bytes([OOB, EOF, 0x0D, 0x0D])
    return bytes(out)


def _encode(values: NDArray[np.int64]) -> NDArray[np.uint8]:
    """Flux blocks for the intervals: Ovl16 per 0x10000, then Flux1 for 0x0E-0xFF,
    Flux2 below 0x800, Flux3 above (the encoding DTC uses)."""
    if not values.size:
        return np.zeros(0, np.uint8)
    wraps = values >> 16
    low = values & 0xFFFF
    size = np.where((low >= 0x0E) & (low <= 0xFF), 1, np.where(low < 0x800, 2, 3))
    ends = np.cumsum(wraps + size)
    at = ends - size  # where each flux block begins, after its Ovl16 blocks
    out = np.full(int(ends[-1]), OVL16, np.uint8)
    one, two, three = size == 1, size == 2, size == 3
    out[at[one]] = low[one]
    out[at[two]] = low[two] >> 8
    out[at[two] + 1] = low[two] & 0xFF
    out[at[three]] = FLUX3
    out[at[three] + 1] = low[three] >> 8
    out[at[three] + 2] = low[three] & 0xFF
    return out
