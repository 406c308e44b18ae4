"""Flux imaging end to end with the real readers and decoder: a capture file (SCP, a
KryoFlux stream set, or per-track files a fake gw hands out) -> image and map with the
bad sector -> bag holding the flux master -> ledger counts and the method.

Small disks keep it fast: a 5.25-inch 2D disk (40 x 2 x 9 x 512, FAT12) encoded with
timing jitter, one sector weak (a good CRC on one revolution of three) and one sector
of a file that no revolution gives.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from scripts.fatimage import Entry, FatImage, Geometry, short_name
from tests.test_station import settings_in
from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks, with_fault
from workbench.flux.kryoflux import write_kryoflux
from workbench.flux.model import FluxCapture
from workbench.flux.scp import write_scp
from workbench.imaging.mapfile import RescueMap
from workbench.ledger.query import statistics
from workbench.package.bags import check_bag, read_manifest
from workbench.station import State, Station
from workbench.station import flux as station_flux

FMT = FORMATS["ibm.360"]
SECTOR = 512
TEXT = b"".join(b"line %04d of the ledger, written in 1994\r\n" % i for i in range(200))


def fat360() -> bytes:
    image = FatImage(Geometry(total_sectors=720, sectors_per_cluster=2, root_entries=112,
                              sectors_per_track=9, media=0xFD, label=b"FLUXDISK   ")
                     ).build([Entry(short_name("LEDGER.TXT"), TEXT),
                              Entry(short_name("README.TXT"), b"hello from 1994\r\n")])
    assert len(image) == FMT.image_size() == 368640
    return image


def file_sector(image: bytes, name: bytes) -> int:
    """The first data sector of a root-directory file (FAT12, 2 sectors a cluster)."""
    root = (1 + 2 * 2) * SECTOR  # reserved 1, two FATs of 2 sectors
    for off in range(root, root + 112 * 32, 32):
        if image[off:off + 11] == name:
            cluster = int.from_bytes(image[off + 26:off + 28], "little")
            return 1 + 2 * 2 + 112 * 32 // SECTOR + (cluster - 2) * 2
    raise AssertionError(name)


def chs(lba: int) -> tuple[int, int, int]:
    return lba // 18, lba // 9 % 2, lba % 9 + 1


@pytest.fixture(scope="module")
def disk() -> tuple[bytes, int, FluxCapture]:
    return make_disk()


def make_disk() -> tuple[bytes, int, FluxCapture]:
    """The image, the LBA of LEDGER.TXT's lost sector, and the capture (3 revolutions)."""
    image = fat360()
    lost = file_sector(image, short_name("LEDGER.TXT")) + 1
    specs = image_tracks(image, FMT)
    specs = with_fault(specs, 7, 1, 4, weak=(0, 2))  # reads on revolution 1 of 0..2
    specs = with_fault(specs, *chs(lost), weak=(0, 1, 2))  # never
    return image, lost, encode_capture(specs, Timing(revolutions=3, jitter_ns=60), seed=14)


@pytest.fixture
def station(tmp_path: Path):
    with Station(settings_in(tmp_path)) as s:
        yield s


