"""SCP images and KryoFlux streams: round trips through the writers, tiny files built by
hand from the format descriptions, the one entry point read_capture, and the
tick-conversion rule between SCP's 40 MHz and KryoFlux's sample clock."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.flux_fixtures import KF_EXPECTED, hfe_image, kryoflux_stream, scp_image, synthetic
from workbench.errors import BadInput
from workbench.flux.bounds import joined
from workbench.flux.kryoflux import DEFAULT_SCK, write_kryoflux
from workbench.flux.model import FluxCapture, Revolution, TrackFlux
from workbench.flux.read import read_capture
from workbench.flux.scp import write_scp


def same(a: FluxCapture, b: FluxCapture, *, scp: bool = False) -> None:
    assert sorted(a.tracks) == sorted(b.tracks)
    for key, track in a.tracks.items():
        other = b.tracks[key]
        assert (other.cylinder, other.head) == key
        assert other.sample_hz == track.sample_hz
        assert len(other.revolutions) == len(track.revolutions)
        for mine, theirs in zip(track.revolutions, other.revolutions, strict=True):
            assert theirs.intervals.dtype == np.uint32
            assert theirs.tail == mine.tail, key
            if scp:
                scp_same(mine.intervals, theirs.intervals)
            else:
                assert np.array_equal(theirs.intervals, mine.intervals), key


def scp_same(want: np.ndarray, got: np.ndarray) -> None:
    """Equal, but for SCP's one exception: 0 cells mean +65536, so a transition after an
    interval that is a multiple of 65536 comes one tick late (later ones keep their time)."""
    moved = np.cumsum(got, dtype=np.int64) - np.cumsum(want, dtype=np.int64)
    assert set(moved.tolist()) <= {0, 1}
    assert np.array_equal(moved != 0, want % 65536 == 0)


def test_scp_round_trip_keeps_every_revolution(tmp_path):
    capture = synthetic()
    write_scp(capture, tmp_path / "disk.scp")
    back = read_capture(tmp_path / "disk.scp")
    assert back.source_format == "scp" and back.notes == []
    same(capture, back, scp=True)
    assert back.tracks[(1, 0)].revolutions[1].intervals.size == 0  # the erased turn


def test_kryoflux_round_trip_at_the_capture_clock_is_exact(tmp_path):
    capture = synthetic(seed=2)
    write_kryoflux(capture, tmp_path / "kf", sck=40e6)
    assert sorted(p.name for p in (tmp_path / "kf").iterdir())[:2] == [
        "track00.0.raw", "track00.1.raw"]
    back = read_capture(tmp_path / "kf")
    assert back.source_format == "kryoflux"
    same(capture, back)
    # the closing flux the writer puts after the last pulse is said, not kept
    assert any("not whole revolutions" in n for n in back.notes)


def test_kryoflux_clock_conversion_loses_at_most_one_tick_per_interval(tmp_path):
    """The rule: transition times from the start of their revolution are rounded, so every
    interval is within one tick of its exact scaled length, every transition within half
    a tick of its exact time, and each revolution's length is rounded once."""
    capture = synthetic(seed=3)
    write_kryoflux(capture, tmp_path / "kf")
    back = read_capture(tmp_path / "kf")
    factor = DEFAULT_SCK / 40e6
    for key, track in capture.tracks.items():
        assert back.tracks[key].sample_hz == DEFAULT_SCK
        for src, got in zip(track.revolutions, back.tracks[key].revolutions, strict=True):
            exact = src.intervals.astype(np.float64) * factor
            assert got.intervals.size == src.intervals.size
            if src.intervals.size:
                assert np.abs(got.intervals - exact).max() < 1.0
                drift = np.cumsum(got.intervals, dtype=np.int64) - np.cumsum(exact)
                assert np.abs(drift).max() <= 0.5 + 1e-6
            assert abs(got.ticks - src.ticks * factor) <= 0.5 + 1e-6
    # and back to SCP's 40 MHz by the same rule
    write_scp(back, tmp_path / "again.scp")
    again = read_capture(tmp_path / "again.scp")
    assert again.tracks[(0, 0)].sample_hz == 40e6
    for key, track in capture.tracks.items():
        for src, got in zip(track.revolutions, again.tracks[key].revolutions, strict=True):
            if src.intervals.size:
                assert np.abs(got.intervals.astype(np.int64) - src.intervals).max() <= 2
            assert abs(got.ticks - src.ticks) <= 1


