"""From decoded tracks to a sector image: the geometry the disk's own ID fields declare.

    layout = lay_out(decode_capture(capture))
    layout.size, layout.cylinders, layout.heads, layout.uniform, layout.read(pos, n)
    layout.rescue_map()                    # ddrescue map: '+' good, '-' bad, byte-exact

Tracks go in cylinder/head order, the sectors of a track in R order, each at its own
size (an N88-BASIC disk's FM track 0 holds 26 x 128 bytes, its other tracks 26 x 256).
A sector the disk's neighbours say a track should hold but whose ID was never found (a
scratched track) is bad, not absent: the image keeps its place, zero-filled. A 40-track
disk read in an 80-track drive without double step is recognised from its IDs (cylinder
N on physical track 2N) and laid out by its own cylinders.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from workbench.flux.model import Encoding, SectorId, SectorRead, TrackDecode
from workbench.imaging.mapfile import BAD, FINISHED, RescueMap

NOT_DECODED = "flux kept, not decoded"
DAMAGED = "capture damaged, not decoded"  # the file is damaged at this track
# a track's format: its encoding and the (R, N) of its sectors, in R order
Format = tuple[str, tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class Slot:
    """One sector's place in the image."""

    cylinder: int  # the disk's own cylinder (after any double-step mapping)
    head: int
    id: SectorId  # as found (or, for a missing sector, as its neighbours say)
    offset: int
    size: int
    encoding: Encoding
    data: bytes | None  # None: bad or missing (zero-filled in the image)
    found: bool = True  # its ID field was seen on some revolution
    good_reads: int = 0
    disagree: bool = False
    deleted: bool = False
    odd_id: bool = False  # the ID's C/H differ from the track it was found on
    offset_us: float = 0.0  # where its ID was met after the index (physical order)

    @property
    def good(self) -> bool:
        return self.data is not None


@dataclass
class TrackReport:
    cylinder: int
    head: int
    physical_cylinder: int
    encoding: str
    # decoded | NOT_DECODED | ids-missing (no ID where its neighbours have them) |
    # unformatted (beyond the disk) | missing (not captured)
    status: str
    sectors: int = 0
    good: int = 0
    bad: int = 0  # ID seen, no revolution gave the data with a good CRC
    missing: int = 0  # expected from the neighbours, ID never seen
    disagree: int = 0
    odd_ids: int = 0
    deleted: int = 0
    extra: int = 0  # sectors beyond the usual format, kept
    revolutions: int = 0
    data_rate_kbps: float = 0.0
    rpm: float = 0.0
    note: str = ""
    in_image: bool = True
    damage: dict[str, Any] | None = None  # why the file gave no flux: {"key", "params"}