def test_scp_capture_to_image_map_bag_and_ledger(disk, station: Station,
                                                 tmp_path: Path) -> None:
    image, lost, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    profile = station.profiles["fd525-2d"]
    result = station_flux.image_flux(station, "FD-20", profile, tmp_path / "disk.scp")
    record = result.record
    assert record.outcome == "partial", record.reason
    assert record.bad_ranges == [[lost * SECTOR, SECTOR]] and record.bad_sector_count == 1
    job = result.job_dir
    expected = image[:lost * SECTOR] + bytes(SECTOR) + image[(lost + 1) * SECTOR:]
    assert (job / "image.img").read_bytes() == expected
    assert record.digests["sha256"] == hashlib.sha256(expected).hexdigest()
    assert RescueMap.load(job / "image.map").ranges(("-",)) == [(lost * SECTOR, SECTOR)]
    assert record.declared_by == "FAT" and record.flux is not None
    assert record.flux["format"] == "scp" and record.flux["revolutions"] == 3
    assert record.flux["fits"] == ["fd525-2d"] and record.flux["d88"] is None
    assert [f["file"] for f in record.flux["files"]] == ["flux/import/disk.scp"]
    assert record.flux["layout"]["bad"] == 1 and record.flux["layout"]["good"] == 719

    accepted = station.accept("FD-20", stage=False)
    assert accepted.bag is not None
    check_bag(accepted.bag)
    bagged = accepted.bag / "data" / "flux" / "import" / "disk.scp"
    assert bagged.read_bytes() == (tmp_path / "disk.scp").read_bytes()
    manifest = read_manifest(accepted.bag / "manifest-sha256.txt")
    assert manifest["data/flux/import/disk.scp"] == \
        hashlib.sha256(bagged.read_bytes()).hexdigest()
    report = json.loads((accepted.bag / "metadata" / "formats.json").read_text())
    assert [d["path"] for d in report["summary"]["damaged"]] == ["/LEDGER.TXT"]
    assert "flux imaging: scp capture" in (accepted.bag / "metadata" / "premis.xml").read_text()

    (row,) = statistics(station.con, "media")
    assert (row.carriers, row.partial, row.succeeded, row.failed) == (1, 1, 0, 0)
    assert station_flux.method_of(station, "FD-20") == "flux"
    events = station.con.execute("SELECT detail FROM events WHERE item_id = 'FD-20' AND "
                                 "step = 'flux'").fetchall()
    assert len(events) == 1 and "scp capture, 3 revolution(s)" in events[0][0]
    assert station.state("FD-20").state is State.BAGGED


def test_kryoflux_and_scp_of_one_disk_give_one_image(disk, station: Station,
                                                     tmp_path: Path) -> None:
    _, _, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    write_kryoflux(capture, tmp_path / "kf")
    profile = station.profiles["fd525-2d"]
    a = station_flux.image_flux(station, "FD-21", profile, tmp_path / "disk.scp").record
    b = station_flux.image_flux(station, "FD-22", profile, tmp_path / "kf").record
    assert a.digests == b.digests and a.bad_ranges == b.bad_ranges
    assert b.flux is not None and b.flux["format"] == "kryoflux"
    assert len(b.flux["files"]) == 80 and b.flux["files"][0]["file"].startswith("flux/import/kf/")


GW_SH = r'''#!/bin/sh
# A stand-in for Greaseweazle's gw: hands out a track file prepared by the test.
echo "$*" >> "$FAKE_GW_LOG"
revs=""; spec=""; out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --revs) revs="$2"; shift 2 ;;
    --tracks) spec="$2"; shift 2 ;;
    --drive|--format) shift 2 ;;
    read|--raw) shift ;;
    *) out="$1"; shift ;;
  esac
done
c="${spec#c=}"; c="${c%%:*}"; h="${spec#*:h=}"; h="${h%%:*}"
cp "$FAKE_GW_DIR/$revs/$c.$h.scp" "$out"
'''


def per_track(capture: FluxCapture, folder: Path) -> None:
    folder.mkdir(parents=True)
    for (c, h), track in capture.tracks.items():
        write_scp(FluxCapture({(c, h): track}, "scp"), folder / f"{c}.{h}.scp")


