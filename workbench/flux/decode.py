"""The software decoder: a track's flux, every revolution, to the sectors its ID fields
announce, voting across revolutions.

The revolutions of a track are one continuous stream (a drive reads them back to back),
so a sector that straddles the index is read whole. The clock is found per track (FM or
MFM, any data rate from 125 to 1000 kbps), so an N88-BASIC disk's FM track 0 and MFM
tracks decode each by what they are. A sector is good when any revolution gives it with a
correct CRC; good revolutions that disagree are decided by majority and flagged.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from workbench.errors import Aborted
from workbench.flux.marks import Field, amiga_syncs, find_fields
from workbench.flux.model import (
    Encoding,
    FluxCapture,
    SectorId,
    SectorRead,
    TrackDamage,
    TrackDecode,
    TrackFlux,
)
from workbench.flux.once import cached_decode
from workbench.flux.pll import Cells, Clock, find_clock, recover

NOMINAL_KBPS = (125.0, 150.0, 250.0, 300.0, 500.0, 1000.0)
LOCKED = 0.8  # share of transitions on the grid above which flux has a structure

# notes (short machine words; the front ends translate them)
NO_FLUX = "no-flux"
NOISE = "noise"
NO_MARKS = "no-address-marks"  # structured flux, not IBM: flux kept, not decoded
AMIGA = "amiga-sync"  # the same, with Amiga-style sector syncs
DAMAGED = "damaged-file"  # the capture file is damaged at this track: not read
# An FM sync field (6 zero bytes: a transition every two FM cells) on the MFM grid: a
# transition every 4 cells. 16 in a row (of 48) lets jitter spoil either end.
_FM_SYNC_RUN = b"\x04" * 16


def _stream(track: TrackFlux) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """All revolutions as one run of intervals (µs), and each revolution's start (µs)."""
    hz = track.sample_hz if np.isfinite(track.sample_hz) and track.sample_hz > 0 else 0.0
    parts: list[NDArray[np.float64]] = []
    starts = [0]
    carry = 0
    for rev in track.revolutions:
        iv = np.asarray(rev.intervals, dtype=np.float64).ravel().copy()
        if iv.size:
            iv[0] += carry
            carry = max(0, int(rev.tail))
        else:
            carry += max(0, int(rev.tail))
        parts.append(iv)
        starts.append(starts[-1] + int(rev.intervals.sum(dtype=np.uint64)) + int(rev.tail))
    if hz == 0.0 or not parts:
        return np.zeros(0), np.zeros(1)
    x = np.concatenate(parts) * (1e6 / hz)
    return x, np.asarray(starts, dtype=np.float64) * (1e6 / hz)


def _rpm(track: TrackFlux) -> float:
    ticks = [r.ticks for r in track.revolutions if r.ticks > 0]
    if not ticks or not track.sample_hz > 0:
        return 0.0
    return round(60.0 / (float(np.median(ticks)) / track.sample_hz), 1)


def _kbps(cell_us: float) -> float:
    rate = 1000.0 / (2.0 * cell_us)
    near = min(NOMINAL_KBPS, key=lambda n: abs(rate / n - 1.0))
    return near if abs(rate / near - 1.0) < 0.08 else round(rate, 1)


def _timed(fields: list[Field], cells: Cells) -> list[tuple[Field, float]]:
    """Each field with the time (µs from the stream's start) its marks begin."""
    out = []
    for f in fields:
        i = min(int(np.searchsorted(cells.index, f.cell)), cells.time_us.size - 1)
        out.append((f, float(cells.time_us[i])))
    return out


def _vote(fields: list[tuple[Field, float]], starts: NDArray[np.float64],
          revs: int) -> list[SectorRead]:
    """One SectorRead per sector (an ID met twice on one revolution is two sectors)."""
    groups: dict[tuple[SectorId, int], list[tuple[int, float, Field]]] = {}
    met: Counter[tuple[SectorId, int]] = Counter()
    for f, t in sorted(fields, key=lambda ft: ft[1]):
        rev = min(max(int(np.searchsorted(starts, t, side="right")) - 1, 0), max(revs - 1, 0))
        nth = met[(f.id, rev)]
        met[(f.id, rev)] += 1
        groups.setdefault((f.id, nth), []).append((rev, t - float(starts[rev]), f))
    out = []
    for (sid, _), occ in groups.items():
        good = [(rev, f) for rev, _, f in occ if f.data is not None]
        votes = Counter(f.data for _, f in good)
        data = votes.most_common(1)[0][0] if votes else None
        winner = next((f for _, f in good if f.data == data), occ[0][2])
        raws = Counter(f.raw for _, _, f in occ if f.raw is not None)
        raw = raws.most_common(1)[0][0] if raws and data is None else None
        out.append(SectorRead(
            id=sid, encoding=occ[0][2].encoding, data=data,
            good=len({rev for rev, _ in good}), seen=len({rev for rev, _, _ in occ}),
            disagree=len(votes) > 1, deleted=winner.deleted,
            offset_us=round(float(np.median([off for _, off, _ in occ])), 1), raw=raw))
    out.sort(key=lambda s: s.offset_us)
    return out