@dataclass
class Layout:
    slots: list[Slot]
    tracks: list[TrackReport]
    cylinders: int
    heads: int
    sectors_per_track: int  # of the most common format
    sector_size: int  # of the most common format
    base: int  # the lowest sector number of the most common format (1 usually)
    double_step: bool  # a 40-track disk found on every other physical track
    uniform: bool
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.slots)

    @property
    def granule(self) -> int:
        """The largest size every sector is a multiple of: the engine's sector size."""
        return math.gcd(*(s.size for s in self.slots)) if self.slots else 512

    @property
    def undecoded(self) -> list[TrackReport]:
        """Tracks with flux of an encoding not decoded (GCR, Amiga, protection)."""
        return [t for t in self.tracks if t.status == NOT_DECODED]

    @property
    def damaged(self) -> list[TrackReport]:
        """Tracks whose capture file is damaged (their sectors are bad or missing)."""
        return [t for t in self.tracks if t.status == DAMAGED]

    def bad_ranges(self) -> list[tuple[int, int]]:
        """(pos, size) of every bad or missing sector, neighbours merged."""
        out: list[tuple[int, int]] = []
        for s in self.slots:
            if s.good:
                continue
            if out and out[-1][0] + out[-1][1] == s.offset:
                out[-1] = (out[-1][0], out[-1][1] + s.size)
            else:
                out.append((s.offset, s.size))
        return out

    def read(self, pos: int, size: int) -> bytes:
        """The image's bytes at [pos, pos+size): bad sectors read as zeros."""
        end = min(pos + size, self.size)
        out = bytearray()
        for s in self._slots_in(pos, end):
            data = s.data if s.data is not None else bytes(s.size)
            out += data[max(0, pos - s.offset): end - s.offset]
        return bytes(out)

    def touches_bad(self, pos: int, size: int) -> bool:
        return any(not s.good for s in self._slots_in(pos, pos + size))

    def _slots_in(self, pos: int, end: int) -> list[Slot]:
        import bisect
        i = max(0, bisect.bisect_right(self._starts, pos) - 1)
        out = []
        while i < len(self.slots) and self.slots[i].offset < end:
            out.append(self.slots[i])
            i += 1
        return out

    @property
    def _starts(self) -> list[int]:
        starts: list[int] | None = self.__dict__.get("_starts_cache")
        if starts is None or len(starts) != len(self.slots):
            starts = [s.offset for s in self.slots]
            self.__dict__["_starts_cache"] = starts
        return starts

    def image_bytes(self) -> bytes:
        return self.read(0, self.size)

    def rescue_map(self) -> RescueMap:
        """The ddrescue map of the image: good sectors '+', bad or missing '-'."""
        rmap = RescueMap(size=self.size)
        if self.size:
            rmap.mark(0, self.size, FINISHED)
        for pos, size in self.bad_ranges():
            rmap.mark(pos, size, BAD)
        return rmap

    def report(self) -> dict[str, Any]:
        """The per-track report (the job record keeps it; the result screen shows it)."""
        from dataclasses import asdict
        slots = self.slots
        return {"cylinders": self.cylinders, "heads": self.heads,
                "sectors_per_track": self.sectors_per_track, "sector_size": self.sector_size,
                "base": self.base, "double_step": self.double_step, "uniform": self.uniform,
                "size": self.size,
                "sectors": len(slots), "good": sum(s.good for s in slots),
                "bad": sum(not s.good and s.found for s in slots),
                "missing": sum(not s.found for s in slots),
                "disagree": sum(s.disagree for s in slots),
                "undecoded_tracks": [[t.cylinder, t.head] for t in self.undecoded],
                "damaged_tracks": [[t.cylinder, t.head] for t in self.damaged],
                "notes": list(self.notes),
                "tracks": [asdict(t) for t in self.tracks]}

    def fitting_profiles(self, profiles: dict[str, Any]) -> list[str]:
        """Media profiles whose geometry this disk has: uniform, the profile's sector
        size, its cylinders and heads, and one of its expected sizes (fd35-2hd,
        pc98-2hd, ...). Several may fit (one size, two drives); none fits a non-uniform
        disk, nor a capture that stopped short (half a 2HD disk has a 2DD disk's size,
        not its geometry)."""
        if not self.uniform or not self.slots:
            return []
        return sorted(p.id for p in profiles.values()
                      if p.family == "FD" and p.sector_size == self.sector_size
                      and self.size in p.expected_sizes
                      and (p.flux is None or (p.flux.cylinders, p.flux.heads) ==
                           (self.cylinders, self.heads)))


# -- laying out --------------------------------------------------------------------

def _format(track: TrackDecode) -> Format:
    ids = sorted({(s.id.r, s.id.n) for s in track.sectors})
    return track.encoding.value, tuple(ids)


def _main_c(track: TrackDecode) -> int | None:
    cs = Counter(s.id.c for s in track.sectors)
    return cs.most_common(1)[0][0] if cs else None


def _double_stepped(tracks: dict[tuple[int, int], TrackDecode]) -> bool:
    """A 40-track disk read on every physical track of an 80-track drive: the IDs of
    physical track 2N (and 2N+1, which reads the same or nothing) say cylinder N."""
    own = halves = 0
    for (cyl, _), t in tracks.items():
        c = _main_c(t)
        if c is None or cyl < 2:
            continue
        own += c == cyl
        halves += c == cyl // 2
    return halves > own


