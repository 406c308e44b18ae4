"""Flux imaging's rough edges (issue 14): room on the disk and a full disk, interrupted
jobs in the work list, no empty folder after a lock refusal, a chosen Greaseweazle,
training captures of the carrier's own disk, the flux reminders, honest revolutions,
a retry of a brought-in capture, hostile names, captures that add nothing, and the
statistics by method. The fake gw is tests/test_flux_capture.py's."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MEDIA
from tests.test_flux_capture import calls, install_fake_gw
from tests.test_flux_end_to_end import chs, make_disk
from tests.test_flux_station import few_tracks, use_stand_in
from tests.test_station import settings_in
from workbench import PROJECT_ROOT
from workbench.errors import Aborted, BadInput, ExitCode, Refused
from workbench.flux import session
from workbench.flux.capture import CapturePlan
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks
from workbench.flux.kryoflux import write_kryoflux
from workbench.flux.model import FluxCapture, Revolution, TrackFlux
from workbench.flux.scp import write_scp
from workbench.imaging.record import JobRecord
from workbench.ledger.query import statistics
from workbench.station import State, Station, flux_run, flux_space
from workbench.station import flux as station_flux
from workbench.station.flux_device import gw_device, lock_path
from workbench.station.flux_training import own_recipes
from workbench.station.flux_words import flux_lines
from workbench.station.locks import drive_lock


@pytest.fixture
def station(tmp_path: Path):
    with Station(settings_in(tmp_path)) as s:
        yield s


@pytest.fixture(scope="module")
def disk() -> tuple[bytes, int, FluxCapture]:
    return make_disk()


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    return use_stand_in(monkeypatch)


@pytest.fixture
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_fake_gw(tmp_path, monkeypatch)


def few(capture: FluxCapture, tracks: int = 4) -> FluxCapture:
    """The first tracks of a capture: quick to decode where the whole disk is not the
    point (names, copies, a capture to add to)."""
    keys = sorted(capture.tracks)[:tracks]
    return FluxCapture({k: capture.tracks[k] for k in keys}, capture.source_format)


def digest_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- 1. room on the disk, a full disk ---------------------------------------------------

def test_no_room_for_a_capture_brought_in_is_refused_before_anything(
        disk, station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    *_, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    size = (tmp_path / "disk.scp").stat().st_size
    monkeypatch.setattr(flux_space, "free_bytes", lambda folder: size // 2)
    with pytest.raises(Refused) as refused:
        station_flux.image_flux(station, "ROOM-1", station.profiles["fd525-2d"],
                                tmp_path / "disk.scp")
    job = station.settings.paths.staging / "ROOM-1"
    assert refused.value.key == "flux.no_space_copy"
    assert str(job) in str(refused.value) and "free" in str(refused.value)
    assert not job.exists() and station.state("ROOM-1").state is State.NEW


def test_no_room_for_a_gw_capture_is_refused_before_gw_runs(
        station: Station, gw: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = station.profiles["fd35-2hd"]
    assert profile.flux is not None
    # the estimate: 160 tracks, a revolution more than the 3 asked, 160 KiB each
    plan = CapturePlan.first(profile.flux)
    needed = plan.bytes_needed(Path("/nonexistent"), flux_space.track_data_bytes(profile))
    assert needed == 160 * 4 * 160 * 1024
    monkeypatch.setattr(flux_space, "free_bytes", lambda folder: needed)  # no image room
    with pytest.raises(Refused) as refused:
        station_flux.image_flux(station, "ROOM-2", profile)
    assert refused.value.key == "flux.no_space_capture"
    assert str(station.settings.paths.staging / "ROOM-2") in str(refused.value)
    assert calls(gw) == [] and not (station.settings.paths.staging / "ROOM-2").exists()


def test_a_full_disk_mid_copy_names_the_folder_and_leaves_no_half_copy(
        disk, station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The third stream file of a KryoFlux set hits ENOSPC half-way: the message names
    the job's import folder (not the source), what was copied is removed, the source
    is untouched, and the carrier is interrupted; with room again the same call goes on."""
    *_, capture = disk
    streams = tmp_path / "streams"
    write_kryoflux(few(capture), streams)
    before = digest_tree(streams)
    real_copy, copied = shutil.copyfile, []

    def copy_then_fill(src: Path, dst: Path) -> None:
        copied.append(dst)
        if len(copied) == 3:
            Path(dst).write_bytes(Path(src).read_bytes()[:100])  # half-written
            raise OSError(errno.ENOSPC, "No space left on device", str(src))
        real_copy(src, dst)
    monkeypatch.setattr(flux_space.shutil, "copyfile", copy_then_fill)
    with pytest.raises(Aborted) as full:
        station_flux.image_flux(station, "FULL-1", station.profiles["fd525-2d"], streams)
    job = station.settings.paths.staging / "FULL-1"
    message = str(full.value)
    assert full.value.key == "flux.copy_disk_full"
    assert str(job / "flux" / "import" / "streams") in message and "track" not in message
    assert not (job / "flux" / "import").exists()  # no half copy, no folder made for it
    assert digest_tree(streams) == before
    st = station.state("FULL-1")
    assert st.state is State.INTERRUPTED and st.attempt is not None
    assert st.attempt["reason_code"] == "disk_full"
    monkeypatch.setattr(flux_space.shutil, "copyfile", real_copy)
    again = station.retry("FULL-1")  # copies the same capture in again
    assert again.record.outcome == "failed" and again.state is State.FAILED  # 4 tracks
    assert len(again.record.flux["files"] if again.record.flux else []) == 4
    assert not list(job.rglob(".part-*"))