def test_gw_capture_then_retry_votes_across_every_capture(disk, station: Station,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    image, lost, capture = disk
    c, h, r = chs(lost)
    # the retry round: 8 revolutions of the lost sector's track; one of them gives it
    again = with_fault(image_tracks(image, FMT), c, h, r, weak=(0, 1, 2, 3, 4, 6, 7))
    retry = encode_capture([t for t in again if (t.cylinder, t.head) == (c, h)],
                           Timing(revolutions=8, jitter_ns=60), seed=15)
    per_track(capture, tmp_path / "gw" / "3")
    per_track(retry, tmp_path / "gw" / "8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gw").write_text(GW_SH)
    (bin_dir / "gw").chmod(0o755 | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GW_DIR", str(tmp_path / "gw"))
    monkeypatch.setenv("FAKE_GW_LOG", str(tmp_path / "gw.log"))
    profile = station.profiles["fd525-2d"]
    assert profile.flux is not None and profile.flux.double_step
    profile = replace(profile, flux=replace(profile.flux, retry_revolutions=8))

    first = station_flux.image_flux(station, "FD-23", profile)
    calls = (tmp_path / "gw.log").read_text().splitlines()
    assert len(calls) == 80 and "--tracks c=0:h=0:step=2" in calls[0]
    assert first.record.outcome == "partial"
    assert first.record.flux is not None and first.record.flux["bad_tracks"] == [[c, h]]

    second = station_flux.image_flux(station, "FD-23", profile)
    calls = (tmp_path / "gw.log").read_text().splitlines()
    assert calls[80:] == [f"read --drive A --revs 8 --tracks c={c}:h={h}:step=2 "
                          f"{second.job_dir}/flux/.part-track{c:02d}.{h}.r1.scp"]
    assert second.record.outcome == "success", second.record.reason
    assert (second.job_dir / "image.img").read_bytes() == image
    assert second.record.flux is not None and second.record.flux["revolutions"] == 11
    assert len(second.record.flux["files"]) == 81
    (row,) = statistics(station.con, "media")
    assert (row.carriers, row.succeeded, row.attempts) == (1, 1, 2)


def test_cli_image_flux_with_a_capture_and_the_profile_the_ids_say(disk, tmp_path: Path,
                                                                   capsys) -> None:
    """`workbench image --flux CAPTURE`: a 5.25-inch 2D disk the technician took for a
    3.5-inch 2DD one is imaged and counted as what its ID fields say."""
    from workbench.cli import main
    from workbench.errors import ExitCode
    _, lost, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    code = main(["image", "--flux", str(tmp_path / "disk.scp"), "--profile", "fd35-2dd",
                 "--item", "CLI-2", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert code == ExitCode.PARTIAL
    assert record["profile_id"] == "fd525-2d" and record["flux"]["method"] == "flux"
    assert record["bad_ranges"] == [[lost * SECTOR, SECTOR]]
    assert (tmp_path / "staging" / "CLI-2" / "flux" / "import" / "disk.scp").is_file()
    again = main(["image", "--flux", str(tmp_path / "disk.scp"), "--profile", "fd35-2dd",
                  "--item", "CLI-2", "--json"])  # the same command: a new attempt, same job
    assert again == ExitCode.PARTIAL
    assert json.loads(capsys.readouterr().out)["profile_id"] == "fd525-2d"


RECIPE = """model = "Test flux capture"
profile = "fd525-2d"
format = "ibm.360"
capture = "scp"
revolutions = 1
seed = 7
label.en = "Tiny training disk"
label.ja = "小さな練習用ディスク"
"""


def test_training_recipes_build_the_same_bytes_and_the_ui_offers_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from textual.widgets import OptionList

    from tests.test_tui import shown_text, text_of, wait_for
    from workbench.config import Settings
    from workbench.flux import training
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.flux import CapturePicker
    from workbench.tui.result import ResultScreen

    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "tiny.flux.toml").write_text(RECIPE, encoding="utf-8")
    monkeypatch.setattr(training, "TRAINING_FLUX", folder)
    (recipe,) = training.recipes()
    a, b = training.build(recipe, tmp_path / "a"), training.build(recipe, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert len(training.sector_image(recipe)) == 368640
    settings = Settings().for_training()
    with Station(settings) as station:
        first = station_flux.image_flux(station, "T-1", station.profiles["fd525-2d"], a)
    assert first.record.outcome == "success"
    assert (first.job_dir / "image.img").read_bytes() == training.sector_image(recipe)

    async def scenario() -> None:
        app = WorkbenchApp(settings)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.push_screen(ResultScreen(app.station.result_of("T-1")))
            await pilot.pause()
            result = app.screen
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, CapturePicker))
            options = app.screen.query_one(OptionList)
            assert options.option_count == 2  # the tiny disk, and the Greaseweazle
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen)
                           and app.screen is not result and shown_text(app, "#outcome"))
            assert "success" in text_of(app, "#outcome")
    asyncio.run(scenario())
    with Station(settings) as station:
        assert len(station.result_of("T-1").record.runs) == 2


def test_headless_training_with_flux_bags_the_recipes(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys) -> None:
    from workbench.cli import main
    from workbench.flux import training
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "tiny.flux.toml").write_text(RECIPE, encoding="utf-8")
    monkeypatch.setattr(training, "TRAINING_FLUX", folder)
    assert main(["training", "--flux"]) == 0
    out = capsys.readouterr().out
    assert "TRAIN-FLUX-tiny" in out
    job = json.loads((tmp_path / "training" / "staging" / "TRAIN-FLUX-tiny" / "job.json")
                     .read_text())
    assert job["outcome"] == "success" and job["flux"]["method"] == "flux"
    bag = tmp_path / "training" / "bags" / "TRAIN-FLUX-tiny"
    assert (bag / "data" / "flux" / "import" / "tiny.scp").is_file()
    assert (tmp_path / "training" / "flux-media" / "tiny.scp").is_file()  # built on use


