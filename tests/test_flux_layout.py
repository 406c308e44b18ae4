"""The layout: decoded tracks -> geometry, sector image, ddrescue map, D88 access copy.

Tracks are built here as the decoder gives them (TrackDecode), so these tests do not
depend on the decoder; the end-to-end tests (test_flux_station.py) go through it.
"""

from __future__ import annotations

import struct

import pytest

from tests.conftest import pattern
from workbench.flux.d88 import d88_bytes, read_d88
from workbench.flux.layout import NOT_DECODED, lay_out
from workbench.flux.model import Encoding, SectorId, SectorRead, TrackDecode
from workbench.imaging.mapfile import RescueMap


def sector(c: int, h: int, r: int, n: int, enc: Encoding = Encoding.MFM, good: bool = True,
           disagree: bool = False, deleted: bool = False) -> SectorRead:
    size = 128 << n
    data = pattern(size, seed=(c * 7919 + h * 131 + r * 17 + n) & 0xFFFF) if good else None
    return SectorRead(SectorId(c, h, r, n), enc, data, good=3 if good else 0, seen=3,
                      disagree=disagree, deleted=deleted, offset_us=r * 100.0)


def track(c: int, h: int, rs: range | list[int], n: int, enc: Encoding = Encoding.MFM,
          bad: tuple[int, ...] = (), rate: float = 500.0, ids_c: int | None = None
          ) -> TrackDecode:
    secs = tuple(sector(c if ids_c is None else ids_c, h, r, n, enc, r not in bad)
                 for r in rs)
    return TrackDecode(c, h, enc, secs, 3, data_rate_kbps=rate, rpm=300.0)


def disk(cyls: int, heads: int, spt: int, n: int, base: int = 1, rate: float = 500.0
         ) -> list[TrackDecode]:
    return [track(c, h, range(base, base + spt), n, rate=rate)
            for c in range(cyls) for h in range(heads)]


def flat(tracks: list[TrackDecode]) -> bytes:
    """What a drive reading sector by sector would give (all good)."""
    out = bytearray()
    for t in sorted(tracks, key=lambda t: (t.cylinder, t.head)):
        for s in sorted(t.sectors, key=lambda s: s.id.r):
            out += s.data or bytes(s.id.size)
    return bytes(out)


def test_uniform_2hd_equals_what_a_usb_drive_reads(profiles) -> None:
    tracks = disk(80, 2, 18, 2)
    layout = lay_out(tracks)
    assert (layout.cylinders, layout.heads, layout.sectors_per_track,
            layout.sector_size, layout.base) == (80, 2, 18, 512, 1)
    assert layout.size == 1474560 and layout.uniform
    assert layout.image_bytes() == flat(tracks)
    assert layout.bad_ranges() == []
    assert layout.fitting_profiles(profiles) == ["fd35-2hd"]
    assert RescueMap.parse(layout.rescue_map().render()).ranges(("-",)) == []


def test_physical_order_does_not_change_the_image() -> None:
    tracks = disk(2, 2, 9, 2, rate=250.0)
    shuffled = [TrackDecode(t.cylinder, t.head, t.encoding,
                            tuple(sorted(t.sectors, key=lambda s: (s.id.r * 5) % 9)), 3)
                for t in reversed(tracks)]
    assert lay_out(shuffled).image_bytes() == flat(tracks)


def test_bad_sector_is_zero_filled_and_mapped_byte_exact() -> None:
    tracks = disk(80, 2, 18, 2)
    tracks[2 * 10 + 1] = track(10, 1, range(1, 19), 2, bad=(7,))
    layout = lay_out(tracks)
    pos = ((10 * 2 + 1) * 18 + 6) * 512
    assert layout.bad_ranges() == [(pos, 512)]
    image = layout.image_bytes()
    assert image[pos:pos + 512] == bytes(512)
    assert image[pos + 512:pos + 1024] == tracks[21].sectors[7].data
    rmap = RescueMap.parse(layout.rescue_map().render())
    assert rmap.ranges(("-",)) == [(pos, 512)]
    assert rmap.total("+") == 1474560 - 512
    assert layout.read(pos - 4, 8) == image[pos - 4:pos + 4]
    assert layout.touches_bad(pos - 4, 8) and not layout.touches_bad(pos + 512, 512)
    report = layout.report()
    assert (report["good"], report["bad"], report["missing"]) == (2879, 1, 0)
    assert [(t["good"], t["bad"]) for t in report["tracks"]
            if (t["cylinder"], t["head"]) == (10, 1)] == [(17, 1)]


def test_scratched_track_expected_sectors_are_bad_not_absent() -> None:
    tracks = disk(80, 2, 18, 2)
    tracks[2 * 40] = TrackDecode(40, 0, Encoding.UNFORMATTED, (), 3)  # IDs gone
    tracks[2 * 41] = track(41, 0, range(1, 10), 2)  # half the IDs gone
    layout = lay_out(tracks)
    assert layout.size == 1474560 and layout.uniform
    start = 40 * 2 * 18 * 512
    assert layout.bad_ranges() == [(start, 18 * 512), (start + 2 * 18 * 512 + 9 * 512,
                                                       9 * 512)]
    by_track = {(t.cylinder, t.head): t for t in layout.tracks}
    assert (by_track[40, 0].missing, by_track[40, 0].status) == (18, "ids-missing")
    assert by_track[41, 0].missing == 9 and by_track[41, 0].good == 9
    assert layout.report()["missing"] == 27