def _other(clock: Clock) -> Clock:
    """The same flux read the other way: FM <-> MFM at the matching cell."""
    if clock.fm:
        return Clock(clock.cell_us / 2.0, False, clock.fit)
    return Clock(clock.cell_us * 2.0, True, clock.fit)


def _fm_within(cells: Cells) -> list[tuple[Field, float]]:
    """FM sectors inside an MFM-clocked stream (a track whose first sectors are FM and
    the rest MFM, as some Japanese formats and protections write): an FM cell is two MFM
    cells, so every other cell of the stream, on either phase, is an FM cell stream."""
    steps = np.diff(cells.index).astype(np.uint8).tobytes()  # cells between transitions
    if _FM_SYNC_RUN not in steps:
        return []  # no FM sync field anywhere (this test costs a quarter of the search)
    out = []
    for phase in (0, 1):
        view = np.ascontiguousarray(cells.bits[phase::2])
        found = find_fields(view, True)
        out += _timed([replace(f, cell=2 * f.cell + phase) for f in found], cells)
    return out


def decode_track(track: TrackFlux) -> TrackDecode:
    """Decode one track; never raises on odd flux (it says what it saw in `note`).
    Both IBM encodings are looked for: the track's own clock gives its sectors, and
    sectors of the other encoding on the same track are kept too."""
    revs = len(track.revolutions)
    rpm = _rpm(track)
    x, starts = _stream(track)
    clock = find_clock(x) if x.size else None
    if clock is None:
        return TrackDecode(track.cylinder, track.head, Encoding.UNFORMATTED, (), revs,
                           0.0, rpm, NO_FLUX)
    first = recover(x, clock)
    fields = _timed(find_fields(first.bits, clock.fm), first)
    rate_cells = first
    if clock.fm:  # rare (N88-BASIC track 0): MFM sectors among them need the finer clock
        mfm = recover(x, _other(clock))
        more = _timed(find_fields(mfm.bits, False), mfm)
        fields += more
        if more and len(more) > len(fields) - len(more):
            rate_cells = mfm
    else:
        fields += _fm_within(first)
        if not fields:  # an FM track the histogram took for MFM
            fm = recover(x, _other(clock))
            fields = _timed(find_fields(fm.bits, True), fm)
            rate_cells = fm
    if fields:
        sectors = _vote(fields, starts, revs)
        enc = Counter(s.encoding for s in sectors).most_common(1)[0][0]
        return TrackDecode(track.cylinder, track.head, enc, tuple(sectors), revs,
                           _kbps(rate_cells.cell_us), rpm)
    if first.locked < LOCKED:
        return TrackDecode(track.cylinder, track.head, Encoding.UNFORMATTED, (), revs,
                           0.0, rpm, NOISE)
    note = AMIGA if not clock.fm and amiga_syncs(first.bits) >= 3 else NO_MARKS
    return TrackDecode(track.cylinder, track.head, Encoding.UNKNOWN, (), revs,
                       _kbps(first.cell_us), rpm, note)


def damaged_track(key: tuple[int, int], damage: TrackDamage) -> TrackDecode:
    """A track whose file is damaged: flux kept (in the file), nothing decoded."""
    return TrackDecode(key[0], key[1], Encoding.UNKNOWN, (), 0, note=DAMAGED,
                       damage=damage)


def decode_capture(capture: FluxCapture,
                   progress: Callable[[int, int], object] | None = None,
                   cancel: threading.Event | None = None) -> list[TrackDecode]:
    """Every track in (cylinder, head) order. Cancel is checked between tracks and raises
    Aborted (nothing is written here, so nothing is lost)."""
    keys = sorted({*capture.tracks, *capture.damaged})
    out = []
    for done, key in enumerate(keys):
        if cancel is not None and cancel.is_set():
            raise Aborted("decode.cancelled", done=done, total=len(keys))
        track = capture.tracks.get(key)
        out.append(cached_decode(track, decode_track) if track is not None
                   else damaged_track(key, capture.damaged[key]))
        if progress is not None:
            progress(done + 1, len(keys))
    return out