def test_image_flux_takes_a_recipe_and_refuses_what_is_no_capture(tmp_path: Path,
                                                                  capsys) -> None:
    """A trainee gives the recipe itself: its capture is built and imaged. A file that is
    no capture is refused by name before anything is copied into a job folder."""
    from workbench.cli import main
    from workbench.errors import ExitCode
    recipe = tmp_path / "tiny.flux.toml"
    recipe.write_text(RECIPE, encoding="utf-8")
    notes = tmp_path / "notes.txt"
    notes.write_text("not flux", encoding="utf-8")
    code = main(["image", "--flux", str(notes), "--profile", "fd525-2d", "--item", "NO-1"])
    assert code == ExitCode.BAD_INPUT
    assert "notes.txt is not a flux capture" in capsys.readouterr().err
    assert not (tmp_path / "staging" / "NO-1").exists()
    assert main(["image", "--flux", str(recipe), "--profile", "fd525-2d", "--item", "R-1",
                 "--json"]) == ExitCode.SUCCESS
    record = json.loads(capsys.readouterr().out)
    assert record["flux"]["method"] == "flux" and record["outcome"] == "success"
    assert (tmp_path / "staging" / "R-1" / "flux" / "import" / "tiny.scp").is_file()


def test_half_a_disk_is_never_a_success_nor_another_profile(station: Station,
                                                            tmp_path: Path) -> None:
    """A 2HD capture of cylinders 0-39 only has the size of a 2DD disk: it stays a 2HD
    carrier, and its image is too small, so the outcome says what is missing."""
    import random
    fmt = FORMATS["ibm.1440"]
    image = random.Random(40).randbytes(fmt.image_size())
    specs = [s for s in image_tracks(image, fmt) if s.cylinder < 40]
    write_scp(encode_capture(specs, Timing(revolutions=1, jitter_ns=40), seed=40),
              tmp_path / "half.scp")
    result = station_flux.image_flux(station, "HALF-1", station.profiles["fd35-2hd"],
                                     tmp_path / "half.scp")
    assert result.record.profile_id == "fd35-2hd"
    assert result.record.outcome != "success", result.record.reason
    assert result.record.size == 737280