def test_gw_on_a_full_disk_says_disk_full_not_the_drive(
        station: Station, gw: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_GW_ENOSPC", "1:0")
    with pytest.raises(Aborted) as full:
        station_flux.image_flux(station, "FULL-2", few_tracks(station))
    job = station.settings.paths.staging / "FULL-2"
    assert full.value.key == "flux.gw_disk_full"
    assert str(job / "flux") in str(full.value) and "Check the drive" not in str(full.value)
    assert sorted(p.name for p in (job / "flux").iterdir()) == [
        "capture.json", "runs.json", "track00.0.scp", "track00.1.scp"]  # no .part- left
    assert station.state("FULL-2").state is State.INTERRUPTED


# -- 2. interrupted jobs in the work list -------------------------------------------------

KILLED = r'''
import sys
from dataclasses import replace
from pathlib import Path
from tests.test_station import settings_in
from workbench.station import Station
from workbench.station.flux import image_flux
with Station(settings_in(Path(sys.argv[1]))) as s:
    p = s.profiles["fd35-2hd"]
    image_flux(s, "KILL-1", replace(p, flux=replace(p.flux, cylinders=3)))
'''


def test_a_flux_job_killed_mid_capture_is_pending_and_the_retry_resumes(
        tmp_path: Path, gw: Path, monkeypatch: pytest.MonkeyPatch,
        stand_in: list[list[str]]) -> None:
    """SIGKILL while gw captures the third track: the carrier is in the work list as
    interrupted (it was in no list, with no ledger row), and `retry` goes on from the
    tracks captured."""
    flux = tmp_path / "staging" / "KILL-1" / "flux"
    env = {**os.environ, "FAKE_GW_HANG": "1:0", "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path)], env=env,
                            start_new_session=True, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(list(flux.glob("track*.scp"))) < 2 or len(calls(gw)) < 3:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the capture did not reach track 1:0"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the job and the gw it waits for
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()
    with Station(settings_in(tmp_path)) as station:
        (st,) = station.pending()
        assert (st.item_id, st.state) == ("KILL-1", State.INTERRUPTED)
        assert st.attempt is not None and st.attempt["outcome"] == "running"
        assert st.attempt["drive"] == "Greaseweazle drive A"
        job = tmp_path / "staging" / "KILL-1"
        record = JobRecord.load(job)
        assert record is not None and record.flux is None  # not imaged from flux yet
        assert flux_run.capturing(job, record)
        before = len(calls(gw))
        result = station.retry("KILL-1")
        assert [c[6] for c in calls(gw)[before:]] == ["c=1:h=0", "c=1:h=1", "c=2:h=0",
                                                      "c=2:h=1"]
        assert result.state is State.IMAGED and result.record.outcome == "partial"
        assert len(result.record.runs) == 1  # the capture's run became the engine's
        assert station.pending()[0].state is State.IMAGED
        rows = statistics(station.con, "media")
        assert [(r.carriers, r.attempts) for r in rows] == [(1, 1)]


KILLED_COPY = r'''
import shutil, sys, time
from pathlib import Path
from tests.test_station import settings_in
from workbench.station import Station, flux_space
from workbench.station.flux import image_flux
real = shutil.copyfile
def slow(src, dst):
    real(src, dst)
    if "track01.0" in str(dst):
        Path(sys.argv[1], "copying").write_text("")
        time.sleep(60)
flux_space.shutil.copyfile = slow
with Station(settings_in(Path(sys.argv[1]))) as s:
    image_flux(s, "KILL-2", s.profiles["fd525-2d"], Path(sys.argv[2]))
'''


def test_a_copy_killed_half_way_is_never_decoded_as_a_capture_and_retry_copies_again(
        disk, tmp_path: Path) -> None:
    *_, capture = disk
    streams = tmp_path / "streams"
    write_kryoflux(few(capture), streams)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_COPY, str(tmp_path), str(streams)],
                            env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "copying").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    job = tmp_path / "staging" / "KILL-2"
    assert (job / "flux" / "import" / ".part-streams").is_dir()
    # the record the capture run began is a job record like any (the schema holds)
    import json

    import jsonschema
    schema = json.loads((PROJECT_ROOT / "workbench" / "imaging" / "job.schema.json")
                        .read_text())
    jsonschema.validate(json.loads((job / "job.json").read_text()), schema)
    assert session.capture_sources(job) == [] and station_flux.master_files(job) == []
    with Station(settings_in(tmp_path)) as station:
        (st,) = station.pending()
        assert (st.item_id, st.state) == ("KILL-2", State.INTERRUPTED)
        streams.rename(tmp_path / "away")  # the source gone: said, never a gw read instead
        with pytest.raises(BadInput) as gone:
            station.retry("KILL-2")
        assert "is gone" in gone.value.message() and str(streams) in gone.value.message()
        assert not list((job / "flux").glob("track*.scp"))
        (tmp_path / "away").rename(streams)
        result = station.retry("KILL-2")
        assert result.record.flux is not None and len(result.record.flux["files"]) == 4
        assert not (job / "flux" / "import" / ".part-streams").exists()
        assert digest_tree(job / "flux" / "import" / "streams") == digest_tree(streams)


