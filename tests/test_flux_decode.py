"""The flux decoder against the synthetic encoder: bit-exact round trips for the formats
the workbench meets, voting across revolutions, foreign and noise tracks, and fuzzed flux.
Every test decodes a few tracks only (a whole disk is bench/bench_flux.py's job)."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from workbench.errors import Aborted
from workbench.flux import decode as dec
from workbench.flux.decode import decode_capture, decode_track
from workbench.flux.encode import (
    FORMATS,
    SectorSpec,
    Timing,
    TrackSpec,
    crc16,
    encode_capture,
    encode_track,
    image_tracks,
    sector_order,
    with_fault,
)
from workbench.flux.model import Encoding, Revolution, SectorId, TrackDecode, TrackFlux

JITTER = Timing(jitter_ns=40, drift=0.02, speed=1.03, index_jitter_us=3)


def _image(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _expected(image: bytes, fmt_name: str, c: int, h: int) -> dict[int, bytes]:
    """Sector R -> bytes of the image, for one track."""
    fmt = FORMATS[fmt_name]
    pos = sum(fmt.at(cc, hh).track_bytes
              for cc in range(fmt.cylinders) for hh in range(fmt.heads) if (cc, hh) < (c, h))
    f = fmt.at(c, h)
    size = 128 << f.n
    return {f.first_id + i: image[pos + i * size:pos + (i + 1) * size] for i in range(f.sectors)}


def _round_trip(fmt_name: str, tracks: list[tuple[int, int]], timing: Timing = JITTER,
                ) -> list[TrackDecode]:
    fmt = FORMATS[fmt_name]
    image = _image(fmt.image_size(), hash(fmt_name) & 0xFFFF)
    specs = {(s.cylinder, s.head): s for s in image_tracks(image, fmt)}
    out = []
    for c, h in tracks:
        got = decode_track(encode_track(specs[(c, h)], timing, seed=c * 2 + h))
        want = _expected(image, fmt_name, c, h)
        f = fmt.at(c, h)
        assert got.encoding is f.encoding
        assert [s.id for s in got.sectors] == [
            SectorId(c, h, f.first_id + i, f.n) for i in sector_order(f.sectors, f.interleave)]
        for s in got.sectors:
            assert s.data == want[s.id.r], (fmt_name, c, h, s.id)
            assert (s.good, s.seen, s.disagree, s.deleted) == (3, 3, False, False)
        assert got.data_rate_kbps == f.rate_kbps
        assert abs(got.rpm - f.rpm / timing.speed) < 1.0
        assert got.revolutions == 3 and got.note == ""
        out.append(got)
    return out


@pytest.mark.parametrize("fmt_name,tracks", [
    ("ibm.720", [(0, 0), (79, 1)]),  # PC 2DD
    ("ibm.1440", [(0, 0), (79, 1)]),  # PC 2HD
    ("ibm.dmf", [(40, 1)]),  # 21 x 512, interleave 2
    ("ibm.360", [(0, 1), (39, 0)]),  # 5.25" 2D, 40 cylinders
    ("ibm.1200", [(0, 0), (79, 1)]),  # 5.25" 2HD at 360 rpm
    ("pc98.2hd", [(0, 0), (76, 1)]),  # 8 x 1024, 77 cylinders
    ("pc98.2dd", [(0, 0), (79, 1)]),  # 640 KB: 8 x 512, 80 cylinders
    ("x68k.2hd", [(0, 1), (76, 0)]),  # 8 x 1024, 77 cylinders
])
def test_formats_round_trip_bit_exact(fmt_name: str, tracks: list[tuple[int, int]]) -> None:
    _round_trip(fmt_name, tracks)


def test_ed_round_trip() -> None:
    _round_trip("ibm.2880", [(0, 0), (79, 1)], Timing(jitter_ns=20, drift=0.02))


def test_n88_basic_fm_track0_mfm_elsewhere() -> None:
    t00, t01, t10 = _round_trip("pc98.n88", [(0, 0), (0, 1), (1, 0)])
    assert t00.encoding is Encoding.FM and t00.data_rate_kbps == 250
    assert {s.id.size for s in t00.sectors} == {128} and len(t00.sectors) == 26
    assert {s.encoding for s in t00.sectors} == {Encoding.FM}
    for t in (t01, t10):
        assert t.encoding is Encoding.MFM and t.data_rate_kbps == 500
        assert {s.id.size for s in t.sectors} == {256} and len(t.sectors) == 26


def _track(sectors: list[SectorSpec], **kw: Any) -> TrackSpec:
    return replace(TrackSpec(3, 1, tuple(sectors)), **kw)


def _sector(r: int, n: int = 2, seed: int = 0, **kw: Any) -> SectorSpec:
    return replace(SectorSpec(SectorId(3, 1, r, n), _image(128 << n, seed * 100 + r)), **kw)


def test_mixed_sizes_on_one_track_128_to_8192() -> None:
    secs = [_sector(i + 1, n) for i, n in enumerate((6, 0, 3, 1, 2))]
    got = decode_track(encode_track(_track(secs), JITTER))
    assert [(s.id.r, s.id.size) for s in got.sectors] == [
        (1, 8192), (2, 128), (3, 1024), (4, 256), (5, 512)]
    assert [s.data for s in got.sectors] == [s.data for s in secs]


@pytest.mark.parametrize("timing", [
    Timing(jitter_ns=100, drift=0.04, speed=1.10, index_offset_us=900),
    Timing(jitter_ns=80, drift=0.04, speed=0.90, drift_period_revs=0.5),
    Timing(jitter_ns=60, drift=0.08, drift_period_revs=0.25, sample_hz=24027428.57),
    Timing(jitter_ns=50, drift=0.10),
], ids=["slow-10pct", "fast-10pct", "fast-drift-kryoflux-clock", "drift-10pct"])
def test_jitter_and_drift_decode_bit_exact(timing: Timing) -> None:
    secs = [_sector(r) for r in range(1, 19)]
    got = decode_track(encode_track(_track(secs), timing, seed=7))
    assert [s.id.r for s in got.sectors] == list(range(1, 19))
    assert all(s.data == secs[i].data and s.good == 3 for i, s in enumerate(got.sectors))


@pytest.mark.parametrize("encoding,rate,rpm,n,count", [
    (Encoding.MFM, 300.0, 360.0, 1, 16),  # a 5.25" DD disk in a 360 rpm (HD) drive
    (Encoding.FM, 125.0, 300.0, 1, 8),  # single density on a DD drive
    (Encoding.FM, 250.0, 360.0, 0, 26),  # 8"-style FM at the HD cell (N88-BASIC track 0)
])
def test_data_rate_and_encoding_are_found(encoding: Encoding, rate: float, rpm: float,
                                          n: int, count: int) -> None:
    secs = [_sector(r, n) for r in range(1, count + 1)]
    spec = _track(secs, encoding=encoding, rate_kbps=rate, rpm=rpm)
    got = decode_track(encode_track(spec, JITTER))
    assert (got.encoding, got.data_rate_kbps, got.rpm) == (encoding, rate,
                                                           round(rpm / JITTER.speed, 1))
    assert [s.data for s in got.sectors] == [s.data for s in secs]


def test_sector_across_the_index_is_read_whole() -> None:
    secs = [_sector(r) for r in range(1, 19)]
    # the write began 190 ms after the index: the 18th sector crosses it
    got = decode_track(encode_track(_track(secs), Timing(index_offset_us=190_000)))
    by_r = {s.id.r: s for s in got.sectors}
    assert sorted(by_r) == list(range(1, 19))
    assert all(by_r[r].data == secs[r - 1].data for r in by_r)
    assert got.sectors[0].id.r != 1  # physical order follows the index, not the IDs


def test_voting_across_revolutions() -> None:
    other = _image(512, 999)
    secs = [_sector(r) for r in range(1, 10)]
    spec = _track(secs)
    specs = with_fault([spec], 3, 1, 2, weak=(1, 2))  # good on the first revolution only
    specs = with_fault(specs, 3, 1, 3, weak=(0, 1, 2))  # never good
    specs = with_fault(specs, 3, 1, 4, variants=((1, other),))  # 2 agree, 1 differs
    specs = with_fault(specs, 3, 1, 5, no_id=(0, 2))  # its ID read once
    specs = with_fault(specs, 3, 1, 6, deleted=True)
    specs = with_fault(specs, 3, 1, 7, no_data=True)
    specs = with_fault(specs, 3, 1, 8, variants=((0, other), (2, _image(512, 5))))
    got = {s.id.r: s for s in decode_track(encode_track(specs[0], JITTER)).sectors}
    assert (got[1].data, got[1].good, got[1].seen) == (secs[0].data, 3, 3)
    assert (got[2].data, got[2].good, got[2].seen, got[2].disagree) == (secs[1].data, 1, 3,
                                                                        False)
    assert (got[3].data, got[3].good, got[3].seen) == (None, 0, 3)
    assert (got[4].data, got[4].good, got[4].disagree) == (secs[3].data, 3, True)
    assert (got[5].data, got[5].good, got[5].seen) == (secs[4].data, 1, 1)
    assert got[6].deleted and got[6].data == secs[5].data and not got[1].deleted
    assert (got[7].data, got[7].good, got[7].seen) == (None, 0, 3)
    assert got[8].disagree and got[8].good == 3  # three different: one of them, flagged
    assert got[8].data in (other, secs[7].data, _image(512, 5))


def test_single_revolution_misses_what_three_recover() -> None:
    spec = with_fault([_track([_sector(r) for r in range(1, 10)])], 3, 1, 4, weak=(0, 2))[0]
    three = decode_track(encode_track(spec, JITTER))
    one = decode_track(encode_track(spec, replace(JITTER, revolutions=1)))
    assert sum(s.data is not None for s in three.sectors) == 9
    assert sum(s.data is not None for s in one.sectors) == 8


def test_scratch_loses_only_the_sectors_under_it() -> None:
    secs = [_sector(r) for r in range(1, 19)]
    got = decode_track(encode_track(_track(secs, scratch=(60_000.0, 8_000.0)), JITTER))
    bad = [s.id.r for s in got.sectors if s.data is None]
    missing = set(range(1, 19)) - {s.id.r for s in got.sectors}
    assert 1 <= len(bad) + len(missing) <= 2  # a 8 ms scratch covers one or two sectors
    assert all(s.data == secs[s.id.r - 1].data for s in got.sectors if s.data is not None)
    assert len([s for s in got.sectors if s.data is not None]) >= 16


@pytest.mark.parametrize("kind,rate,encoding,note", [
    ("gcr", 250.0, Encoding.UNKNOWN, dec.NO_MARKS),
    ("amiga", 250.0, Encoding.UNKNOWN, dec.AMIGA),
    ("noise", 500.0, Encoding.UNFORMATTED, dec.NOISE),
    ("blank", 500.0, Encoding.UNFORMATTED, dec.NO_FLUX),
])
def test_foreign_and_empty_tracks(kind: str, rate: float, encoding: Encoding,
                                  note: str) -> None:
    got = decode_track(encode_track(TrackSpec(5, 0, (), rate_kbps=rate, kind=kind), JITTER))
    assert (got.encoding, got.note, got.sectors) == (encoding, note, ())
    assert got.revolutions == 3


def test_encoder_is_reproducible() -> None:
    spec = _track([_sector(r) for r in range(1, 4)])
    a, b = encode_track(spec, JITTER, seed=1), encode_track(spec, JITTER, seed=1)
    c = encode_track(spec, JITTER, seed=2)
    assert all(np.array_equal(x.intervals, y.intervals) and x.tail == y.tail
               for x, y in zip(a.revolutions, b.revolutions, strict=True))
    assert not np.array_equal(a.revolutions[0].intervals, c.revolutions[0].intervals)
    assert crc16(b"123456789") == 0x29B1  # CRC-CCITT (init 0xFFFF), the IBM controllers'


def test_capture_progress_and_cancel() -> None:
    fmt = FORMATS["pc98.2dd"]
    specs = image_tracks(_image(fmt.image_size(), 3), fmt)[:4]
    capture = encode_capture(specs, Timing(revolutions=1))
    seen: list[tuple[int, int]] = []
    tracks = decode_capture(capture, progress=lambda d, t: seen.append((d, t)))
    assert [(t.cylinder, t.head) for t in tracks] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    stop = threading.Event()
    with pytest.raises(Aborted) as caught:
        decode_capture(capture, progress=lambda d, t: stop.set() if d == 2 else None,
                       cancel=stop)
    assert caught.value.params == {"done": 2, "total": 4}


def _flux(revs: list[np.ndarray], hz: float = 40e6, tail: int = 0) -> TrackFlux:
    return TrackFlux(0, 0, hz, tuple(Revolution(np.asarray(r, dtype=np.uint32), tail)
                                     for r in revs))


def test_fuzzed_flux_never_crashes() -> None:
    rng = np.random.default_rng(1234)
    real = encode_track(_track([_sector(r) for r in range(1, 10)]), JITTER)
    cases = [
        _flux([]), _flux([[]]), _flux([[], [], []], tail=8_000_000), _flux([[0] * 5000]),
        _flux([[0xFFFFFFFF] * 100]), _flux([[1] * 100_000]), _flux([[80] * 100_000]),
        _flux([[80, 120, 160] * 30_000]), _flux([real.revolutions[0].intervals[:7]]),
        _flux([real.revolutions[0].intervals[:50_000]]), _flux([[80] * 500], hz=0.0),
        _flux([[80] * 500], hz=float("nan")), _flux([[80] * 500], hz=-5.0),
        _flux([rng.integers(0, 2**32, 20_000, dtype=np.uint64)]),
    ]
    mangled = TrackFlux(0, 0, real.sample_hz, (real.revolutions[0], Revolution(
        real.revolutions[1].intervals[::-1].copy(), 5), real.revolutions[2]))
    cases.append(mangled)
    for _ in range(12):
        n = int(rng.integers(0, 60_000))
        scale = float(rng.choice([3.0, 40.0, 400.0, 40_000.0]))
        cases.append(_flux([rng.exponential(scale, n).astype(np.uint32)
                            for _ in range(int(rng.integers(1, 4)))]))
    for flux in cases:
        got = decode_track(flux)
        assert isinstance(got, TrackDecode)
        assert got.encoding in (Encoding.UNFORMATTED, Encoding.UNKNOWN, Encoding.MFM)
        for s in got.sectors:  # whatever was found carries a correct CRC's data or None
            assert s.data is None or len(s.data) == s.id.size
    # the mangled middle revolution costs nothing: the other two still give every sector
    got = decode_track(mangled)
    assert len(got.sectors) == 9 and all(s.good >= 2 for s in got.sectors)