def test_retry_of_a_flux_carrier_reads_flux_never_the_capture_as_a_drive(
        disk, station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`retry` on a carrier imaged from an imported capture: with no Greaseweazle it is
    refused and the image stays what the decode made (it once became the SCP bytes); a
    drive named for it is refused; nothing is written either way."""
    from workbench.errors import WorkbenchError
    _, _, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    first = station_flux.image_flux(station, "RT-1", station.profiles["fd525-2d"],
                                    tmp_path / "disk.scp")
    assert first.record.outcome == "partial"
    image = first.job_dir / first.record.image
    before = image.read_bytes()
    monkeypatch.setenv("PATH", str(tmp_path / "no-gw-here"))
    monkeypatch.delenv("WORKBENCH_GW", raising=False)
    with pytest.raises(WorkbenchError) as err:
        station.retry("RT-1")
    assert "gw" in str(err.value)
    with pytest.raises(WorkbenchError) as err:
        station.retry("RT-1", drive="/dev/sdz")
    assert "imaged from flux" in str(err.value)
    assert image.read_bytes() == before and not before.startswith(b"SCP")
    assert station.result_of("RT-1").record.outcome == "partial"


def test_a_capture_of_another_disk_is_not_voted_into_the_image(disk, station: Station,
                                                              tmp_path: Path) -> None:
    """A second capture brought in for an item must be of the same disk: another disk's
    capture is refused before it is copied; the same disk captured again is taken."""
    import random

    from workbench.errors import Refused
    image, _, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    first = station_flux.image_flux(station, "TWO-1", station.profiles["fd525-2d"],
                                    tmp_path / "disk.scp")
    assert first.record.outcome == "partial"
    other = random.Random(5).randbytes(len(image))
    write_scp(encode_capture(image_tracks(other, FMT), Timing(revolutions=1), seed=5),
              tmp_path / "other.scp")
    with pytest.raises(Refused) as err:
        station_flux.image_flux(station, "TWO-1", station.profiles["fd525-2d"],
                                tmp_path / "other.scp")
    assert "not of the disk already captured" in str(err.value)
    assert not (first.job_dir / "flux" / "import" / "other.scp").exists()
    assert (first.job_dir / first.record.image).read_bytes()[:512] == image[:512]
    again = encode_capture(image_tracks(image, FMT), Timing(revolutions=1), seed=6)
    write_scp(again, tmp_path / "again.scp")  # the same disk, read again: every sector
    second = station_flux.image_flux(station, "TWO-1", station.profiles["fd525-2d"],
                                     tmp_path / "again.scp")
    assert second.record.outcome == "success"
    assert (second.job_dir / second.record.image).read_bytes() == image


def test_a_capture_where_no_sector_reads_leaves_no_untried_area(station: Station,
                                                               tmp_path: Path) -> None:
    """Every sector's data CRC bad: the map is all bad (nothing left untried), and the
    advice is not the dead-floppy one (the decode already read the medium)."""
    import random
    specs = image_tracks(random.Random(3).randbytes(FMT.image_size()), FMT)
    specs = [replace(t, sectors=tuple(replace(s, weak=(0,)) for s in t.sectors))
             for t in specs]
    write_scp(encode_capture(specs, Timing(revolutions=1), seed=3), tmp_path / "dead.scp")
    result = station_flux.image_flux(station, "DEAD-1", station.profiles["fd525-2d"],
                                     tmp_path / "dead.scp")
    record = result.record
    assert record.outcome == "failed" and record.bad_sector_count == 720
    assert not record.untried_ranges
    statuses = {b.status for b in RescueMap.load(result.job_dir / "image.map").blocks}
    assert statuses == {"-"}
    assert record.reason is None or "flux level" not in record.reason.message("en")


def test_a_damaged_capture_is_refused_before_it_is_copied(disk, station: Station,
                                                          tmp_path: Path) -> None:
    """An .scp damaged in its header is refused with its own message and nothing lands
    in the job folder, so the whole file given next is taken (it once blocked every
    attempt). One cut in half keeps its readable tracks: imaged partial, the tracks past
    the cut reported damaged; the whole file brought in next fills them."""
    from workbench.errors import WorkbenchError
    *_, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    whole = (tmp_path / "disk.scp").read_bytes()
    (tmp_path / "head.scp").write_bytes(whole[:100])
    with pytest.raises(WorkbenchError):
        station_flux.image_flux(station, "CUT-1", station.profiles["fd525-2d"],
                                tmp_path / "head.scp")
    assert not list((station.settings.paths.staging / "CUT-1").rglob("*.scp"))
    (tmp_path / "cut.scp").write_bytes(whole[: len(whole) // 2])
    half = station_flux.image_flux(station, "CUT-1", station.profiles["fd525-2d"],
                                   tmp_path / "cut.scp").record
    assert half.outcome == "partial" and half.flux is not None
    damaged = half.flux["layout"]["damaged_tracks"]
    assert damaged and [10, 0] not in damaged and [39, 1] in damaged
    result = station_flux.image_flux(station, "CUT-1", station.profiles["fd525-2d"],
                                     tmp_path / "disk.scp")
    assert result.record.outcome == "partial" and result.record.bad_sector_count == 1


def test_one_side_of_a_two_sided_disk_is_never_a_success(station: Station,
                                                         tmp_path: Path) -> None:
    """A 2HD capture of head 0 only: its ID fields declare half the disk, which is not
    the size of the profile's disk: not a success (it was recorded as one)."""
    import random
    fmt = FORMATS["ibm.1440"]
    specs = [s for s in image_tracks(random.Random(1).randbytes(fmt.image_size()), fmt)
             if s.head == 0]
    write_scp(encode_capture(specs, Timing(revolutions=1), seed=1), tmp_path / "h0.scp")
    result = station_flux.image_flux(station, "H0-1", station.profiles["fd35-2hd"],
                                     tmp_path / "h0.scp")
    assert result.record.outcome != "success", result.record.reason


def test_a_capture_of_another_disk_than_the_drive_read_is_refused_before_copying(
        disk, station: Station, tmp_path: Path) -> None:
    """A carrier imaged on a drive first: a capture of another disk brought in for it
    is refused before anything is copied (it was copied, then refused on every try)."""
    import random

    from workbench.errors import Refused
    image, _, capture = disk
    (tmp_path / "disk.img").write_bytes(image)
    station.image(tmp_path / "disk.img", station.profiles["fd525-2d"], "DRV-1")
    other = random.Random(9).randbytes(len(image))
    write_scp(encode_capture(image_tracks(other, FMT), Timing(revolutions=1), seed=9),
              tmp_path / "other.scp")
    with pytest.raises(Refused):
        station_flux.image_flux(station, "DRV-1", station.profiles["fd525-2d"],
                                tmp_path / "other.scp")
    job = station.settings.paths.staging / "DRV-1"
    assert not list(job.rglob("*.scp"))
    write_scp(capture, tmp_path / "same.scp")
    assert station_flux.image_flux(station, "DRV-1", station.profiles["fd525-2d"],
                                   tmp_path / "same.scp").record.item_id == "DRV-1"


def test_a_capture_folder_holding_an_undecodable_name_is_refused(disk, station: Station,
                                                                 tmp_path: Path) -> None:
    """A KryoFlux folder with a file whose name is not UTF-8: refused by name before
    anything is copied (the job's record then failed and the bag lost the capture)."""
    from workbench.errors import BadInput
    _, _, capture = disk
    folder = tmp_path / "streams"
    write_kryoflux(capture, folder)
    (Path(os.fsdecode(bytes(folder) + b"/notes\xff.txt"))).write_text("x")
    with pytest.raises(BadInput) as err:
        station_flux.image_flux(station, "UN-1", station.profiles["fd525-2d"], folder)
    assert "not UTF-8" in str(err.value)
    assert not (station.settings.paths.staging / "UN-1").exists()


def test_sectors_whose_good_reads_differ_make_no_success(station: Station,
                                                        tmp_path: Path) -> None:
    """One sector read with a correct CRC on three revolutions, once with other data:
    the vote takes the majority, and the outcome says the image is not certain there."""
    import random
    image = random.Random(2).randbytes(FMT.image_size())
    specs = with_fault(image_tracks(image, FMT), 0, 0, 1,
                       variants=((1, bytes(512)),))
    write_scp(encode_capture(specs, Timing(revolutions=3), seed=2), tmp_path / "v.scp")
    result = station_flux.image_flux(station, "VAR-1", station.profiles["fd525-2d"],
                                     tmp_path / "v.scp")
    record = result.record
    assert record.outcome == "partial" and record.reason is not None
    assert record.reason.code == "flux_disagreeing" and record.bad_sector_count == 0
    assert (result.job_dir / record.image).read_bytes() == image  # the majority won


def test_a_disk_differing_only_where_the_first_capture_failed_is_told_by_its_format(
        disk, station: Station, tmp_path: Path) -> None:
    """Another copy of the disk that differs only in the sector the first capture never
    read: no good sector differs, but it was formatted with other gaps, and on every
    track its sectors lie elsewhere after the index: refused before copying. The same
    disk read again in another drive (speed, index sensor) is still taken."""
    import random

    from workbench.errors import Refused
    image, lost, capture = disk
    write_scp(capture, tmp_path / "disk.scp")
    first = station_flux.image_flux(station, "FMT-1", station.profiles["fd525-2d"],
                                    tmp_path / "disk.scp")
    assert first.record.outcome == "partial"
    other = bytearray(image)
    other[lost * SECTOR:(lost + 1) * SECTOR] = random.Random(8).randbytes(SECTOR)
    write_scp(encode_capture(image_tracks(bytes(other), replace(FMT, gap3=40)),
                             Timing(revolutions=1), seed=8), tmp_path / "copy.scp")
    with pytest.raises(Refused) as err:
        station_flux.image_flux(station, "FMT-1", station.profiles["fd525-2d"],
                                tmp_path / "copy.scp")
    assert "formatted otherwise" in str(err.value)
    assert not (first.job_dir / "flux" / "import" / "copy.scp").exists()
    drive = Timing(revolutions=2, jitter_ns=70, drift=0.01, speed=1.02, index_offset_us=300)
    write_scp(encode_capture(image_tracks(image, FMT), drive, seed=9), tmp_path / "b.scp")
    again = station_flux.image_flux(station, "FMT-1", station.profiles["fd525-2d"],
                                    tmp_path / "b.scp")
    assert again.record.outcome == "success"
