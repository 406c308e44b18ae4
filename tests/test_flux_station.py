"""Flux imaging on the station: the laid-out sectors go through the same engine, ledger,
bag and statistics as any carrier; the flux master goes into the bag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_flux_layout import disk, flat, track
from tests.test_station import settings_in
from workbench.flux.d88 import read_d88
from workbench.flux.layout import lay_out
from workbench.flux.model import Encoding, TrackDecode
from workbench.flux.source import FluxSource, flux_identity
from workbench.imaging.mapfile import RescueMap
from workbench.imaging.record import JobRecord
from workbench.imaging.sources import ReadError
from workbench.ledger.query import statistics
from workbench.package.bags import check_bag, read_manifest
from workbench.station import State, Station
from workbench.station import flux as station_flux


def image_from(station: Station, item: str, profile_id: str, tracks: list[TrackDecode],
               master: bytes = b"SCP fake capture") -> JobRecord:
    """The station's flux flow from a layout on (the capture and decode steps are the
    end-to-end tests' business): the engine, the job record, the ledger."""
    job = station.settings.paths.staging / item
    (job / "flux").mkdir(parents=True, exist_ok=True)
    (job / "flux" / "track00.0.scp").write_bytes(master)
    profile = station.profiles[profile_id]
    layout = lay_out(tracks, profile.flux.cylinders if profile.flux else 0)
    record = station_flux.image_layout(
        station, item, profile, job, layout, flux_identity("/cap/disk.scp", "scp", False),
        {"format": "scp", "revolutions": 3, "decoder": "test", "rounds": 1})
    station._record_imaging(record, job, "")
    station_flux._record_method(station, record)
    return record


@pytest.fixture
def station(tmp_path: Path):
    with Station(settings_in(tmp_path)) as s:
        yield s


def test_flux_source_fails_reads_that_touch_bad_sectors() -> None:
    tracks = disk(2, 2, 9, 2)
    tracks[1] = track(0, 1, range(1, 10), 2, bad=(3,))
    layout = lay_out(tracks)
    source = FluxSource(layout, "x", flux_identity("x", "scp", False))
    assert (source.size, source.sector_size) == (4 * 9 * 512, 512)
    bad = (9 + 2) * 512
    assert source.read(0, 1024) == flat(tracks)[:1024]
    with pytest.raises(ReadError):
        source.read(bad - 512, 1024)
    assert source.read(bad + 512, 512) == flat(tracks)[bad + 512:bad + 1024]


def test_bad_sector_becomes_a_bad_map_area_and_the_master_is_bagged(station: Station) -> None:
    tracks = disk(80, 2, 18, 2)
    tracks[2 * 30 + 1] = track(30, 1, range(1, 19), 2, bad=(5,))
    record = image_from(station, "FD-1", "fd35-2hd", tracks)
    job = station.settings.paths.staging / "FD-1"
    pos = ((30 * 2 + 1) * 18 + 4) * 512
    assert record.outcome == "partial" and record.bad_ranges == [[pos, 512]]
    assert record.bad_sector_count == 1 and record.size == 1474560
    assert (job / "image.img").read_bytes() == flat(tracks)[:pos] + bytes(512) + \
        flat(tracks)[pos + 512:]
    assert RescueMap.load(job / "image.map").ranges(("-",)) == [(pos, 512)]
    assert record.flux is not None and record.flux["method"] == "flux"
    assert record.flux["bad_tracks"] == [[30, 1]]
    assert record.flux["fits"] == ["fd35-2hd"] and record.flux["d88"] is None
    assert record.drive["kind"] == "flux"
    saved = JobRecord.load(job)
    assert saved is not None and saved.flux == json.loads(json.dumps(record.flux))
    assert ("flux/track00.0.scp", record.flux["files"][0]["digests"]) in saved.payload()

    assert station_flux.method_of(station, "FD-1") == "flux"
    result = station.accept("FD-1", stage=False)
    assert result.bag is not None
    check_bag(result.bag)
    assert (result.bag / "data" / "flux" / "track00.0.scp").read_bytes() == b"SCP fake capture"
    assert "data/flux/track00.0.scp" in read_manifest(result.bag / "manifest-sha256.txt")
    premis = (result.bag / "metadata" / "premis.xml").read_text()
    assert "flux imaging: scp capture" in premis and "SuperCard Pro flux image" in premis
    rows = statistics(station.con, "media")
    assert [(r.carriers, r.partial, r.succeeded) for r in rows] == [(1, 1, 0)]


def test_non_uniform_disk_declares_its_size_and_gets_a_d88(station: Station) -> None:
    tracks = [track(0, 0, range(1, 27), 0, Encoding.FM)]
    tracks += [track(c, h, range(1, 27), 1) for c in range(77) for h in range(2)
               if (c, h) != (0, 0)]
    record = image_from(station, "N88-1", "pc98-2hd", tracks)
    job = station.settings.paths.staging / "N88-1"
    assert record.outcome == "success", record.reason
    assert record.size == 26 * 128 + 153 * 26 * 256 and record.sector_size == 128
    assert (record.declared_by, record.declared_size) == ("flux ID fields", record.size)
    assert record.expected_sizes == [1261568]
    assert record.flux is not None and record.flux["d88"]["file"] == "image.d88"
    d88 = read_d88((job / "image.d88").read_bytes())
    assert d88.tracks[0][0].density == 0x40 and len(d88.tracks) == 154
    assert any(name == "image.d88" for name, _ in record.payload())


def test_unknown_tracks_are_never_success(station: Station) -> None:
    tracks = disk(80, 2, 18, 2)
    tracks[5] = TrackDecode(2, 1, Encoding.UNKNOWN, (), 3)
    record = image_from(station, "FD-2", "fd35-2hd", tracks)
    assert record.outcome == "partial" and record.reason is not None
    assert record.reason.code == "flux_not_decoded" and "2:1" in record.reason.text
    gcr = image_from(station, "FD-3", "fd35-2hd",
                     [TrackDecode(c, 0, Encoding.UNKNOWN, (), 3) for c in range(35)])
    assert gcr.outcome == "failed" and gcr.reason is not None
    assert gcr.reason.code == "flux_not_decoded"
    assert station.state("FD-3").state is State.FAILED