def _good_count(t: TrackDecode) -> int:
    return sum(s.data is not None for s in t.sectors)


def _logical(tracks: dict[tuple[int, int], TrackDecode], double: bool
             ) -> dict[tuple[int, int], tuple[int, TrackDecode]]:
    """(disk cylinder, head) -> (physical cylinder, track). With double stepping, the
    better of the two physical tracks that hold one disk cylinder."""
    if not double:
        return {k: (k[0], t) for k, t in tracks.items()}
    out: dict[tuple[int, int], tuple[int, TrackDecode]] = {}
    for (cyl, head), t in sorted(tracks.items()):
        c = _main_c(t)
        key = (cyl // 2 if c is None else c, head)
        if c is None and cyl % 2:
            continue  # an empty odd track between two cylinders of a 40-track disk
        best = out.get(key)
        if best is None or _good_count(t) > _good_count(best[1]):
            out[key] = (cyl, t)
    return out


def _pick(reads: list[SectorRead], cyl: int, head: int) -> SectorRead:
    """One sector for an R found more than once on a track: good before bad, an ID that
    names this track before one that does not."""
    return max(reads, key=lambda s: (s.data is not None, s.id.c == cyl and s.id.h == head,
                                     s.good))


def lay_out(decoded: list[TrackDecode], cylinders: int = 0) -> Layout:
    """The sector image the decoded tracks give. cylinders: how many the profile says
    the disk has (tracks up to there with nothing readable are bad, not absent); the
    disk's own IDs may say more."""
    by_pos = {(t.cylinder, t.head): t for t in decoded}
    double = _double_stepped(by_pos)
    logical = _logical(by_pos, double)
    with_ids = {k: v for k, v in logical.items() if v[1].sectors}
    notes: list[str] = ["double-step: 40-track disk read on every other track"] if double \
        else []
    if not with_ids:  # nothing IBM on the disk at all
        return Layout([], [_empty_report(k, v[0], v[1], in_image=False)
                           for k, v in sorted(logical.items())], 0, 0, 0, 0, 0, double,
                      False, notes)

    found = max(c for c, _ in with_ids) + 1
    captured = max(c for c, _ in logical) + 1
    # the profile's cylinders, as far as they were captured, even when the last ones
    # gave nothing: a scratched last track is bad sectors, not a shorter disk
    n_cyl = max(found, min(cylinders, captured))
    # a side whose track files are damaged is still the disk's: its sectors are bad
    damaged = [k for k, v in logical.items() if v[1].damage is not None]
    n_heads = max(h for _, h in [*with_ids, *damaged]) + 1
    formats = Counter(_format(v[1]) for v in with_ids.values())
    dominant = formats.most_common(1)[0][0]
    per_head = {h: Counter(_format(v[1]) for k, v in with_ids.items() if k[1] == h)
                for h in range(n_heads)}

    slots: list[Slot] = []
    reports: list[TrackReport] = []
    offset = 0
    for cyl in range(n_cyl):
        for head in range(n_heads):
            phys, track = logical.get((cyl, head), (cyl, None))
            expected = _expected(track, formats, per_head.get(head) or formats, dominant)
            track_slots, report = _lay_track(cyl, head, phys, track, expected, offset)
            slots += track_slots
            offset += sum(s.size for s in track_slots)
            reports.append(report)
    for key, (phys, track) in sorted(logical.items()):  # captured beyond the disk
        if key[0] >= n_cyl or key[1] >= n_heads:
            reports.append(_empty_report(key, phys, track, in_image=False))
    dom_ids = dominant[1]
    sizes = {s.size for s in slots}
    encodings = {s.encoding for s in slots if s.found}
    counts = {r.sectors for r in reports if r.in_image}
    uniform = len(sizes) == 1 and len(encodings) <= 1 and len(counts) == 1
    odd = sum(s.odd_id for s in slots)
    if odd:
        notes.append(f"{odd} sector(s) with an ID naming another track (kept)")
    return Layout(slots, reports, n_cyl, n_heads, len(dom_ids),
                  128 << min(dom_ids[0][1], 8) if dom_ids else 0,
                  min(r for r, _ in dom_ids) if dom_ids else 1, double, uniform, notes)


def _expected(track: TrackDecode | None, formats: Counter[Format],
              head_formats: Counter[Format], dominant: Format) -> Format:
    """The sectors a track should hold: its own, or a more complete format its
    neighbours share when it holds a part of that (IDs scratched away); a track with
    no ID at all holds what most tracks of its side hold. A superset only counts when
    at least as many tracks hold it as hold this track's own: one track with an extra
    sector (a protection, a sector added by hand) never makes every other track short."""
    if track is None or not track.sectors:
        return head_formats.most_common(1)[0][0] if head_formats else dominant
    own = _format(track)
    found = set(own[1])
    supersets = [(n, f) for f, n in formats.items()
                 if f[0] == own[0] and found < set(f[1]) and n >= formats.get(own, 0)]
    if not supersets:
        return own
    return max(supersets)[1]


def _lay_track(cyl: int, head: int, phys: int, track: TrackDecode | None,
               expected: Format, offset: int) -> tuple[list[Slot], TrackReport]:
    enc = Encoding(expected[0])
    report = TrackReport(cyl, head, phys, track.encoding.value if track else "missing",
                         "decoded", revolutions=track.revolutions if track else 0,
                         data_rate_kbps=track.data_rate_kbps if track else 0.0,
                         rpm=track.rpm if track else 0.0, note=track.note if track else "",
                         damage=_damage(track))
    by_r: dict[int, list[SectorRead]] = {}
    for s in track.sectors if track else ():
        by_r.setdefault(s.id.r, []).append(s)
    wanted = dict(expected[1])
    if track is None:
        report.status = "missing"
    elif track.damage is not None:
        report.status = DAMAGED
    elif not track.sectors:  # its neighbours have IDs: scratched, worn, or erased
        report.status = NOT_DECODED if track.encoding is Encoding.UNKNOWN else "ids-missing"
    slots = []
    for r in sorted(set(wanted) | set(by_r)):
        reads = by_r.get(r)
        if not reads:  # the neighbours' format has it; this track's ID is gone
            sid = SectorId(cyl, head, r, wanted[r])
            slots.append(Slot(cyl, head, sid, offset, sid.size, enc, None, found=False))
            report.missing += 1
        else:
            s = _pick(reads, cyl, head)
            size = s.id.size
            data = s.data
            if data is not None and len(data) != size:
                data = (data + bytes(size))[:size]  # the ID's size rules the image
            slots.append(Slot(cyl, head, s.id, offset, size, s.encoding, data,
                              good_reads=s.good, disagree=s.disagree, deleted=s.deleted,
                              odd_id=(s.id.c, s.id.h) != (cyl, head),
                              offset_us=s.offset_us))
            report.good += data is not None
            report.bad += data is None
            report.extra += r not in wanted
            if len(reads) > 1:
                report.note = (report.note + " duplicate-ids").strip()
        offset += slots[-1].size
    report.sectors = len(slots)
    report.disagree = sum(s.disagree for s in slots)
    report.odd_ids = sum(s.odd_id for s in slots)
    report.deleted = sum(s.deleted for s in slots)
    return slots, report


def _damage(track: TrackDecode | None) -> dict[str, Any] | None:
    return track.damage.as_dict() if track is not None and track.damage else None


def _empty_report(key: tuple[int, int], phys: int, track: TrackDecode,
                  in_image: bool) -> TrackReport:
    status = DAMAGED if track.damage else NOT_DECODED if track.encoding is Encoding.UNKNOWN \
        else ("decoded" if track.sectors else "unformatted")
    return TrackReport(key[0], key[1], phys, track.encoding.value, status,
                       sectors=len(track.sectors), revolutions=track.revolutions,
                       data_rate_kbps=track.data_rate_kbps, rpm=track.rpm, note=track.note,
                       in_image=in_image, damage=_damage(track))
