"""Flux imaging on the station: the laid-out sectors go through the same engine, ledger,
bag and statistics as any carrier; the flux master goes into the bag."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import MEDIA
from tests.test_flux_capture import calls, install_fake_gw
from tests.test_flux_layout import disk, flat, track
from tests.test_station import settings_in
from workbench.flux import session
from workbench.flux.d88 import read_d88
from workbench.flux.layout import lay_out
from workbench.flux.model import Encoding, TrackDecode
from workbench.flux.source import FluxSource, flux_identity
from workbench.imaging.mapfile import RescueMap
from workbench.imaging.record import JobRecord
from workbench.imaging.sources import ReadError
from workbench.ledger.query import statistics
from workbench.package.bags import check_bag, read_manifest
from workbench.profiles import MediaProfile
from workbench.station import State, Station, record_lines
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
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_fake_gw(tmp_path, monkeypatch)


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


# -- the whole flux flow with a fake gw and a stand-in decoder -------------------------
# (test_flux_capture.FAKE_GW writes the files; the decoder's own tests are its helper's,
# and the end-to-end tests below use the real one)

def tracks_of(image: bytes, bad: frozenset[tuple[int, int, int]] = frozenset()
              ) -> list[TrackDecode]:
    """An 80 x 2 x 18 x 512 image as the decoder would give it; (c, h, r) in bad: no
    revolution gave that sector with a good CRC."""
    from workbench.flux.model import SectorId, SectorRead
    out = []
    for c in range(80):
        for h in range(2):
            secs = []
            for r in range(1, 19):
                pos = ((c * 2 + h) * 18 + r - 1) * 512
                good = (c, h, r) not in bad
                secs.append(SectorRead(SectorId(c, h, r, 2), Encoding.MFM,
                                       image[pos:pos + 512] if good else None,
                                       3 if good else 0, 3))
            out.append(TrackDecode(c, h, Encoding.MFM, tuple(secs), 3, 500.0, 300.0))
    return out


DAMAGED_IMG = MEDIA / "fd35-2hd-damaged.img"


def few_tracks(station: Station) -> MediaProfile:
    """fd35-2hd with gw asked for 3 cylinders only (the fake gw is a process a track);
    the stand-in decoder gives the whole disk whatever was captured."""
    profile = station.profiles["fd35-2hd"]
    assert profile.flux is not None and profile.flux.cylinders == 80
    return replace(profile, flux=replace(profile.flux, cylinders=3))


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    return use_stand_in(monkeypatch)


def use_stand_in(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The decoder's stand-in: the damaged training disk's sectors, (30, 1, 5) bad until
    a retry round has captured that track again. Returns the capture files each call saw."""
    seen: list[list[str]] = []

    def decode_job(job: Path, cylinders: int = 0, progress: object = None,
                   cancel: object = None) -> session.Decoded:
        names = sorted(p.name for p in (job / "flux").glob("track*.scp"))
        seen.append(names)
        bad = frozenset() if "track30.1.r1.scp" in names else frozenset({(30, 1, 5)})
        tracks = tracks_of(DAMAGED_IMG.read_bytes(), bad)
        return session.Decoded(lay_out(tracks, cylinders), tracks,
                               {"format": "scp", "revolutions": 3, "decoder": "stand-in",
                                "rounds": 1})
    monkeypatch.setattr(session, "decode_job", decode_job)
    return seen


def test_capture_then_retry_only_the_bad_track(station: Station, gw: Path,
                                               stand_in: list[list[str]]) -> None:
    profile = few_tracks(station)
    result = station_flux.image_flux(station, "FD-10", profile)
    assert result.record.outcome == "partial" and result.state is State.IMAGED
    assert len(calls(gw)) == 6 and len(stand_in[-1]) == 6
    assert result.record.flux is not None and result.record.flux["bad_tracks"] == [[30, 1]]
    lines = record_lines(result.record)
    assert any("flux (scp capture" in line for line in lines)
    assert "  track 30:1 (MFM, decoded): 17 good, 1 bad, 0 missing, 0 disagreeing, " \
        "0 odd IDs" in lines

    again = station_flux.image_flux(station, "FD-10", profile)
    retried = calls(gw)[6:]
    assert [(c[4], c[6]) for c in retried] == [("8", "c=30:h=1")]
    assert again.record.outcome == "success" and again.record.bad_ranges == []
    assert (station.settings.paths.staging / "FD-10" / "image.img").read_bytes() == \
        DAMAGED_IMG.read_bytes()
    assert again.record.flux is not None and len(again.record.flux["files"]) == 7
    rows = statistics(station.con, "media")
    assert [(r.carriers, r.succeeded, r.attempts) for r in rows] == [(1, 1, 2)]

    third = station_flux.image_flux(station, "FD-10", profile)  # nothing bad: no capture
    assert len(calls(gw)) == 7 and third.record.outcome == "success"