def test_scp_and_kryoflux_of_one_capture_read_the_same(tmp_path):
    capture = synthetic(seed=4)
    write_scp(capture, tmp_path / "disk.scp")
    write_kryoflux(capture, tmp_path / "kf", sck=40e6)
    a, b = read_capture(tmp_path / "disk.scp"), read_capture(tmp_path / "kf")
    for key in capture.tracks:
        for x, y in zip(a.tracks[key].revolutions, b.tracks[key].revolutions, strict=True):
            scp_same(y.intervals, x.intervals)
            assert x.tail == y.tail


def test_a_hand_built_scp_reads_as_the_specification_says(tmp_path):
    # Track-table entry 3 = cylinder 1, side 1. Revolution 0: cells 1000, (0 = +65536) 5,
    # 300 -> intervals 1000, 65541, 300; index time 67000 -> the pulse 159 ticks after the
    # last. Revolution 1's stored first interval (400) holds that pulse: from the pulse it
    # is 400 - 159 = 241; its index time 2600 leaves a tail of 2600 - 241 - 2000 = 359.
    data = scp_image({3: [(67000, [1000, 0, 5, 300]), (2600, [400, 2000])]}, nr_revs=2)
    (tmp_path / "x.scp").write_bytes(data)
    capture = read_capture(tmp_path / "x.scp")
    assert list(capture.tracks) == [(1, 1)] and capture.notes == []
    track = capture.tracks[(1, 1)]
    assert track.sample_hz == 40e6
    r0, r1 = track.revolutions
    assert r0.intervals.tolist() == [1000, 65541, 300] and r0.tail == 159
    assert r1.intervals.tolist() == [241, 2000] and r1.tail == 359
    assert (r0.ticks, r1.ticks) == (67000, 2600)
    # the bytes the reader sees are the bytes joined() gives a writer
    assert [p.tolist() for p in joined(list(track.revolutions))[0]] == [
        [1000, 65541, 300], [400, 2000]]


def test_scp_header_fields(tmp_path):
    path = tmp_path / "x.scp"
    # resolution 1: 50 ns ticks; a wrong checksum is said, and the flux still read
    path.write_bytes(scp_image({0: [(100, [60, 40])]}, nr_revs=1, resolution=1,
                               good_checksum=False))
    capture = read_capture(path)
    assert capture.tracks[(0, 0)].sample_hz == 20e6
    assert any("checksum" in n for n in capture.notes)
    # not index-cued: the first revolution began anywhere, and is dropped
    path.write_bytes(scp_image({0: [(100, [60, 40]), (90, [50, 40])]}, nr_revs=2, flags=0))
    capture = read_capture(path)
    assert [r.intervals.tolist() for r in capture.tracks[(0, 0)].revolutions] == [[50, 40]]
    assert any("index-cued" in n for n in capture.notes)


@pytest.mark.parametrize(("heads", "entries", "tracks"), [
    (0, [0, 1, 4], [(0, 0), (0, 1), (2, 0)]),
    (1, [0, 2, 4], [(0, 0), (1, 0), (2, 0)]),  # side 0 only, numbered cyl*2
    (1, [0, 1, 2], [(0, 0), (1, 0), (2, 0)]),  # legacy single-sided: one entry a cylinder
    (2, [1, 3], [(0, 1), (1, 1)]),  # side 1 only
    (2, [0, 1], [(0, 1), (1, 1)]),  # legacy, side 1
    (1, [10], [(5, 0)]),  # one track of a capture resumed track by track
    (2, [11], [(5, 1)]),
])
def test_scp_track_numbering(tmp_path, heads, entries, tracks):
    data = scp_image({e: [(200, [100, 100])] for e in entries}, nr_revs=1, heads=heads)
    (tmp_path / "x.scp").write_bytes(data)
    assert sorted(read_capture(tmp_path / "x.scp").tracks) == tracks