def test_a_capture_given_up_then_a_drive_read_is_a_drive_result(
        station: Station, gw: Path, stand_in: list[list[str]]) -> None:
    """A flux capture cancelled, then the carrier read on a USB drive after all: the
    result is the drive's (no flux facts, method drive, a retry is a drive's)."""
    def progress(step: str, p: object) -> None:
        if step == "flux" and getattr(p, "done", 0) == 2:
            station.cancel.set()
    station.progress = progress
    with pytest.raises(Aborted):
        station_flux.image_flux(station, "GIVE-1", few_tracks(station))
    station.cancel.clear()
    result = station.image(MEDIA / "fd35-2hd-damaged.drive.toml",
                           station.profiles["fd35-2hd"], "GIVE-1")
    assert result.record.outcome == "partial" and result.record.flux is None
    assert station_flux.method_of(station, "GIVE-1") == "drive"
    assert station_flux.flux_retry(station, "GIVE-1", None, "") is None
    assert stand_in == []


# -- 3. no empty job folder after the lock refusal -----------------------------------------

def test_gw_lock_refusal_leaves_no_job_folder(station: Station, gw: Path) -> None:
    with drive_lock(station.locks, lock_path(""), "OTHER", "X-1").acquire(), \
            pytest.raises(Refused):
        station_flux.image_flux(station, "LOCK-1", few_tracks(station))
    assert not (station.settings.paths.staging / "LOCK-1").exists()
    assert calls(gw) == [] and station.state("LOCK-1").state is State.NEW



