"""A damaged track in a capture costs that track only (issue 14): a truncated stream file
in a KryoFlux set, or an SCP track whose offset or cell count the file cannot back, leaves
the other tracks readable. The damaged track is kept in the capture's `damaged` with the
reader's reason, decodes to nothing, and is laid out as its expected sectors, bad, with
the status "capture damaged, not decoded" and the reason in the per-track report; the
station images the rest, partial, and bags every file as it came (flux kept)."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np

from tests.test_flux_end_to_end import SECTOR, disk, station  # noqa: F401
from workbench.errors import BadInput
from workbench.flux.decode import decode_capture
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks
from workbench.flux.kryoflux import write_kryoflux
from workbench.flux.layout import DAMAGED, lay_out
from workbench.flux.read import read_capture
from workbench.flux.scp import scp_bytes
from workbench.station import Station
from workbench.station import flux as station_flux

FMT = FORMATS["ibm.720"]
CUT = ("flux_formats.kryoflux.truncated", "flux_formats.kryoflux.no_end")  # where it ends


def small_disk(cylinders: int = 3) -> tuple[bytes, list]:
    image = random.Random(72).randbytes(FMT.image_size())
    return image, [s for s in image_tracks(image, FMT) if s.cylinder < cylinders]


def track_bytes(image: bytes, c: int, h: int) -> bytes:
    at = (c * 2 + h) * FMT.track_bytes
    return image[at:at + FMT.track_bytes]


def check_one_track_lost(capture, image: bytes, lost: tuple[int, int],
                         key: str | tuple[str, ...]) -> None:
    keys = (key,) if isinstance(key, str) else key
    assert lost not in capture.tracks and capture.damaged[lost].key in keys
    layout = lay_out(decode_capture(capture), 3)
    assert (layout.cylinders, layout.heads, len(layout.slots)) == (3, 2, 6 * 9)
    (report,) = [t for t in layout.tracks if (t.cylinder, t.head) == lost]
    assert (report.status, report.missing, report.good) == (DAMAGED, 9, 0)
    assert report.damage is not None and report.damage["key"] in keys
    assert [[t.cylinder, t.head] for t in layout.damaged] == [list(lost)]
    assert layout.report()["damaged_tracks"] == [list(lost)] and not layout.undecoded
    for c in range(3):
        for h in range(2):
            got = layout.read((c * 2 + h) * FMT.track_bytes, FMT.track_bytes)
            if (c, h) == lost:
                assert layout.touches_bad((c * 2 + h) * FMT.track_bytes, FMT.track_bytes)
            else:
                assert got == track_bytes(image, c, h), (c, h)


def test_a_truncated_stream_file_costs_its_track_only(tmp_path: Path) -> None:
    image, specs = small_disk()
    write_kryoflux(encode_capture(specs, Timing(revolutions=2, jitter_ns=40), seed=1),
                   tmp_path / "kf")
    damaged = tmp_path / "kf" / "track01.1.raw"
    damaged.write_bytes(damaged.read_bytes()[:5000])
    capture = read_capture(tmp_path / "kf")
    check_one_track_lost(capture, image, (1, 1), CUT)
    assert "track01.1.raw" in capture.damaged[1, 1].message("en")
    assert any("track01.1.raw" in n and "damaged" in n for n in capture.notes)


def test_an_scp_track_with_a_bad_offset_or_length_costs_that_track_only(tmp_path: Path
                                                                        ) -> None:
    image, specs = small_disk()
    data = scp_bytes(encode_capture(specs, Timing(revolutions=2, jitter_ns=40), seed=1))
    entry = 0x10 + 4 * (2 * 2 + 0)  # track 2.0's table entry
    header = struct.unpack_from("<I", data, entry)[0]
    cases = {  # the track's offset past the end; its first revolution's cell count too big
        "flux_formats.scp.offset_past_end": [(entry, len(data) + 512)],
        "flux_formats.scp.bad_track_header": [(entry, header + 2)],
    }
    for key, patches in cases.items():
        out = bytearray(data)
        for at, value in patches:
            struct.pack_into("<I", out, at, value)
        (tmp_path / "d.scp").write_bytes(bytes(out))
        check_one_track_lost(read_capture(tmp_path / "d.scp"), image, (2, 0), key)
    out = bytearray(data)
    struct.pack_into("<I", out, header + 8, 0x7FFFFFFF)  # revolution 1: cells past the end
    (tmp_path / "d.scp").write_bytes(bytes(out))
    check_one_track_lost(read_capture(tmp_path / "d.scp"), image, (2, 0),
                         "flux_formats.scp.offset_past_end")


def test_every_track_damaged_is_still_refused_whole(tmp_path: Path) -> None:
    _, specs = small_disk(1)
    write_kryoflux(encode_capture(specs, Timing(revolutions=1), seed=1), tmp_path / "kf")
    for f in (tmp_path / "kf").iterdir():
        f.write_bytes(f.read_bytes()[:300])
    try:
        read_capture(tmp_path / "kf")
    except BadInput as exc:
        assert exc.key in CUT
    else:
        raise AssertionError("a set with no readable track was taken")


def test_fuzzed_track_files_in_a_set_cost_at_most_their_track(tmp_path: Path) -> None:
    """Seeded random damage to one stream file of a set: never a crash or hang; the
    set is read (the other tracks whole) or, if the damage leaves it readable, taken."""
    _, specs = small_disk(2)
    folder = tmp_path / "kf"
    write_kryoflux(encode_capture(specs, Timing(revolutions=1, jitter_ns=40), seed=3), folder)
    victim = folder / "track01.0.raw"
    original = victim.read_bytes()
    rng = np.random.default_rng(14)
    for case in range(24):
        data = bytearray(original)
        kind = case % 4
        if kind == 0:
            data = data[:int(rng.integers(0, len(data)))]
        elif kind == 1:
            for at in rng.integers(0, len(data), 20):
                data[int(at)] = int(rng.integers(0, 256))
        elif kind == 2:
            at = int(rng.integers(0, len(data) - 64))
            data[at:at + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
        else:
            data = data[:200] + data[int(rng.integers(200, len(data))):]
        victim.write_bytes(bytes(data))
        capture = read_capture(folder)  # three tracks are whole: never refused
        assert {(0, 0), (0, 1), (1, 1)} <= set(capture.tracks), case
        assert set(capture.tracks) | set(capture.damaged) == {(0, 0), (0, 1), (1, 0),
                                                              (1, 1)}
        tracks = decode_capture(capture)
        assert sum(len(t.sectors) for t in tracks if (t.cylinder, t.head) != (1, 0)) == 27
        lay_out(tracks, 2)


def test_a_kryoflux_set_with_a_damaged_track_is_imaged_partial_and_bagged(
        disk, station: Station, tmp_path: Path) -> None:  # noqa: F811
    image, lost, capture = disk
    folder = tmp_path / "kf"
    write_kryoflux(capture, folder)
    damaged = folder / "track10.1.raw"
    damaged.write_bytes(damaged.read_bytes()[:7000])
    result = station_flux.image_flux(station, "KFD-1", station.profiles["fd525-2d"], folder)
    record = result.record
    assert record.outcome == "partial", record.reason
    track = (10 * 2 + 1) * 9 * SECTOR
    assert record.bad_ranges == [[lost * SECTOR, SECTOR], [track, 9 * SECTOR]]
    got = (result.job_dir / "image.img").read_bytes()
    assert got[:lost * SECTOR] == image[:lost * SECTOR]
    assert got[track + 9 * SECTOR:] == image[track + 9 * SECTOR:]
    assert record.flux is not None
    (report,) = [t for t in record.flux["layout"]["tracks"]
                 if (t["cylinder"], t["head"]) == (10, 1)]
    assert report["status"] == DAMAGED and report["missing"] == 9
    assert report["damage"]["key"] in CUT
    assert record.flux["layout"]["damaged_tracks"] == [[10, 1]]
    assert len(record.flux["files"]) == 80  # the damaged file kept with the rest
    accepted = station.accept("KFD-1", stage=False)
    assert accepted.bag is not None
    kept = accepted.bag / "data" / "flux" / "import" / "kf" / "track10.1.raw"
    assert kept.read_bytes() == damaged.read_bytes()


def test_a_side_whose_every_track_file_is_damaged_stays_in_the_image(tmp_path: Path) -> None:
    """Head 1's stream files all damaged: the disk still has two sides, head 1's sectors
    bad (not a one-sided disk of half the size, which a profile might take as whole)."""
    _, specs = small_disk()
    write_kryoflux(encode_capture(specs, Timing(revolutions=1), seed=1), tmp_path / "kf")
    for f in (tmp_path / "kf").glob("track*.1.raw"):
        f.write_bytes(f.read_bytes()[:800])
    layout = lay_out(decode_capture(read_capture(tmp_path / "kf")), 3)
    assert (layout.heads, layout.size) == (2, 3 * 2 * FMT.track_bytes)
    assert [(t.cylinder, t.head) for t in layout.damaged] == [(0, 1), (1, 1), (2, 1)]
    assert sum(not s.good for s in layout.slots) == 27