def test_a_hand_built_kryoflux_stream_reads_as_the_protocol_says(tmp_path):
    folder = tmp_path / "kf"
    folder.mkdir()
    (folder / "track07.1.raw").write_bytes(kryoflux_stream())
    for capture in (read_capture(folder), read_capture(folder / "track07.1.raw")):
        track = capture.tracks[(7, 1)]
        assert track.sample_hz == 24e6  # from KFInfo sck=
        got = [(r.intervals.tolist(), r.tail) for r in track.revolutions]
        assert got == KF_EXPECTED
        assert any("2 flux transitions" in n for n in capture.notes)


def test_kryoflux_default_clock_when_the_stream_gives_none(tmp_path):
    mck = ((18432000 * 73) / 14) / 2  # the master clock, as the stream protocol gives it
    assert mck / 2 == DEFAULT_SCK
    assert round(DEFAULT_SCK, 4) == 24027428.5714
    data = kryoflux_stream(clock=False)
    (tmp_path / "track00.0.raw").write_bytes(data)
    assert read_capture(tmp_path / "track00.0.raw").tracks[(0, 0)].sample_hz == DEFAULT_SCK


def test_read_capture_tells_the_kind_by_content(tmp_path):
    capture = synthetic(seed=5, cylinders=1)
    write_scp(capture, tmp_path / "capture.bin")  # an SCP by any name
    assert read_capture(tmp_path / "capture.bin").source_format == "scp"
    (tmp_path / "disk.hfe").write_bytes(b"HXCHFEV3" + bytes(600))
    (tmp_path / "notes.scp").write_bytes(b"not flux at all")
    (tmp_path / "stream.raw").write_bytes(kryoflux_stream())  # no track in its name
    for name, key in [("disk.hfe", "flux_formats.hfe.v3"),
                      ("notes.scp", "flux_formats.unknown_content"),
                      ("stream.raw", "flux_formats.kryoflux.raw_name"),
                      ("missing.scp", "flux_formats.not_found")]:
        with pytest.raises(BadInput) as err:
            read_capture(tmp_path / name)
        assert err.value.key == key


def test_a_folder_of_one_track_scp_images_is_one_capture(tmp_path):
    capture = synthetic(seed=6)
    folder = tmp_path / "job"
    folder.mkdir()
    for key, track in capture.tracks.items():
        write_scp(FluxCapture({key: track}, "scp"), folder / f"t{key[0]}{key[1]}.scp")
    (folder / "capture.log").write_text("gw read ...\n")  # other files are left alone
    back = read_capture(folder)
    same(capture, back, scp=True)
    write_scp(FluxCapture({(0, 1): capture.tracks[(0, 1)]}, "scp"), folder / "again.scp")
    with pytest.raises(BadInput) as err:
        read_capture(folder)
    assert err.value.key == "flux_formats.track_twice" and "0.1" in str(err.value)


