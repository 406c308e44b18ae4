"""Parse once (issue 14): a brought-in capture was read three times (validate, compare,
decode from its copy in the job) and decoded twice. Inside `parse_once()` the same bytes
are parsed once (a copy elsewhere included, its words naming the copy) and a track is
decoded once; outside it nothing is kept."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.test_flux_end_to_end import disk, station  # noqa: F401
from workbench.flux.decode import decode_capture
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks
from workbench.flux.kryoflux import write_kryoflux
from workbench.flux.once import parse_once
from workbench.flux.read import read_capture
from workbench.flux.scp import write_scp
from workbench.station import Station
from workbench.station import flux as station_flux


def small(tmp_path: Path):
    fmt = FORMATS["ibm.720"]
    specs = image_tracks(bytes(range(256)) * (fmt.image_size() // 256), fmt)[:4]
    return encode_capture(specs, Timing(revolutions=2, jitter_ns=40), seed=1)


def test_the_same_bytes_are_parsed_once_even_copied(tmp_path: Path) -> None:
    write_scp(small(tmp_path), tmp_path / "a.scp")
    (tmp_path / "job").mkdir()
    shutil.copyfile(tmp_path / "a.scp", tmp_path / "job" / "a.scp")
    with parse_once() as cache:
        first = read_capture(tmp_path / "a.scp")
        again = read_capture(tmp_path / "a.scp")
        copy = read_capture(tmp_path / "job" / "a.scp")
        assert (cache.parses, cache.hits) == (1, 2)
        assert again is first and copy.tracks is first.tracks
    assert read_capture(tmp_path / "a.scp") is not first  # nothing kept outside
    (tmp_path / "a.scp").write_bytes((tmp_path / "a.scp").read_bytes()[:-1] + b"\1")
    with parse_once() as cache:  # other bytes: parsed again
        read_capture(tmp_path / "a.scp")
        read_capture(tmp_path / "job" / "a.scp")
        assert (cache.parses, cache.hits) == (2, 0)


def test_a_copied_set_with_a_damaged_track_names_its_copy(tmp_path: Path) -> None:
    write_kryoflux(small(tmp_path), tmp_path / "kf")
    victim = tmp_path / "kf" / "track01.0.raw"
    victim.write_bytes(victim.read_bytes()[:900])
    shutil.copytree(tmp_path / "kf", tmp_path / "job" / "kf")
    with parse_once() as cache:
        read_capture(tmp_path / "kf")
        copy = read_capture(tmp_path / "job" / "kf")
        assert (cache.parses, cache.hits) == (1, 1)
    assert str(tmp_path / "job" / "kf" / "track01.0.raw") in copy.damaged[1, 0].message("en")
    assert all(str(tmp_path / "kf") + "/" not in n for n in copy.notes)


def test_a_track_is_decoded_once() -> None:
    capture = small(Path())
    with parse_once() as cache:
        a, b = decode_capture(capture), decode_capture(capture)
        assert a == b and cache.decodes == 4


def test_the_station_reads_a_brought_in_capture_once(disk, station: Station,  # noqa: F811
                                                     tmp_path: Path) -> None:
    """A carrier imaged from a drive, then its capture brought in: validated, compared
    and decoded from one parse, each track decoded once; the image is the same as
    without."""
    image, _, capture = disk
    (tmp_path / "disk.img").write_bytes(image)
    station.image(tmp_path / "disk.img", station.profiles["fd525-2d"], "ONE-1")
    write_scp(capture, tmp_path / "disk.scp")
    with parse_once() as cache:
        result = station_flux.image_flux(station, "ONE-1", station.profiles["fd525-2d"],
                                         tmp_path / "disk.scp")
        assert (cache.parses, cache.hits, cache.decodes) == (1, 2, 80)
    assert (result.job_dir / "image.img").read_bytes() == image