def test_routed_needs_flux_leaves_the_routed_count(station: Station, gw: Path,
                                                   stand_in: list[list[str]]) -> None:
    profile = few_tracks(station)
    first = station.image(MEDIA / "fd35-2hd-damaged.drive.toml", profile, "FD-11")
    assert first.record.outcome == "partial"
    station.route("FD-11", "needs_flux", "USB drive gives up")
    (row,) = statistics(station.con, "media")
    assert (row.needs_flux, row.partial, row.succeeded) == (1, 0, 0)
    assert station.state("FD-11").state is State.ROUTED

    result = station_flux.image_flux(station, "FD-11", profile)
    # the flux read fills the USB drive's bad areas in the same map; (30, 1, 5) the
    # USB drive had read stays read
    assert result.record.outcome == "success", result.record.reason
    (row,) = statistics(station.con, "media")
    assert (row.carriers, row.needs_flux, row.succeeded, row.attempts) == (1, 0, 1, 2)
    assert station_flux.method_of(station, "FD-11") == "flux"
    assert result.record.drive["vendor"] == "Greaseweazle"


def test_cancel_during_capture_keeps_the_tracks(station: Station, gw: Path,
                                                stand_in: list[list[str]]) -> None:
    from workbench.errors import Aborted
    profile = few_tracks(station)

    def progress(step: str, p: object) -> None:
        if step == "flux" and getattr(p, "done", 0) == 4:
            station.cancel.set()
    station.progress = progress
    with pytest.raises(Aborted):
        station_flux.image_flux(station, "FD-12", profile)
    assert len(list((station.settings.paths.staging / "FD-12" / "flux").glob("*.scp"))) == 4
    # interrupted like a drive job: in the work list, its run ended as cancelled
    st = station.state("FD-12")
    assert stand_in == [] and st.state is State.INTERRUPTED
    assert st.attempt is not None and st.attempt["outcome"] == "aborted"
    assert st.attempt["reason_code"] == "cancelled"
    assert [p.item_id for p in station.pending()] == ["FD-12"]
    station.cancel.clear()
    station.progress = lambda step, p: None
    result = station_flux.image_flux(station, "FD-12", profile)
    assert len(calls(gw)) == 6 and result.record.outcome == "partial"


def test_missing_gw_refused_nothing_written(station: Station, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.errors import Refused
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(Refused):
        station_flux.image_flux(station, "FD-13", station.profiles["fd35-2hd"])
    assert station.state("FD-13").state is State.NEW
    assert not (station.settings.paths.staging / "FD-13").exists()


def test_profile_without_flux_is_bad_input(station: Station) -> None:
    from workbench.errors import BadInput
    with pytest.raises(BadInput) as bad:
        station_flux.image_flux(station, "USB-1", station.profiles["usb"])
    assert bad.value.key == "flux.no_flux_params"


def test_image_with_flux_from_the_result_screen(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                stand_in: list[list[str]]) -> None:
    """The result screen's "image with flux" (x): gw captures, the stand-in decodes, the
    carrier's USB drive's bad areas are filled from flux, the new result is shown."""
    import asyncio
    import struct

    from tests.test_tui import shown_text, text_of, wait_for
    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.result import ResultScreen

    header = bytearray(b"SCP" + bytes(13)) + struct.pack("<168I", *([0x2B0] + [0] * 167))
    header[5] = 1
    (tmp_path / "one.scp").write_bytes(bytes(header) + b"TRK\0" + struct.pack("<3I", 10, 2, 16)
                                       + b"\0\x50\0\x50")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gw").write_text(f'#!/bin/sh\nfor a; do out="$a"; done\n'
                                f'cp "{tmp_path / "one.scp"}" "$out"\n')
    (bin_dir / "gw").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    with Station(Settings()) as s:
        usb = s.image(MEDIA / "fd35-2hd-damaged.drive.toml", s.profiles["fd35-2hd"], "FX-1")
    assert usb.record.outcome == "partial"

    async def scenario() -> None:
        app = WorkbenchApp(Settings())
        async with app.run_test(size=(120, 40)) as pilot:
            await app.push_screen(ResultScreen(app.station.result_of("FX-1")))
            await pilot.pause()
            first = app.screen
            await pilot.press("x")  # FluxScreen, then a new ResultScreen
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                           and app.screen is not first and shown_text(app, "#outcome"))
            assert "success" in text_of(app, "#outcome"), text_of(app, "#outcome")
            assert "flux (scp capture" in text_of(app, "#details")
    asyncio.run(scenario())
    with Station(Settings()) as s:
        assert s.result_of("FX-1").record.outcome == "success"
        assert station_flux.method_of(s, "FX-1") == "flux"


