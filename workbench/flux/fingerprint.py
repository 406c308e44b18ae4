"""Is a capture of the same disk? Evidence beyond the sectors both captures read well.

Comparing the sectors both read with a correct CRC cannot tell a disk that differs only
where the first capture read nothing. The flux says more than the good sectors:

- **spoilt data**: a sector whose CRC failed was still read, mostly right (a weak bit
  spoils a few bytes): the same disk gives nearly the same bytes where the other capture
  reads it, another disk's sector shares about one byte in 256;
- **ID fields**: they read even where the data does not. Two tracks whose sets of
  (C, H, R, N) are not one inside the other (a scratch only takes IDs away) are not of
  one disk, nor are tracks whose sectors pass in another cyclic order (interleave);
- **where the sectors lie**: the angle of each ID after the index, as a share of the
  turn (independent of the drive's speed). A drive's index sensor shifts every angle of
  a capture alike, so that shift is taken out; what remains is how the disk was
  formatted (gap lengths, skew, the formatting drive's speed): a disk formatted with
  other gaps or on another machine shows it on every track.

Two disks formatted alike by one machine and differing only in sectors neither capture
read at all (no ID, no data) still cannot be told apart: nothing of them was read.

    match = same_disk(old, new)  # old: TrackDecodes or a stored fingerprint(); new:
    if match.other: refuse        # the TrackDecodes of the capture brought in
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.flux.model import SectorRead, TrackDecode

VERSION = 1
SAMPLE = 128  # bytes of a spoilt sector a fingerprint keeps
SAME_BYTES = 0.75  # a spoilt read sharing at least this share of bytes: the same sector
OTHER_BYTES = 0.5  # below this share: another sector
ANGLE_TOLERANCE = 0.006  # of a turn (1.2 ms at 300 rpm): wow and speed drift stay within


@dataclass
class DiskMatch:
    """What the comparison found, per kind of evidence: (compared, differing)."""

    data: list[int] = field(default_factory=lambda: [0, 0])  # good reads of both
    spoilt: list[int] = field(default_factory=lambda: [0, 0])  # a bad-CRC read vs a read
    ids: list[int] = field(default_factory=lambda: [0, 0])  # tracks: ID sets
    order: list[int] = field(default_factory=lambda: [0, 0])  # tracks: cyclic order
    angles: list[int] = field(default_factory=lambda: [0, 0])  # tracks: where sectors lie

    @property
    def compared(self) -> int:
        return sum(k[0] for k in self._kinds())

    @property
    def differ(self) -> int:
        return sum(k[1] for k in self._kinds())

    @property
    def other(self) -> bool:
        """Another disk: any sector or ID evidence differs, or the sectors of more than
        half the tracks compared (at least two) lie elsewhere."""
        a_compared, a_differ = self.angles
        return bool(self.data[1] or self.spoilt[1] or self.ids[1] or self.order[1]) or (
            a_differ >= 2 and a_differ * 2 > a_compared)

    @property
    def formatted_otherwise(self) -> bool:
        """Another disk by how it was formatted, said by most tracks compared (at least
        two): ID sets, their cyclic order, where the sectors lie. What the station
        refuses on, beside good sectors that differ. A spoilt read is left out: a dropout
        early in a damaged sector garbles the rest of it, so a retry of one damaged disk
        can look like another there."""
        return any(differ >= 2 and differ * 2 > compared
                   for compared, differ in (self.ids, self.order, self.angles))

    def _kinds(self) -> list[list[int]]:
        return [self.data, self.spoilt, self.ids, self.order, self.angles]

    def as_dict(self) -> dict[str, Any]:
        return {"data": self.data, "spoilt": self.spoilt, "ids": self.ids,
                "order": self.order, "angles": self.angles, "other": self.other}


def _digest(data: bytes) -> int:
    return zlib.crc32(data)


def _angle(s: SectorRead, rpm: float) -> float | None:
    return s.offset_us / (60e6 / rpm) % 1.0 if rpm > 0 else None


def fingerprint(tracks: Sequence[TrackDecode]) -> dict[str, Any]:
    """A compact, JSON-able record of a decode to compare later captures with (a job
    can keep it beside its capture files): per track, each sector's ID, its angle after
    the index, a CRC-32 of its good data, or the first bytes of its spoilt data."""
    out: dict[str, Any] = {}
    for t in tracks:
        if not t.sectors:
            continue
        out[f"{t.cylinder}.{t.head}"] = [
            [s.id.c, s.id.h, s.id.r, s.id.n, _angle(s, t.rpm),
             _digest(s.data) if s.data is not None else None,
             s.raw[:SAMPLE].hex() if s.data is None and s.raw else None]
            for s in t.sectors]
    return {"version": VERSION, "tracks": out}


@dataclass(frozen=True)
class _Sector:
    key: tuple[int, int, int, int]
    angle: float | None
    digest: int | None
    spoilt: bytes | None
    data: bytes | None = None  # only for a live decode


def _live(tracks: Sequence[TrackDecode]) -> dict[str, list[_Sector]]:
    return {f"{t.cylinder}.{t.head}": [
        _Sector((s.id.c, s.id.h, s.id.r, s.id.n), _angle(s, t.rpm),
                _digest(s.data) if s.data is not None else None,
                s.raw if s.data is None else None, s.data) for s in t.sectors]
        for t in tracks if t.sectors}


def _stored(fp: Mapping[str, Any]) -> dict[str, list[_Sector]]:
    out: dict[str, list[_Sector]] = {}
    for key, sectors in (fp.get("tracks") or {}).items():
        out[str(key)] = [_Sector((int(c), int(h), int(r), int(n)),
                                 None if a is None else float(a),
                                 None if d is None else int(d),
                                 bytes.fromhex(x) if x else None)
                         for c, h, r, n, a, d, x in sectors]
    return out


def _share(a: bytes, b: bytes) -> float:
    n = min(len(a), len(b))
    if n == 0:
        return 1.0
    return float(np.mean(np.frombuffer(a[:n], np.uint8) == np.frombuffer(b[:n], np.uint8)))


def _wrap(x: float) -> float:
    return (x + 0.5) % 1.0 - 0.5


def _cyclic(seq: list[tuple[int, int, int, int]]) -> tuple[tuple[int, int, int, int], ...]:
    if not seq:
        return ()
    i = seq.index(min(seq))
    return tuple(seq[i:] + seq[:i])


def same_disk(old: Sequence[TrackDecode] | Mapping[str, Any],
              new: Sequence[TrackDecode]) -> DiskMatch:
    """The evidence, kind by kind, that new (a capture's decode) is of the disk old was
    decoded from (its TrackDecodes, or the fingerprint() kept of them)."""
    before = _stored(old) if isinstance(old, Mapping) else _live(old)
    after = _live(new)
    match = DiskMatch()
    shifts: list[float] = []
    per_track: dict[str, list[float]] = {}
    for key in sorted(set(before) & set(after)):
        a, b = before[key], after[key]
        a_ids, b_ids = {s.key for s in a}, {s.key for s in b}
        match.ids[0] += 1
        match.ids[1] += not (a_ids <= b_ids or b_ids <= a_ids)
        common = a_ids & b_ids
        if len(common) >= 3:
            match.order[0] += 1
            match.order[1] += _cyclic([s.key for s in a if s.key in common]) != \
                _cyclic([s.key for s in b if s.key in common])
        by_key = {s.key: s for s in a}
        for s in b:
            was = by_key.get(s.key)
            if was is None:
                continue
            _compare(was, s, match)
            if was.angle is not None and s.angle is not None:
                d = _wrap(s.angle - was.angle)
                shifts.append(d)
                per_track.setdefault(key, []).append(d)
    if shifts:
        shift = float(np.median(shifts))  # the reading drives' index sensors
        for ds in per_track.values():
            residual = float(np.median([abs(_wrap(d - shift)) for d in ds]))
            match.angles[0] += 1
            match.angles[1] += residual > ANGLE_TOLERANCE
    return match


def _compare(was: _Sector, now: _Sector, match: DiskMatch) -> None:
    """One sector both captures met: good against good by digest, a spoilt read
    against whatever the other read of it."""
    if was.digest is not None and now.digest is not None:
        match.data[0] += 1
        match.data[1] += was.digest != now.digest
        return
    mine = now.data if now.data is not None else now.spoilt
    theirs = was.data if was.data is not None else was.spoilt
    if mine is None or theirs is None:
        return
    share = _share(theirs, mine)  # over the shorter: a stored sample's first bytes
    if share >= SAME_BYTES:
        match.spoilt[0] += 1
    elif share < OTHER_BYTES:
        match.spoilt[0] += 1
        match.spoilt[1] += 1