def test_gws_own_choice_and_the_same_unit_named_take_one_lock(
        station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One Greaseweazle plugged in: `--flux` without a device and `--gw-device` naming it
    exclude each other (they took two locks, and two gw runs met on one unit)."""
    from workbench.station import flux_device
    by_id, tty = tmp_path / "by-id", tmp_path / "ttyACM7"
    by_id.mkdir()
    tty.touch()
    (by_id / "usb-Keir_Fraser_Greaseweazle_V4.1_123-if00").symlink_to(tty)
    (by_id / "usb-FTDI_FT232R_USB_UART_A1-if00-port0").symlink_to(tmp_path / "ttyUSB0")
    monkeypatch.setattr(flux_device, "BY_ID", by_id)
    assert lock_path("") == str(tty)
    with drive_lock(station.locks, lock_path(str(tty)), "OTHER", "X-3").acquire(), \
            pytest.raises(Refused):
        drive_lock(station.locks, lock_path(""), "ME", "X-4").acquire()
    (by_id / "usb-Keir_Fraser_Greaseweazle_V4.1_456-if00").symlink_to(tmp_path / "ttyACM8")
    assert lock_path("") == flux_device.DEFAULT_PATH  # two: which gw takes is its own

# -- 4. a second Greaseweazle -----------------------------------------------------------------

def test_a_chosen_greaseweazle_has_its_own_lock_and_a_retry_may_name_another(
        station: Station, gw: Path, stand_in: list[list[str]]) -> None:
    assert gw_device("gw:/dev/ttyACM3") == "/dev/ttyACM3"
    assert gw_device("/dev/ttyACM1") == "/dev/ttyACM1" and gw_device("/dev/sdb") is None
    profile = few_tracks(station)
    with drive_lock(station.locks, lock_path("/dev/ttyACM0"), "OTHER", "X-2").acquire():
        first = station_flux.image_flux(station, "GW-1", profile, device="/dev/ttyACM1")
    assert {c[c.index("--device") + 1] for c in calls(gw)} == {"/dev/ttyACM1"}
    assert first.record.drive["path"] == "/dev/ttyACM1#A"
    again = station.retry("GW-1", drive="/dev/ttyACM2")  # the second Greaseweazle
    last = calls(gw)[-1]
    assert last[last.index("--device") + 1] == "/dev/ttyACM2" and "c=30:h=1" in last
    assert again.record.outcome == "success"
    with pytest.raises(BadInput) as bad:
        station.retry("GW-1", drive="/dev/sdb")
    assert bad.value.key == "flux.retry_on_drive"
    # no device named (the UI's x, image --flux): the one it was read with
    station_flux.image_flux(station, "GW-2", profile, device="/dev/ttyACM1")
    station_flux.image_flux(station, "GW-2", profile)
    last = calls(gw)[-1]
    assert last[last.index("--device") + 1] == "/dev/ttyACM1" and "c=30:h=1" in last


# -- 5. training: the carrier's own recipes -------------------------------------------------

def test_training_offers_only_the_carriers_own_recipes(tmp_path: Path) -> None:
    settings = replace(settings_in(tmp_path), training=True)
    with Station(settings) as s:
        s.image(MEDIA / "fd35-2hd-good.drive.toml", s.profiles["fd35-2hd"], "TR-GOOD")
        s.image(MEDIA / "fd35-2hd-damaged.drive.toml", s.profiles["fd35-2hd"], "TR-DMG")
        good = sorted(r.name for r in own_recipes(s, "TR-GOOD"))
        assert good == ["fd35-2hd-kryoflux", "fd35-2hd-scratched", "fd35-2hd-weak"]
        assert own_recipes(s, "TR-DMG") == []  # no recipe is of that disk: gw only
    with Station(settings_in(tmp_path)) as s:
        assert own_recipes(s, "TR-GOOD") == []  # not training


# -- 6. the flux reminders ----------------------------------------------------------------------

def test_image_flux_prints_the_flux_reminders_not_the_usb_drives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main
    from workbench.profiles import load_profiles
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    main(["image", "--flux", "--profile", "fd35-2hd", "--item", "REM-1"])
    err = capsys.readouterr().err
    assert "Write-protect the disk" in err and "Greaseweazle's drive" in err
    usb = load_profiles(PROJECT_ROOT / "profiles")["fd35-2hd"].reminders_for("en")
    assert usb and not any(r in err for r in usb)


# -- 7. revolutions, honestly -------------------------------------------------------------------

def test_revolutions_are_shown_least_to_most() -> None:
    from workbench.station.flux import method_text
    record = JobRecord(item_id="R-1", profile_id="fd35-2hd", media_family="floppy",
                       station_id="S", organisation="O", operator="op",
                       workbench_version="0")
    record.flux = {"method": "flux", "files": [], "format": "scp", "revolutions": 11,
                   "revolutions_min": 3, "decoded": "2026-11-26T00:00:00Z"}
    assert "3-11 revolution(s) a track" in method_text(record)
    assert "3-11 revolution(s) a track" in flux_lines(record)[0]
    record.flux["revolutions_min"] = 11
    assert "(scp capture, 11 revolution(s)" in method_text(record)
    # the sector counts are the capture's: a drive may have read a sector it lost
    record.flux["layout"] = {"sectors": 720, "good": 719, "bad": 1, "cylinders": 40,
                             "heads": 2, "tracks": []}
    assert any(line.startswith("decoded from the flux capture alone: 40 cylinders")
               and "719 good, 1 bad" in line for line in flux_lines(record))


# -- 8. a retry of a brought-in capture --------------------------------------------------------

def test_retry_of_a_brought_in_capture_captures_only_the_bad_track(
        disk, station: Station, tmp_path: Path, gw: Path) -> None:
    _, lost, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    first = station_flux.image_flux(station, "BR-1", station.profiles["fd525-2d"],
                                    tmp_path / "disk.scp")
    assert first.record.outcome == "partial"
    c, h, _ = chs(lost)
    assert first.record.flux is not None and first.record.flux["bad_tracks"] == [[c, h]]
    again = station.retry("BR-1")
    (call,) = calls(gw)  # not the 80 tracks of a first pass
    assert call[4] == "8" and call[6] == f"c={c}:h={h}:step=2"
    assert call[-1].endswith(f".part-track{c:02d}.{h}.r1.scp")
    assert again.record.flux is not None
    assert again.record.flux["revolutions"] > again.record.flux["revolutions_min"] == 3


# -- 9. hostile names ---------------------------------------------------------------------------

def test_control_characters_in_capture_names_are_escaped_in_the_job_and_bag(
        disk, station: Station, tmp_path: Path) -> None:
    *_, capture = disk
    folder = tmp_path / "disk\x1b[31m"
    folder.mkdir()
    write_scp(capture, folder / "side\x1b.scp")
    (folder / "notes\x07.txt").write_text("read on a bad day")
    result = station_flux.image_flux(station, "NAME-1", station.profiles["fd525-2d"],
                                     folder)
    assert result.record.flux is not None
    names = [str(f["file"]) for f in result.record.flux["files"]]
    assert "flux/import/disk\\x1b[31m/notes\\x07.txt" in names
    assert "flux/import/disk\\x1b[31m/side\\x1b.scp" in names
    assert not any(ch < " " for name in names for ch in name)
    bag = station.accept("NAME-1", stage=False).bag
    assert bag is not None
    manifest = (bag / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert "notes\\x07.txt" in manifest and "\x07" not in manifest and "\x1b" not in manifest


# -- 10. a capture that adds nothing -------------------------------------------------------------

def noise(folder: Path) -> Path:
    """A capture with flux on every track and no marks in it: nothing decodes."""
    rng = np.random.default_rng(4)
    tracks = {(c, h): TrackFlux(c, h, 40_000_000, (Revolution(
        rng.integers(60, 400, 20_000).astype(np.uint32), 0),))
        for c in range(2) for h in range(2)}
    path = folder / "noise.scp"
    write_scp(FluxCapture(tracks, "scp"), path)
    return path


def test_a_capture_that_decodes_nothing_is_not_added_to_a_job_with_captures(
        disk, station: Station, tmp_path: Path) -> None:
    *_, capture = disk
    write_scp(few(capture), tmp_path / "disk.scp")
    station_flux.image_flux(station, "NOISE-1", station.profiles["fd525-2d"],
                            tmp_path / "disk.scp")
    job = station.settings.paths.staging / "NOISE-1"
    before = digest_tree(job / "flux")
    with pytest.raises(Refused) as refused:
        station_flux.image_flux(station, "NOISE-1", station.profiles["fd525-2d"],
                                noise(tmp_path))
    assert refused.value.key == "flux.adds_nothing" and "noise.scp" in str(refused.value)
    assert digest_tree(job / "flux") == before
    assert station.state("NOISE-1").state is State.FAILED  # its result stands
    assert not (job / "flux" / "import" / "noise.scp").exists()
    # as a carrier's first capture it is kept: the master, with an honest outcome
    first = station_flux.image_flux(station, "NOISE-2", station.profiles["fd525-2d"],
                                    tmp_path / "noise.scp")
    assert first.record.outcome == "failed"


# -- 11. statistics by method -----------------------------------------------------------------

def test_statistics_by_method(disk, station: Station, tmp_path: Path) -> None:
    image, _, capture = disk
    write_scp(few(capture), tmp_path / "disk.scp")
    station_flux.image_flux(station, "M-FLUX", station.profiles["fd525-2d"],
                            tmp_path / "disk.scp")
    (tmp_path / "disk.img").write_bytes(image)
    station.image(tmp_path / "disk.img", station.profiles["fd525-2d"], "M-DRIVE")
    rows = {r.key: r for r in statistics(station.con, "method")}
    assert set(rows) == {"flux", "drive"}
    assert (rows["flux"].carriers, rows["flux"].failed) == (1, 1)
    assert (rows["drive"].carriers, rows["drive"].succeeded) == (1, 1)
    assert station.records.statistics("method")[0].label in ("flux", "drive")
    from workbench.station import Filters
    (rows_ja,) = station.records.report(["method"], Filters(), "ja").values()
    assert sorted(r.label for r in rows_ja) == ["ドライブ", "フラックス"]


def test_training_x_on_a_disk_no_recipe_is_of_offers_no_recipe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key x on the damaged training floppy's result: the recipes are of the good disk
    (they were offered, then refused as another disk); only the Greaseweazle is left."""
    import asyncio

    from tests.test_tui import shown_text, text_of, wait_for
    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.flux import CapturePicker
    from workbench.tui.result import ResultScreen

    monkeypatch.setenv("WORKBENCH_GW", "no-such-gw")
    settings = Settings().for_training()
    with Station(settings) as s:
        s.image(MEDIA / "fd35-2hd-damaged.drive.toml", s.profiles["fd35-2hd"], "TX-1")
    seen: list[object] = []

    async def scenario() -> None:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.push_screen(ResultScreen(app.station.result_of("TX-1")))
            await pilot.pause()
            first = app.screen
            await pilot.press("x")
            await wait_for(pilot, lambda: seen.append(app.screen) is None and isinstance(
                app.screen, ResultScreen) and app.screen is not first
                and shown_text(app, "#outcome"))
            assert "no-such-gw" in text_of(app, "#outcome")
    asyncio.run(scenario())
    assert not any(isinstance(screen, CapturePicker) for screen in seen)


def test_cli_gw_device_reaches_gw_and_report_by_method(
        tmp_path: Path, gw: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main
    from workbench.errors import ExitCode
    monkeypatch.setenv("FAKE_GW_FAIL", "0:0")  # the first track fails: one call to read
    code = main(["image", "--flux", "--gw-device", "/dev/ttyACM4", "--profile", "fd35-2hd",
                 "--item", "CLI-GW"])
    assert code != ExitCode.SUCCESS and "No Index" in capsys.readouterr().err
    (call,) = calls(gw)
    assert call[:3] == ["read", "--device", "/dev/ttyACM4"]
    assert main(["report", "--by", "method"]) == ExitCode.SUCCESS
    assert "flux" in capsys.readouterr().out  # the interrupted flux attempt's slice


def test_the_result_of_an_interrupted_capture_shows_and_x_goes_on(
        tmp_path: Path, gw: Path, stand_in: list[list[str]]) -> None:
    """An interrupted flux carrier's result screen (no map yet) shows it interrupted,
    and x captures the rest and images it."""
    import asyncio

    from tests.test_tui import shown_text, text_of, wait_for
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.result import ResultScreen

    settings = settings_in(tmp_path)
    with Station(settings) as s:
        s.progress = lambda step, p: s.cancel.set() if getattr(p, "done", 0) == 2 else None
        with pytest.raises(Aborted):
            p = s.profiles["fd35-2hd"]
            station_flux.image_flux(s, "TXI-1", few_tracks(s))
        assert s.state("TXI-1").state is State.INTERRUPTED
    # the UI's x uses the profile's own cylinders: the interrupted plan keeps 3
    assert p.flux is not None and p.flux.cylinders == 80

    async def scenario() -> None:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.push_screen(ResultScreen(app.station.result_of("TXI-1")))
            await wait_for(pilot, lambda: shown_text(app, "#outcome"))
            first = app.screen
            assert "aborted (resumable)" in text_of(app, "#outcome")
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                           and app.screen is not first and shown_text(app, "#outcome"))
            assert "partial" in text_of(app, "#outcome"), text_of(app, "#outcome")
    asyncio.run(scenario())
    assert len(calls(gw)) == 6  # 2 before the cancel, the 4 left after


def test_gw_device_without_flux_is_refused_not_dropped(tmp_path, capsys):
    from workbench.cli import main
    code = main(["image", str(tmp_path / "x.img"), "--gw-device", "/dev/ttyACM4",
                 "--profile", "fd35-2hd", "--item", "GWD-1"])
    assert code == ExitCode.BAD_INPUT
    assert "add --flux" in capsys.readouterr().err and not (tmp_path / "staging").exists()


def test_the_work_list_continues_an_interrupted_capture_with_flux(
        tmp_path: Path, gw: Path, stand_in: list[list[str]]) -> None:
    """Enter on an interrupted flux carrier in the home screen's work list captures the
    tracks left and images it (it opened the drive flow, which cannot read flux)."""
    import asyncio

    from tests.test_tui import shown_text, text_of, wait_for
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.flow import ProfileScreen
    from workbench.tui.result import ResultScreen
    from workbench.tui.rowlist import RowList

    settings = settings_in(tmp_path)
    with Station(settings) as s:
        s.progress = lambda step, p: s.cancel.set() if getattr(p, "done", 0) == 2 else None
        with pytest.raises(Aborted):
            station_flux.image_flux(s, "TWL-1", few_tracks(s))
        assert station_flux.continues_with_flux(s, "TWL-1")
    seen: list[str] = []

    async def scenario() -> None:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            work = app.screen.query_one("#pending", RowList)
            await wait_for(pilot, lambda: work.row_count == 1)
            assert "workbench retry TWL-1" in str(work.get_row_at(0)[2])  # not migrate
            await pilot.press("w", "enter")
            await wait_for(pilot, lambda: seen.append(type(app.screen).__name__) or (
                isinstance(app.screen, ResultScreen) and shown_text(app, "#outcome")))
            assert "partial" in text_of(app, "#outcome"), text_of(app, "#outcome")
    asyncio.run(scenario())
    assert ProfileScreen.__name__ not in seen and "FluxScreen" in seen
    assert len(calls(gw)) == 6  # 2 before the cancel, the 4 left after



def test_scanning_an_interrupted_capture_goes_on_with_flux(
        tmp_path: Path, gw: Path, stand_in: list[list[str]]) -> None:
    """The item scan asks the station which way a carrier goes on, like the work list:
    an interrupted flux capture's ID opens the flux screen, never the drive flow."""
    import asyncio

    from tests.test_tui import wait_for
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.flow import ProfileScreen
    from workbench.tui.metadata import MetadataScreen

    settings = settings_in(tmp_path)
    with Station(settings) as s:
        s.progress = lambda step, p: s.cancel.set() if getattr(p, "done", 0) == 2 else None
        with pytest.raises(Aborted):
            station_flux.image_flux(s, "TWS-1", few_tracks(s))
    seen: list[str] = []

    async def scenario() -> None:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("m")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ItemScreen")
            await pilot.press(*"TWS-1", "enter")
            await wait_for(pilot, lambda: seen.append(type(app.screen).__name__) or (
                type(app.screen).__name__ == "FluxScreen"))
    asyncio.run(scenario())
    assert MetadataScreen.__name__ not in seen and ProfileScreen.__name__ not in seen


COPYING_GW = r'''#!PYTHON
"""A stand-in gw that 'reads' the disk in the drive: copies the track's SCP file from
the folder FAKE_GW_DISK names (the disk a test put in the drive)."""
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GW_LOG"], "a") as fh:
    fh.write(json.dumps(args) + "\n")
opts = dict(zip(args[1:-1:2], args[2:-1:2]))
spec = dict(kv.split("=") for kv in opts["--tracks"].split(":"))
shutil.copyfile(os.path.join(os.environ["FAKE_GW_DISK"],
                             "track%02d.%s.scp" % (int(spec["c"]), spec["h"])), args[-1])
'''


def test_a_retry_round_of_another_disk_is_refused_and_set_aside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The technician puts another disk into the Greaseweazle's drive for a retry round:
    the round's tracks are compared with the earlier capture's before the vote, refused
    and kept apart; with the carrier's own disk back, the next round goes on."""
    import random

    from tests.test_flux_capture import install_fake_gw
    from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks, with_fault
    log = install_fake_gw(tmp_path, monkeypatch)
    (tmp_path / "bin" / "gw").write_text(COPYING_GW.replace("PYTHON", sys.executable))
    fmt = FORMATS["ibm.1440"]
    disks = {}
    for name, seed, gap3 in (("own", 1, fmt.gap3), ("other", 2, 40)):
        image = random.Random(seed).randbytes(fmt.image_size())
        specs = [s for s in image_tracks(image, replace(fmt, gap3=gap3)) if s.cylinder < 3]
        if name == "own":
            specs = with_fault(specs, 1, 0, 7, weak=(0, 1, 2))  # never reads
        capture = encode_capture(specs, Timing(revolutions=2, jitter_ns=40), seed=seed)
        folder = tmp_path / name
        folder.mkdir()
        for key, track in capture.tracks.items():
            write_scp(FluxCapture({key: track}, "scp"), folder / f"track{key[0]:02d}.{key[1]}.scp")
        disks[name] = folder
    monkeypatch.setenv("FAKE_GW_DISK", str(disks["own"]))
    with Station(settings_in(tmp_path)) as station:
        first = station_flux.image_flux(station, "RND-1", few_tracks(station))
        assert first.record.outcome == "partial", first.record.reason
        assert first.record.flux is not None and first.record.flux["bad_tracks"] == [[1, 0]]
        image = (first.job_dir / first.record.image).read_bytes()
        monkeypatch.setenv("FAKE_GW_DISK", str(disks["other"]))
        with pytest.raises(Refused) as refused:  # as `retry` does, with few cylinders
            station_flux.image_flux(station, "RND-1", few_tracks(station))
        assert "read another disk" in refused.value.message()
        aside = first.job_dir / "flux" / "set-aside" / "round1"
        assert [p.name for p in aside.iterdir()] == ["track01.0.r1.scp"]
        assert not list((first.job_dir / "flux").glob("*.r1.scp"))  # never voted
        assert (first.job_dir / first.record.image).read_bytes() == image
        monkeypatch.setenv("FAKE_GW_DISK", str(disks["own"]))
        again = station_flux.image_flux(station, "RND-1", few_tracks(station))  # voted
        assert again.record.outcome == "partial" and again.state is State.IMAGED
        assert (again.job_dir / "flux" / "track01.0.r2.scp").is_file()
    assert len(calls(log)) == 6 + 1 + 1


def test_a_capture_named_like_one_in_the_job_never_replaces_it(
        disk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two readings of one disk saved under one name (a tool's default): the second is
    kept beside the first (A~2.scp), never over it; a decode again with nothing to
    capture records the captures' own source, not a Greaseweazle read."""
    *_, capture = disk
    first, second = tmp_path / "one" / "A.scp", tmp_path / "two" / "A.scp"
    first.parent.mkdir()
    second.parent.mkdir()
    write_scp(few(capture), first)
    again = few(encode_capture(image_tracks(make_disk()[0], FORMATS["ibm.360"]),
                               Timing(revolutions=2, jitter_ns=50), seed=21))
    write_scp(again, second)
    assert first.read_bytes() != second.read_bytes()
    with Station(settings_in(tmp_path)) as station:
        profile = station.profiles["fd525-2d"]
        station_flux.image_flux(station, "NM-1", profile, first)
        kept = station_flux.image_flux(station, "NM-1", profile, second)
        imported = kept.job_dir / "flux" / "import"
        assert sorted(p.name for p in imported.iterdir()) == ["A.scp", "A~2.scp"]
        assert (imported / "A.scp").read_bytes() == first.read_bytes()
        assert (imported / "A~2.scp").read_bytes() == second.read_bytes()
        monkeypatch.setattr(station_flux, "_plan", lambda *a, **k: None)  # all captured
        decoded = station_flux.image_flux(station, "NM-1", profile)
        assert decoded.record.runs[-1].drive["path"] == str(second)
        assert "Greaseweazle" not in json.dumps(decoded.record.runs[-1].drive)