def test_cli_image_flux_without_gw_and_without_source(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    from workbench.cli import main
    from workbench.errors import ExitCode
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    code = main(["image", "--flux", "--profile", "fd35-2hd", "--item", "CLI-1"])
    assert code == ExitCode.REFUSED
    assert "Greaseweazle" in capsys.readouterr().err
    assert main(["image", "--profile", "fd35-2hd", "--item", "CLI-1"]) == ExitCode.BAD_INPUT
    assert "--flux" in capsys.readouterr().err
    code = main(["image", "--flux", str(tmp_path / "none.scp"), "--profile", "fd35-2hd",
                 "--item", "CLI-1"])
    assert code == ExitCode.BAD_INPUT and "none.scp" in capsys.readouterr().err
    assert not (tmp_path / "staging" / "CLI-1").exists()


def test_ids_declare_the_size_only_of_a_whole_capture(station: Station) -> None:
    dmf = image_from(station, "DMF-1", "fd35-2hd", disk(80, 2, 21, 2))  # 1.68 MB
    assert dmf.outcome == "success", dmf.reason
    assert (dmf.declared_by, dmf.size) == ("flux ID fields", 1720320)
    assert dmf.flux is not None and dmf.flux["fits"] == []
    half = image_from(station, "HALF-1", "fd35-2hd", disk(40, 2, 18, 2))  # stopped short
    assert half.outcome == "failed" and half.reason is not None
    assert half.reason.code == "flux_size" and half.declared_by == ""
    assert "write blocker" not in half.reason.text and "workbench retry" in half.reason.text


def test_a_capture_short_of_its_fat_volume_lacks_tracks_no_drive_cut_it(
        station: Station) -> None:
    """Half the cylinders of a 1.44 MB FAT disk captured: the capture is short; the words
    of a drive or write blocker that truncates would send the technician the wrong way."""
    tracks = disk(40, 2, 18, 2)
    boot = (MEDIA / "fd35-2hd-good.img").read_bytes()[:512]  # a 1.44 MB FAT boot sector
    first = tracks[0]
    tracks[0] = replace(first, sectors=(replace(first.sectors[0], data=boot),
                                        *first.sectors[1:]))
    half = image_from(station, "HALFFAT-1", "fd35-2hd", tracks)
    assert half.outcome == "failed" and half.reason is not None
    assert half.reason.code == "flux_short", half.reason
    assert "workbench retry" in half.reason.text and "write blocker" not in half.reason.text
    assert half.declared_size == 1474560 and "737,280" in half.reason.text


def test_withdrawn_carrier_gets_its_captures_back_and_retries_only_bad_tracks(
        station: Station, gw: Path, stand_in: list[list[str]]) -> None:
    profile = few_tracks(station)
    first = station_flux.image_flux(station, "FD-30", profile)
    assert first.record.outcome == "partial"
    bag = station.accept("FD-30", stage=False).bag
    assert bag is not None and (bag / "data" / "flux" / "track00.0.scp").is_file()
    job = station.settings.paths.staging / "FD-30"
    assert not (job / "flux" / "track00.0.scp").exists()  # handed over to the bag
    station.withdraw("FD-30", "read the bad track again")
    from workbench.station.next_step import Way, continuation
    assert continuation(station, "FD-30").way is Way.FLUX  # never the drive flow
    again = station_flux.image_flux(station, "FD-30", profile)
    assert len(calls(gw)) == 7 and "c=30:h=1" in calls(gw)[-1]
    assert again.record.outcome == "success"
    assert (job / "flux" / "track00.0.scp").read_bytes() == \
        (bag / "data" / "flux" / "track00.0.scp").read_bytes()
    assert len(stand_in[-1]) == 7