def test_folders_that_are_not_one_capture(tmp_path):
    capture = synthetic(seed=7, cylinders=1)
    write_kryoflux(capture, tmp_path / "a")
    (tmp_path / "a" / "other00.0.raw").write_bytes(kryoflux_stream())
    with pytest.raises(BadInput) as err:
        read_capture(tmp_path / "a")
    assert err.value.key == "flux_formats.kryoflux.two_sets"
    write_kryoflux(capture, tmp_path / "d")
    (tmp_path / "d" / "track000.1.raw").write_bytes(kryoflux_stream())
    with pytest.raises(BadInput) as err:
        read_capture(tmp_path / "d")
    assert err.value.key == "flux_formats.track_twice" and "track000.1.raw" in str(err.value)
    (tmp_path / "d" / "track000.1.raw").unlink()
    (tmp_path / "d" / "track05.0.raw").write_bytes(b"")  # an interrupted capture's track
    damaged = read_capture(tmp_path / "d")  # costs that track only, with its reason
    assert sorted(damaged.tracks) == [(0, 0), (0, 1)] and list(damaged.damaged) == [(5, 0)]
    assert damaged.damaged[5, 0].key == "flux_formats.kryoflux.no_end"
    assert "track05.0" in damaged.damaged[5, 0].message("en")
    write_kryoflux(capture, tmp_path / "b")
    write_scp(capture, tmp_path / "b" / "disk.scp")
    with pytest.raises(BadInput) as err:
        read_capture(tmp_path / "b")
    assert err.value.key == "flux_formats.mixed_folder"
    (tmp_path / "c").mkdir()
    with pytest.raises(BadInput) as err:
        read_capture(tmp_path / "c")
    assert err.value.key == "flux_formats.empty_folder"
    with pytest.raises(BadInput) as err:  # never mixes two captures in one folder
        write_kryoflux(FluxCapture({(5, 0): capture.tracks[(0, 0)]}, "x"), tmp_path / "a",
                       prefix="disk")
    assert err.value.key == "flux_formats.kryoflux.folder_not_empty"


def test_a_track_without_a_whole_revolution_is_left_out_and_said(tmp_path):
    capture = synthetic(seed=8, cylinders=1)
    write_kryoflux(capture, tmp_path / "kf", sck=40e6)
    one_pulse = b"".join([struct.pack("<BBH", 13, 2, 12), struct.pack("<3I", 0, 0, 0),
                          b"\x40\x40", struct.pack("<BBH2I", 13, 3, 8, 2, 2), b"\x0d" * 4])
    (tmp_path / "kf" / "track01.0.raw").write_bytes(one_pulse)
    back = read_capture(tmp_path / "kf")
    assert sorted(back.tracks) == [(0, 0), (0, 1)]
    assert any("1.0" in n and "no whole revolution" in n for n in back.notes)
    assert any("code 2" in n for n in back.notes)  # the device's "no index" result


def test_scp_writer_refuses_what_scp_cannot_hold():
    track = TrackFlux(84, 0, 40e6, (Revolution(np.array([100], np.uint32)),))
    with pytest.raises(BadInput) as err:
        write_scp(FluxCapture({(84, 0): track}, "kryoflux"), "never.scp")
    assert err.value.key == "flux_formats.scp.too_many_tracks"
    assert not Path("never.scp").exists()


def test_a_hand_built_hfe_reads_as_cells(tmp_path):
    # cells (bits least significant first): byte 0 bit 2 -> cell 2; byte 1 bit 0 -> 8;
    # byte 260 (second block) bit 4 -> 2084; byte 299 bit 7 -> 2399, the last cell
    data = hfe_image({0: 0x04, 1: 0x01, 260: 0x10, 299: 0x80})
    capture = read_capture(put(tmp_path / "disk.img", data))
    assert capture.source_format == "hfe" and sorted(capture.tracks) == [(0, 0), (0, 1)]
    side0, side1 = capture.tracks[(0, 0)], capture.tracks[(0, 1)]
    assert side0.sample_hz == 500_000  # two cells per bit at 250 kbit/s
    (rev,) = side0.revolutions
    assert rev.intervals.tolist() == [3, 6, 2076, 315] and rev.tail == 0
    assert rev.ticks == 2400 == side1.revolutions[0].tail  # 300 bytes of cells a side
    assert side1.revolutions[0].intervals.size == 0
    with pytest.raises(BadInput) as err:
        read_capture(put(tmp_path / "cut.hfe", data[:1300]))
    assert err.value.key == "flux_formats.hfe.truncated"
    with pytest.raises(BadInput) as err:
        read_capture(put(tmp_path / "bad.hfe", data[:9] + b"\x00" + data[10:]))
    assert err.value.key == "flux_formats.hfe.bad_header"


def put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
