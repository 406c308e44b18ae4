"""FM and MFM sectors on one track (issue 14): some Japanese formats and protections write
a track's first sectors in FM and the rest in MFM, one controller switching mode between
them. The encoder builds such tracks; the decoder keeps the sectors of both encodings, bit
exact, through an SCP file, into the layout and the D88 access copy (its density per
sector)."""

from __future__ import annotations

import random

import pytest

from workbench.flux.d88 import FM_DENSITY, MFM_DENSITY, read_d88, write_d88
from workbench.flux.decode import decode_capture, decode_track
from workbench.flux.encode import SectorSpec, Timing, TrackSpec, encode_capture, encode_track
from workbench.flux.layout import lay_out
from workbench.flux.model import Encoding, SectorId
from workbench.flux.read import read_capture
from workbench.flux.scp import write_scp

FM, MFM = Encoding.FM, Encoding.MFM
JITTER = Timing(jitter_ns=40, drift=0.02, speed=1.03, index_jitter_us=3)


def sectors(c: int, h: int, layout: list[tuple[int, int, Encoding]], seed: int = 0
            ) -> tuple[SectorSpec, ...]:
    rnd = random.Random(seed * 1000 + c * 2 + h)
    return tuple(SectorSpec(SectorId(c, h, r, n), rnd.randbytes(128 << n), encoding=enc)
                 for r, n, enc in layout)


def fm_then_mfm(c: int = 0, h: int = 0, base: Encoding = MFM) -> TrackSpec:
    """4 FM sectors of 128 bytes, then 11 MFM sectors of 256 (2HD, 360 rpm). The track's
    rate is its own encoding's: 500 kbps MFM, or 250 FM on the same controller."""
    layout = [(r, 0, FM) for r in range(1, 5)] + [(r, 1, MFM) for r in range(5, 16)]
    return TrackSpec(c, h, sectors(c, h, layout), base, 500.0 if base is MFM else 250.0,
                     360.0)


@pytest.mark.parametrize("base", [MFM, FM])
@pytest.mark.parametrize("timing", [Timing(), JITTER,
                                    Timing(jitter_ns=70, drift=0.04, speed=0.95)],
                         ids=["exact", "jitter", "slow"])
def test_a_track_of_fm_then_mfm_sectors_decodes_both(base: Encoding, timing: Timing) -> None:
    spec = fm_then_mfm(base=base)
    got = decode_track(encode_track(spec, timing, seed=3))
    assert [(s.id.r, s.encoding) for s in got.sectors] == [
        (s.id.r, s.encoding) for s in spec.sectors]
    for want, s in zip(spec.sectors, got.sectors, strict=True):
        assert (s.data, s.good, s.seen) == (want.data, 3, 3), s.id
    assert got.encoding is MFM and got.data_rate_kbps == 500.0  # most sectors


def test_one_mfm_sector_among_fm_ones_is_kept() -> None:
    """A track the clock finder takes for FM (almost no 3-cell intervals): its one MFM
    sector still decodes."""
    layout = [(r, 0, FM) for r in range(1, 26)] + [(26, 1, MFM)]
    spec = TrackSpec(0, 0, sectors(0, 0, layout, seed=2), FM, 250.0, 360.0)
    got = decode_track(encode_track(spec, JITTER, seed=4))
    assert got.encoding is FM and got.data_rate_kbps == 250.0
    assert [(s.id.r, s.encoding) for s in got.sectors] == [
        (s.id.r, s.encoding) for s in spec.sectors]
    assert [s.data for s in got.sectors] == [s.data for s in spec.sectors]


def test_a_weak_fm_sector_on_a_mixed_track_is_voted_like_any() -> None:
    from dataclasses import replace
    spec = fm_then_mfm()
    secs = list(spec.sectors)
    secs[1] = replace(secs[1], weak=(0, 2))  # FM R=2: good on revolution 1 only
    secs[6] = replace(secs[6], weak=(0, 1, 2))  # MFM R=7: never good
    got = {s.id.r: s for s in decode_track(encode_track(replace(spec, sectors=tuple(secs)),
                                                        JITTER, seed=5)).sectors}
    assert (got[2].data, got[2].good, got[2].seen, got[2].encoding) == (secs[1].data, 1, 3, FM)
    assert (got[7].data, got[7].good, got[7].seen, got[7].encoding) == (None, 0, 3, MFM)
    assert got[7].raw is not None and len(got[7].raw) == 256  # read, CRC wrong: kept aside


def test_pure_tracks_find_no_sectors_of_the_other_encoding() -> None:
    """The search for FM inside MFM (and MFM inside FM) adds nothing to ordinary tracks."""
    mfm = TrackSpec(1, 0, sectors(1, 0, [(r, 2, MFM) for r in range(1, 19)]), MFM, 500.0)
    fm = TrackSpec(0, 0, sectors(0, 0, [(r, 0, FM) for r in range(1, 27)]), FM, 250.0, 360.0)
    for spec, enc in ((mfm, MFM), (fm, FM)):
        got = decode_track(encode_track(spec, JITTER, seed=6))
        assert {s.encoding for s in got.sectors} == {enc}
        assert [s.data for s in got.sectors] == [s.data for s in spec.sectors]


def test_mixed_tracks_through_scp_layout_and_d88(tmp_path) -> None:
    """A small disk whose track 0.0 mixes the encodings: read back from an SCP file, laid
    out with every sector at its own size, not uniform, and its D88 says each sector's
    density."""
    specs = [fm_then_mfm(0, 0)] + [
        TrackSpec(c, h, sectors(c, h, [(r, 1, MFM) for r in range(1, 16)]), MFM, 500.0,
                  360.0) for c, h in ((0, 1), (1, 0), (1, 1))]
    write_scp(encode_capture(specs, JITTER, seed=8), tmp_path / "mixed.scp")
    layout = lay_out(decode_capture(read_capture(tmp_path / "mixed.scp")), 2)
    assert not layout.uniform and all(s.good for s in layout.slots)
    assert layout.size == 4 * 128 + 11 * 256 + 3 * 15 * 256
    expected = b"".join(s.data for t in specs for s in sorted(t.sectors, key=lambda s: s.id.r))
    assert layout.image_bytes() == expected
    track0 = layout.tracks[0]
    assert (track0.status, track0.sectors, track0.good) == ("decoded", 15, 15)
    write_d88(layout, tmp_path / "mixed.d88", name="MIXED")
    first = read_d88((tmp_path / "mixed.d88").read_bytes()).tracks[0]
    assert [s.density for s in first] == [FM_DENSITY] * 4 + [MFM_DENSITY] * 11
    assert [s.data for s in first] == [s.data for s in specs[0].sectors]