def test_one_track_with_an_extra_sector_leaves_the_others_as_they_are() -> None:
    """A 10th sector on one track only (a protection, a sector added by hand): that
    track keeps it, and the others are not laid out as 10-sector tracks short of one."""
    tracks = disk(40, 2, 9, 2)
    tracks[2 * 6 + 1] = track(6, 1, range(1, 11), 2)
    layout = lay_out(tracks)
    assert layout.bad_ranges() == [] and not layout.uniform
    assert layout.size == 40 * 2 * 9 * 512 + 512
    assert sum(t.missing for t in layout.tracks) == 0


def test_last_cylinder_scratched_keeps_the_profiles_size() -> None:
    tracks = disk(80, 2, 18, 2)
    tracks[-1] = TrackDecode(79, 1, Encoding.UNFORMATTED, (), 3)
    tracks[-2] = TrackDecode(79, 0, Encoding.UNFORMATTED, (), 3)
    assert lay_out(tracks).size == 1474560 - 2 * 18 * 512  # the IDs alone say 79
    layout = lay_out(tracks, cylinders=80)  # the profile says 80
    assert layout.size == 1474560
    assert layout.bad_ranges() == [(79 * 2 * 18 * 512, 2 * 18 * 512)]


def test_n88_basic_fm_track0_and_d88() -> None:
    tracks = [track(0, 0, range(1, 27), 0, Encoding.FM)]
    tracks += [track(c, h, range(1, 27), 1) for c in range(77) for h in range(2)
               if (c, h) != (0, 0)]
    layout = lay_out(tracks)
    assert layout.size == 26 * 128 + 153 * 26 * 256
    assert not layout.uniform
    assert (layout.sector_size, layout.sectors_per_track, layout.granule) == (256, 26, 128)
    assert layout.image_bytes() == flat(tracks)
    assert layout.fitting_profiles({}) == []
    image = read_d88(d88_bytes(layout, name="N88"))
    assert image.media == 0x20 and image.name == "N88"
    t0, t1 = image.tracks[0], image.tracks[1]
    assert len(t0) == 26 and {s.density for s in t0} == {0x40} and {s.n for s in t0} == {0}
    assert len(t1) == 26 and {s.density for s in t1} == {0x00} and {s.n for s in t1} == {1}
    assert b"".join(s.data for s in sorted(t0, key=lambda s: s.r)) == \
        layout.image_bytes()[:26 * 128]
    assert len(image.tracks) == 154


def test_pc98_2hd_fits_its_profile(profiles) -> None:
    layout = lay_out(disk(77, 2, 8, 3))
    assert layout.size == 1261568 and layout.uniform
    assert layout.fitting_profiles(profiles) == ["pc98-2hd"]


def test_dmf_and_base_zero() -> None:
    layout = lay_out(disk(80, 2, 21, 2))
    assert (layout.size, layout.sectors_per_track) == (1720320, 21)
    zero = lay_out(disk(3, 2, 16, 1, base=0))
    assert zero.base == 0 and zero.size == 3 * 2 * 16 * 256


def test_40_track_disk_read_without_double_step() -> None:
    """Physical track 2N holds cylinder N; odd tracks read nothing (or the same)."""
    source = disk(40, 2, 9, 2, rate=300.0)
    tracks = []
    for t in source:
        tracks.append(TrackDecode(t.cylinder * 2, t.head, t.encoding, t.sectors, 3))
        tracks.append(TrackDecode(t.cylinder * 2 + 1, t.head, Encoding.UNFORMATTED, (), 3))
    layout = lay_out(tracks)
    assert layout.double_step and layout.cylinders == 40
    assert layout.size == 368640 and layout.image_bytes() == flat(source)
    assert not [t for t in layout.tracks if t.in_image and t.physical_cylinder % 2]


def test_odd_ids_are_kept_and_noted() -> None:
    tracks = disk(4, 2, 9, 2)
    tracks[5] = track(2, 1, range(1, 10), 2, ids_c=7)  # IDs say cylinder 7
    layout = lay_out(tracks)
    assert layout.image_bytes() == flat(tracks)
    assert sum(s.odd_id for s in layout.slots) == 9
    assert any("another track" in n for n in layout.notes)


def test_mixed_sizes_on_one_track_each_at_its_own_size() -> None:
    tracks = disk(3, 2, 9, 2)
    odd = (sector(1, 0, 1, 3), sector(1, 0, 2, 3), sector(1, 0, 3, 1))
    tracks[2] = TrackDecode(1, 0, Encoding.MFM, odd, 3)
    layout = lay_out(tracks)
    assert not layout.uniform
    assert layout.size == 5 * 9 * 512 + 1024 + 1024 + 256
    assert layout.image_bytes() == flat(tracks)


def test_unknown_encoding_track_is_flux_kept_not_decoded() -> None:
    tracks = disk(10, 2, 18, 2)
    tracks[7] = TrackDecode(3, 1, Encoding.UNKNOWN, (), 3, note="no-address-marks")
    layout = lay_out(tracks)
    assert [(t.cylinder, t.head) for t in layout.undecoded] == [(3, 1)]
    assert layout.undecoded[0].status == NOT_DECODED
    assert layout.bad_ranges() == [((3 * 2 + 1) * 18 * 512, 18 * 512)]
    assert layout.report()["undecoded_tracks"] == [[3, 1]]
    gcr = lay_out([TrackDecode(c, 0, Encoding.UNKNOWN, (), 3) for c in range(35)])
    assert gcr.size == 0 and len(gcr.undecoded) == 35 and gcr.rescue_map().size == 0


def test_disagreeing_and_deleted_sectors_counted() -> None:
    tracks = disk(2, 2, 9, 2)
    secs = list(tracks[0].sectors)
    secs[0] = sector(0, 0, 1, 2, disagree=True)
    secs[1] = sector(0, 0, 2, 2, deleted=True)
    tracks[0] = TrackDecode(0, 0, Encoding.MFM, tuple(secs), 3)
    layout = lay_out(tracks)
    assert layout.report()["disagree"] == 1 and layout.tracks[0].deleted == 1
    d88 = read_d88(d88_bytes(layout))
    assert [s.deleted for s in d88.tracks[0]][:2] == [False, True]


def test_d88_bad_sector_status_and_missing_left_out() -> None:
    tracks = disk(2, 2, 9, 2, rate=250.0)
    tracks[1] = track(0, 1, range(1, 10), 2, bad=(4,), rate=250.0)
    tracks[2] = track(1, 0, range(1, 6), 2, rate=250.0)  # 6..9 missing
    image = read_d88(d88_bytes(lay_out(tracks)))
    assert image.media == 0x00  # 2 cylinders at 250 kbit/s: 2D
    t1 = {s.r: s for s in image.tracks[1]}
    assert t1[4].status == 0xB0 and t1[4].data == bytes(512) and t1[5].status == 0
    assert sorted(s.r for s in image.tracks[2]) == [1, 2, 3, 4, 5]
    assert {s.count for s in image.tracks[2]} == {5}


def test_d88_reader_against_hand_built_bytes() -> None:
    """The published layout, byte by byte (not our writer): one FM sector on track 0,
    one deleted MFM sector with a CRC error on track 3 (cylinder 1, head 1)."""
    sec0 = bytes([0, 0, 1, 0]) + b"\x01\x00" + b"\x40" + b"\x00" + b"\x00" + bytes(5) \
        + b"\x80\x00" + b"A" * 128
    sec3 = bytes([1, 1, 5, 1]) + b"\x01\x00" + b"\x00" + b"\x10" + b"\xb0" + bytes(5) \
        + b"\x00\x01" + b"B" * 256
    offsets = [0] * 164
    offsets[0], offsets[3] = 0x2B0, 0x2B0 + len(sec0)
    size = 0x2B0 + len(sec0) + len(sec3)
    header = b"HANDMADE".ljust(17, b"\0") + bytes(9) + b"\x10" + b"\x20" \
        + struct.pack("<I", size) + struct.pack("<164I", *offsets)
    assert len(header) == 0x2B0
    image = read_d88(header + sec0 + sec3)
    assert (image.name, image.write_protected, image.media, image.size) == \
        ("HANDMADE", True, 0x20, size)
    (s0,), (s3,) = image.tracks[0], image.tracks[3]
    assert (s0.c, s0.h, s0.r, s0.n, s0.density, s0.deleted, s0.status, s0.data) == \
        (0, 0, 1, 0, 0x40, False, 0x00, b"A" * 128)
    assert (s3.c, s3.h, s3.r, s3.n, s3.density, s3.deleted, s3.status, s3.data) == \
        (1, 1, 5, 1, 0x00, True, 0xB0, b"B" * 256)
    with pytest.raises(ValueError):
        read_d88(header + sec0)  # shorter than its header says


def test_d88_writer_header_bytes_at_published_offsets() -> None:
    tracks = [track(0, 0, [1, 2], 0, Encoding.FM), track(0, 1, [1], 1)]
    raw = d88_bytes(lay_out(tracks), name="DISK", media="2DD")
    assert raw[:5] == b"DISK\0" and raw[0x1A] == 0 and raw[0x1B] == 0x10
    assert struct.unpack_from("<I", raw, 0x1C)[0] == len(raw)
    first, second = struct.unpack_from("<2I", raw, 0x20)
    assert first == 0x2B0 and second == 0x2B0 + 2 * (16 + 128)
    assert raw[0x2B0:0x2B6] == bytes([0, 0, 1, 0, 2, 0]) and raw[0x2B6] == 0x40
    assert raw[0x2B0 + 14:0x2B0 + 16] == b"\x80\x00"
    assert raw[second:second + 4] == bytes([0, 1, 1, 1]) and raw[second + 6] == 0x00
