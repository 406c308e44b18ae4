"""The rescue engine against fault-injected sources: exact bytes, map and outcome."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import digests_of, pattern, with_zeros
from workbench.errors import BadInput, Refused
from workbench.imaging import writer as writer_module
from workbench.imaging.engine import image, image_source
from workbench.imaging.mapfile import RescueMap
from workbench.imaging.record import JobRecord
from workbench.imaging.sources import Damage, SourceGone

FD = 1474560
SCHEMA = json.loads((Path(__file__).parent.parent / "workbench" / "imaging"
                     / "job.schema.json").read_text())


def run(drive, profile, out: Path, settings, item="ITEM-1", **kw) -> JobRecord:
    record = image_source(drive, profile, item, settings, out, **kw)
    jsonschema.validate(json.loads((out / "job.json").read_text()), SCHEMA)
    return record


def statuses(out: Path) -> list[tuple[int, int, str]]:
    return [(b.pos, b.size, b.status) for b in RescueMap.load(out / "image.map").blocks]


def map_ranges(map_path: Path, wanted: str) -> list[list[int]]:
    """[pos, size] of the blocks whose status is in wanted, adjoining ones joined, read
    from the map file as ddrescue writes it (not through RescueMap)."""
    rows = [line.split() for line in map_path.read_text().splitlines()
            if line.strip() and not line.startswith("#")][1:]  # after the status line
    out: list[list[int]] = []
    for pos, size, status in ((int(a, 0), int(b, 0), c) for a, b, c in rows):
        if status not in wanted:
            continue
        if out and sum(out[-1]) == pos:
            out[-1][1] += size
        else:
            out.append([pos, size])
    return out


def ddrescuelog_bytes(map_path: Path, wanted: str) -> int | None:
    """Bytes with a status in wanted, by GNU ddrescuelog (None when not installed)."""
    tool = shutil.which("ddrescuelog")
    if tool is None:
        return None
    out = subprocess.run([tool, "-b512", f"-l{wanted}", str(map_path)], check=True,
                         capture_output=True, text=True).stdout
    return 512 * len(out.split())


def check_bad_and_untried(rec: JobRecord, out: Path) -> None:
    """Bad is what was tried and failed ('-'); untried is '?', '*' and '/'."""
    map_path = out / "image.map"
    bad, untried = map_ranges(map_path, "-"), map_ranges(map_path, "?*/")
    assert rec.bad_ranges == bad and rec.untried_ranges == untried
    assert rec.bytes_bad == sum(n for _, n in bad)
    assert rec.bytes_untried == sum(n for _, n in untried)
    assert rec.bad_sector_count == -(-rec.bytes_bad // 512)
    assert rec.bytes_rescued + rec.bytes_bad + rec.bytes_untried == rec.size
    if (gnu_bad := ddrescuelog_bytes(map_path, "-")) is not None:
        assert gnu_bad == rec.bytes_bad == rec.bad_sector_count * 512
        assert ddrescuelog_bytes(map_path, "?*/") == rec.bytes_untried


def test_good_medium_is_read_exactly_once(make_drive, profiles, settings, tmp_path):
    data = pattern(FD)
    drive = make_drive(data)
    rec = run(drive, profiles["fd35-2hd"], tmp_path / "job", settings)
    assert rec.outcome == "success" and rec.reason is None
    assert (tmp_path / "job" / "image.img").read_bytes() == data
    assert rec.digests == digests_of(data)
    assert drive.bytes_read == FD  # one read of the medium, digests included
    assert statuses(tmp_path / "job") == [(0, FD, "+")]
    assert rec.bad_sector_count == 0 and rec.read_errors == 0
    assert rec.runs[0].drive["model"] == "Test drive"


def test_bad_ranges_give_exact_bytes_map_and_partial(make_drive, profiles, settings, tmp_path):
    data = pattern(FD)
    bad = [(100 * 512, 3 * 512), (2000 * 512 + 512, 512)]
    drive = make_drive(data, Damage(bad=bad))
    rec = run(drive, profiles["fd35-2hd"], tmp_path / "job", settings, retries=2)
    expected = with_zeros(data, bad)
    assert (tmp_path / "job" / "image.img").read_bytes() == expected
    assert rec.outcome == "partial" and rec.reason.code == "bad_sectors"
    assert rec.bad_sector_count == 4 and rec.bytes_bad == 4 * 512
    assert rec.bad_ranges == [list(b) for b in bad]
    assert [s for s in statuses(tmp_path / "job") if s[2] != "+"] == \
        [(p, n, "-") for p, n in bad]
    assert rec.digests == digests_of(expected)
    # no second full read of the medium: only the failed clusters are read again
    assert drive.bytes_read < FD * 1.05
    phases = [p.phase for p in rec.passes]
    assert phases[0] == "copy" and "trim" in phases and phases.count("retry") == 2


def test_flaky_sectors_succeed_on_retry(make_drive, profiles, settings, tmp_path):
    data = pattern(FD)
    drive = make_drive(data, Damage(flaky=[(50 * 512, 18 * 512, 4)]))
    rec = run(drive, profiles["fd35-2hd"], tmp_path / "job", settings, retries=3)
    assert rec.outcome == "success"
    assert (tmp_path / "job" / "image.img").read_bytes() == data
    assert rec.digests == digests_of(data)
    assert rec.read_errors >= 4


def test_flaky_sectors_without_retries_stay_bad(make_drive, profiles, settings, tmp_path):
    data = pattern(FD)
    drive = make_drive(data, Damage(flaky=[(50 * 512, 512, 10)]))
    rec = run(drive, profiles["fd35-2hd"], tmp_path / "job", settings, retries=0)
    assert rec.outcome == "partial" and rec.bad_ranges == [[50 * 512, 512]]


def test_bad_last_sector_keeps_full_size(make_drive, profiles, settings, tmp_path):
    data = pattern(FD)
    drive = make_drive(data, Damage(bad=[(FD - 512, 512)]))
    rec = run(drive, profiles["fd35-2hd"], tmp_path / "job", settings)
    img = (tmp_path / "job" / "image.img").read_bytes()
    assert len(img) == FD and img == with_zeros(data, [(FD - 512, 512)])
    assert rec.outcome == "partial" and rec.bad_ranges == [[FD - 512, 512]]


def test_everything_bad_is_failed_unreadable(make_drive, profiles, settings, tmp_path):
    drive = make_drive(pattern(FD), Damage(bad=[(0, FD)]))
    rec = run(drive, profiles["fd35-2hd"], tmp_path / "job", settings, retries=0)
    # recognised as dead after a spread sample (tests/test_dead_media.py), not ground through
    assert rec.outcome == "failed" and rec.reason.code in ("dead_floppy", "dead_medium")
    assert rec.read_errors <= 300


def test_vanishing_source_fails_resumably(make_drive, profiles, settings, tmp_path):
    data = pattern(FD)
    out = tmp_path / "job"
    rec = run(make_drive(data, Damage(vanish_at=FD // 2)), profiles["fd35-2hd"], out, settings)
    assert rec.outcome == "failed" and rec.reason.code == "vanished"
    assert "Reconnect" in rec.reason.text
    img = (out / "image.img").read_bytes()
    for pos, size, status in statuses(out):
        if status == "+":
            assert img[pos:pos + size] == data[pos:pos + size]
    done = sum(s for _, s, st in statuses(out) if st == "+")
    assert 0 < done < FD
    assert rec.bytes_untried == FD - done and rec.bytes_bad == rec.bad_sector_count == 0
    # reconnected: the same job resumes and completes, reading only what was missing
    again = make_drive(data)
    rec = run(again, profiles["fd35-2hd"], out, settings)
    assert rec.outcome == "success" and rec.digests == digests_of(data)
    assert again.bytes_read == FD - done
    assert len(rec.runs) == 2 and rec.runs[0].outcome == "failed"


def test_cancel_then_resume_matches_an_uninterrupted_run(make_drive, profiles, settings,
                                                         tmp_path):
    data = pattern(FD)
    bad = [(700 * 512, 1024)]
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.rescued > FD // 3:
            cancel.set()

    slow = Damage(bad=bad, slow=[(0, FD, 0.002)])
    out = tmp_path / "job"
    rec = run(make_drive(data, slow), profiles["fd35-2hd"], out, settings,
              progress=progress, cancel=cancel)
    assert rec.outcome == "aborted" and rec.reason.code == "cancelled" and rec.digests == {}
    assert seen and seen[-1].blocks and seen[-1].size == FD
    rec = run(make_drive(data, Damage(bad=bad)), profiles["fd35-2hd"], out, settings)
    whole = run(make_drive(data, Damage(bad=bad)), profiles["fd35-2hd"], tmp_path / "w",
                settings)
    assert rec.outcome == whole.outcome == "partial"
    assert rec.digests == whole.digests
    assert (out / "image.img").read_bytes() == (tmp_path / "w" / "image.img").read_bytes()
    assert rec.bad_ranges == whole.bad_ranges


def test_cancel_mid_copy_reports_untried_areas_not_bad_sectors(make_drive, profiles,
                                                               settings, tmp_path):
    data = pattern(FD)
    bad = [(100 * 512, 3 * 512), (FD * 3 // 4, 4 * 512)]
    cancel = threading.Event()

    def progress(p):
        if p.rescued > FD // 3:
            cancel.set()

    out = tmp_path / "job"
    rec = run(make_drive(data, Damage(bad=bad, slow=[(0, FD, 0.002)])), profiles["fd35-2hd"],
              out, settings, progress=progress, cancel=cancel)
    assert rec.outcome == "aborted" and rec.reason.code == "cancelled"
    kinds = {status for _, _, status in statuses(out)}
    assert {"+", "?", "*"} <= kinds  # a read failed ('*'), and the copy pass was not done
    assert rec.bytes_untried > FD // 3 and rec.untried_ranges
    # nothing was tried sector by sector yet: no bad sectors, whatever failed in clusters
    assert rec.bad_sector_count == rec.bytes_bad == 0 and rec.bad_ranges == []
    check_bad_and_untried(rec, out)
    saved = JobRecord.load(out)
    assert saved is not None and saved.bytes_untried == rec.bytes_untried
    # resumed to the end: the untried areas are tried, and only the damage is bad
    rec = run(make_drive(data, Damage(bad=bad)), profiles["fd35-2hd"], out, settings)
    assert rec.outcome == "partial" and rec.bad_ranges == [list(b) for b in bad]
    assert rec.bytes_untried == 0 and rec.untried_ranges == []
    assert rec.bad_sector_count == 7
    check_bad_and_untried(rec, out)


def test_cancel_mid_scrape_counts_only_failed_sectors_as_bad(make_drive, profiles, settings,
                                                             tmp_path):
    data = pattern(FD)
    bad = [(0x20000, 32 * 512)]
    cancel = threading.Event()

    def progress(p):
        if p.phase == "scrape":
            cancel.set()

    out = tmp_path / "job"
    rec = run(make_drive(data, Damage(bad=bad)), profiles["fd35-2hd"], out, settings,
              progress=progress, cancel=cancel)
    assert rec.outcome == "aborted"
    # trim found the first and the last bad sector; the 30 between are not scraped yet
    assert rec.bad_ranges == [[0x20000, 512], [0x20000 + 31 * 512, 512]]
    assert rec.bad_sector_count == 2 and rec.bytes_bad == 1024
    assert rec.untried_ranges == [[0x20000 + 512, 30 * 512]]
    assert rec.bytes_untried == 30 * 512
    check_bad_and_untried(rec, out)


def test_a_crashed_run_leaves_untried_areas_in_the_record(make_drive, profiles, settings,
                                                          tmp_path):
    class Crash(BaseException):
        pass

    data = pattern(FD)

    def progress(p):
        if p.rescued > FD // 2 and p.elapsed > 2 * settings.map_save_seconds:
            raise Crash

    out = tmp_path / "job"
    drive = make_drive(data, Damage(bad=[(10 * 512, 512)], slow=[(0, FD, 0.01)]))
    with pytest.raises(Crash):
        image_source(drive, profiles["fd35-2hd"], "ITEM-1", settings, out,
                     progress=progress)
    left = JobRecord.load(out)
    assert left is not None and left.outcome == "running"
    assert left.bytes_rescued > 0 and left.bytes_untried > 0 and left.bytes_bad == 0
    jsonschema.validate(json.loads((out / "job.json").read_text()), SCHEMA)


@pytest.mark.parametrize("where", ["before_the_image", "before_the_first_checkpoint"])
def test_a_run_killed_before_its_first_checkpoint_resumes(where, make_drive, profiles,
                                                          settings, tmp_path, monkeypatch):
    """A kill (no finally, no map save) right at the start leaves a job that resumes."""
    from workbench.imaging import engine

    class Killed(BaseException):
        pass

    def kill(*args, **kwargs):
        raise Killed

    if where == "before_the_image":
        monkeypatch.setattr(engine, "_open_image", kill)
    else:
        monkeypatch.setattr(engine.Rescue, "run", kill)
    data = pattern(FD)
    out = tmp_path / "job"
    with pytest.raises(Killed):
        image_source(make_drive(data), profiles["fd35-2hd"], "ITEM-1", settings, out)
    assert statuses(out) == [(0, FD, "?")]
    monkeypatch.undo()
    rec = run(make_drive(data), profiles["fd35-2hd"], out, settings)
    assert rec.outcome == "success" and rec.digests == digests_of(data)
    # a map that claims rescued data is still refused without its image
    (out / "image.img").unlink()
    with pytest.raises(BadInput) as err:
        image_source(make_drive(data), profiles["fd35-2hd"], "ITEM-1", settings, out)
    assert "image.img is missing" in str(err.value)


def test_a_version_1_record_without_untried_fields_still_reads(make_drive, profiles,
                                                                settings, tmp_path):
    out = tmp_path / "job"
    run(make_drive(pattern(FD)), profiles["fd35-2hd"], out, settings)
    old = json.loads((out / "job.json").read_text())
    del old["bytes_untried"], old["untried_ranges"]
    jsonschema.validate(old, SCHEMA)
    (out / "job.json").write_text(json.dumps(old))
    rec = JobRecord.load(out)
    assert rec is not None and rec.bytes_untried == 0 and rec.untried_ranges == []
    assert rec.schema_version == 1


def test_late_passes_report_their_own_progress(make_drive, profiles, settings, tmp_path):
    from workbench.console import imaging_line
    data = pattern(FD)
    bad = [(0x20000, 32 * 512)]
    seen = []
    drive = make_drive(data, Damage(bad=bad, slow=[(0x20000, 32 * 512, 0.02)]))
    rec = run(drive, profiles["fd35-2hd"], tmp_path / "job", settings, retries=1,
              progress=seen.append)
    assert rec.outcome == "partial"
    for phase, size in (("trim", None), ("scrape", 30 * 512), ("retry", 32 * 512)):
        mine = [p for p in seen if p.phase == phase]
        assert mine and all(p.per_pass for p in mine)
        if size is not None:
            assert {p.pass_size for p in mine} == {size}
        fractions = [p.pass_fraction for p in mine]
        assert fractions == sorted(fractions), phase  # never goes back
        assert fractions[0] < 1 and fractions[-1] == 1.0, phase
        assert mine[-1].pass_eta == 0.0
    scrape = [p for p in seen if p.phase == "scrape"]
    assert any(0 < p.pass_fraction < 1 for p in scrape)
    assert any(p.pass_eta and p.pass_eta > 0 for p in scrape)
    retry = [p for p in seen if p.phase == "retry"]
    # the whole is at 100% (every sector read or bad) while the retry pass has work left
    assert any(p.fraction == 1.0 and p.pass_fraction < 1 for p in retry)
    middle = next(p for p in scrape if 0 < p.pass_fraction < 1)
    line = imaging_line(middle, 120)
    assert "scrape pass 1: " in line and "% of 15.0 KiB, ETA " in line
    assert f"{middle.pass_fraction * 100:.1f}%" in line
    copy = next(p for p in seen if p.phase == "copy")
    assert not copy.per_pass and "copy 1" in imaging_line(copy, 120)
    assert not [p for p in seen if p.phase == "done"][-1].per_pass


def test_full_output_disk_aborts_and_resumes(make_drive, profiles, settings, tmp_path,
                                             monkeypatch):
    data = pattern(FD)
    real_pwrite = os.pwrite
    written = [0]

    def pwrite(fd, buf, pos):
        if written[0] > FD // 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written[0] += len(buf)
        return real_pwrite(fd, buf, pos)

    monkeypatch.setattr(writer_module.os, "pwrite", pwrite)
    out = tmp_path / "job"
    rec = run(make_drive(data), profiles["fd35-2hd"], out, settings)
    assert rec.outcome == "aborted" and rec.reason.code == "disk_full"
    assert rec.bytes_untried > 0 and rec.bad_sector_count == 0
    check_bad_and_untried(rec, out)
    img = (out / "image.img").read_bytes()
    for pos, size, status in statuses(out):  # the map never claims unwritten data
        if status == "+":
            assert img[pos:pos + size] == data[pos:pos + size]
    monkeypatch.setattr(writer_module.os, "pwrite", real_pwrite)
    rec = run(make_drive(data), profiles["fd35-2hd"], out, settings)
    assert rec.outcome == "success" and rec.digests == digests_of(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_too_little_free_space_is_refused_before_reading(make_drive, profiles, settings,
                                                         tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if os.system(f"mount -t tmpfs -o size=512k tmpfs {small}") != 0:
        pytest.skip("this machine cannot mount tmpfs")
    try:
        drive = make_drive(pattern(FD))
        with pytest.raises(Refused) as err:
            image_source(drive, profiles["fd35-2hd"], "ITEM-1", settings, small / "job")
        assert "Not enough free space" in str(err.value)
        assert drive.read_calls == 0 and not (small / "job" / "image.img").exists()
    finally:
        os.system(f"umount {small}")


def test_retry_on_another_drive_merges_into_the_same_map(make_drive, profiles, settings,
                                                          tmp_path):
    data = pattern(FD)
    out = tmp_path / "job"
    first = run(make_drive(data, Damage(bad=[(0x8000, 0x2000)]), serial="A"),
                profiles["fd35-2hd"], out, settings)
    assert first.outcome == "partial"
    other = make_drive(data, Damage(bad=[(0x9000, 0x200)]), serial="B")
    rec = run(other, profiles["fd35-2hd"], out, settings)
    assert rec.outcome == "partial" and rec.bad_ranges == [[0x9000, 0x200]]
    assert other.bytes_read == 0x2000 - 0x200  # only the missing sectors were read
    assert [r.drive["serial"] for r in rec.runs] == ["A", "B"]
    assert rec.digests == digests_of(with_zeros(data, [(0x9000, 0x200)]))


def test_truncated_iso_is_caught_with_zero_read_errors(profiles, settings, tmp_path):
    from tests.conftest import MEDIA
    rec = image(MEDIA / "cd-truncated.drive.toml", profiles["cd"], "CD-1", settings,
                out_dir=tmp_path / "cd")
    assert rec.outcome == "failed" and rec.reason.code == "truncated"
    assert rec.read_errors == 0 and rec.iso9660_size == 77824 and rec.size == 77824 - 32768


def test_good_iso_is_imaged_to_its_volume_size(profiles, settings, tmp_path):
    from tests.conftest import MEDIA
    from workbench.imaging.sources import VirtualDrive
    data = (MEDIA / "cd-sample.iso").read_bytes()
    drive = VirtualDrive.from_file(MEDIA / "cd-sample.drive.toml")
    rec = image_source(drive, profiles["cd"], "CD-2", settings, tmp_path / "cd")
    assert rec.outcome == "success" and rec.iso9660_size == len(data)
    assert drive.bytes_read == len(data)  # the size probe's read is not repeated
    assert rec.digests == digests_of(data)
    assert (tmp_path / "cd" / "image.iso").read_bytes() == data


def test_truncating_write_blocker_is_truncated_by_the_boot_sector(profiles, settings,
                                                                 tmp_path):
    from tests.conftest import MEDIA
    rec = image(MEDIA / "fd35-2hd-truncating.drive.toml", profiles["fd35-2hd"], "FD-9",
                settings, out_dir=tmp_path / "fd")
    assert rec.outcome == "failed" and rec.reason.code == "truncated"
    assert rec.declared_size == 1474560 and rec.declared_by == "FAT"
    assert rec.read_errors == 0 and "1,474,560" in rec.reason.text
    assert "profile" not in rec.reason.text


def test_sha512_when_the_profile_asks(make_drive, profiles, settings, tmp_path):
    from dataclasses import replace
    data = pattern(FD)
    profile = replace(profiles["fd35-2hd"], digests=("md5", "sha256", "sha512"))
    rec = run(make_drive(data), profile, tmp_path / "job", settings)
    assert rec.digests["sha512"] == hashlib.sha512(data).hexdigest()


def test_pc98_1024_byte_sectors(make_drive, profiles, settings, tmp_path):
    data = pattern(1261568)
    drive = make_drive(data, Damage(bad=[(1024 * 10 + 100, 10)]), sector_size=1024)
    rec = run(drive, profiles["pc98-2hd"], tmp_path / "job", settings)
    assert rec.outcome == "partial" and rec.bad_ranges == [[10240, 1024]]
    assert rec.bad_sector_count == 1


def test_no_medium_and_permission_are_recorded_failures(profiles, settings, tmp_path,
                                                        monkeypatch):
    from workbench.imaging import engine
    for reason in ("no_medium", "permission"):
        def refuse(*a, _r=reason, **k):
            raise SourceGone(_r)
        monkeypatch.setattr(engine, "open_source", refuse)
        rec = image("/dev/sdz", profiles["fd35-2hd"], f"FD-{reason}", settings,
                    out_dir=tmp_path / reason)
        assert rec.outcome == "failed" and rec.reason.code == reason
        assert JobRecord.load(tmp_path / reason).outcome == "failed"


def test_data_safety_refusals(make_drive, profiles, settings, tmp_path):
    data = pattern(FD)
    drive = make_drive(data)
    # the output image would be the source file itself
    out = Path(drive.path).parent
    src = out / "image.img"
    src.write_bytes(data)
    from workbench.imaging.sources import VirtualDrive
    with pytest.raises(BadInput):  # an image without its map is never overwritten
        image_source(VirtualDrive(src), profiles["fd35-2hd"], "X-1", settings, out)
    (out / "image.map").write_text(RescueMap(size=FD).render())
    with pytest.raises(Refused) as err:
        image_source(VirtualDrive(src), profiles["fd35-2hd"], "X-1", settings, out)
    assert "on" in str(err.value) and src.read_bytes() == data
    with pytest.raises(BadInput):
        image_source(drive, profiles["fd35-2hd"], "../etc", settings, tmp_path / "j")
    run(drive, profiles["fd35-2hd"], tmp_path / "j", settings)
    with pytest.raises(BadInput) as err:  # same folder, other item: refused
        image_source(make_drive(data), profiles["fd35-2hd"], "OTHER", settings,
                     tmp_path / "j")
    assert "ITEM-1" in str(err.value)


def test_sources_are_never_opened_for_writing(profiles, settings, tmp_path, monkeypatch):
    from tests.conftest import MEDIA
    from workbench.imaging import sources
    flags_seen = []
    real_open = os.open

    def spy(path, flags, *a, **k):
        flags_seen.append((str(path), flags))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(sources.os, "open", spy)
    image(MEDIA / "fd35-2hd-good.drive.toml", profiles["fd35-2hd"], "FD-1", settings,
          out_dir=tmp_path / "fd")
    source_opens = [f for p, f in flags_seen if str(MEDIA) in p]
    assert source_opens
    for flags in source_opens:
        assert flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC) == 0


def test_optical_run_out_beyond_the_volume_is_not_bad(make_drive, profiles, settings,
                                                     tmp_path):
    """Two unreadable sectors past the last volume are a recorder's run-out: recorded
    apart, not bad, and the image is never cut short of what the drive reports."""
    from tests.conftest import MEDIA
    iso = (MEDIA / "cd-sample.iso").read_bytes()
    drive = make_drive(iso + pattern(2 * 2048), Damage(bad=[(len(iso), 2 * 2048)]),
                       sector_size=2048)
    rec = run(drive, profiles["cd"], tmp_path / "cd", settings)
    assert rec.outcome == "success" and rec.iso9660_size == len(iso)
    assert rec.size == rec.device_size == len(iso) + 2 * 2048
    assert rec.runout_ranges == [[len(iso), 2 * 2048]] and rec.bytes_bad == 0
    assert (tmp_path / "cd" / "image.iso").read_bytes()[:len(iso)] == iso


def test_more_unreadable_sectors_past_the_volume_than_a_run_out_are_bad(
        make_drive, profiles, settings, tmp_path):
    """Past the documented run-out (two sectors), unread sectors may hold a later
    session: the carrier is partial, never success."""
    from tests.conftest import MEDIA
    iso = (MEDIA / "cd-sample.iso").read_bytes()
    drive = make_drive(iso + pattern(6 * 2048), Damage(bad=[(len(iso), 6 * 2048)]),
                       sector_size=2048)
    rec = run(drive, profiles["cd"], tmp_path / "cd", settings, retries=0)
    assert rec.outcome == "partial" and rec.bad_sector_count == 6


def test_map_comments_are_plain_ascii_whatever_the_arguments(make_drive, profiles, settings,
                                                             tmp_path):
    """A Japanese or multi-line --batch/--operator must not corrupt image.map."""
    from dataclasses import replace
    command = "workbench migrate --batch '第1回\nsecond line' --operator 佐藤\r\n--item X\u2028"
    out = tmp_path / "job"
    rec = run(make_drive(pattern(FD)), profiles["fd35-2hd"], out,
              replace(settings, operator="佐藤"), command=command)
    assert rec.outcome == "success" and rec.command == command  # job.json keeps it as given
    raw = (out / "image.map").read_bytes()
    assert raw.isascii() and all(32 <= b < 127 or b == 10 for b in raw)
    lines = raw.decode().splitlines()
    assert all(line.startswith(("#", "0x")) for line in lines)
    assert "\\u7b2c1\\u56de second line" in lines[1] and "\\u4f50\\u85e4 --item X" in lines[1]
    assert RescueMap.load(out / "image.map").total("+") == FD
    tool = shutil.which("ddrescuelog")
    if tool:  # GNU ddrescuelog reads it: -t shows the totals, -D says it is complete
        shown = subprocess.run([tool, "-t", str(out / "image.map")], capture_output=True,
                               text=True)
        assert shown.returncode == 0, shown.stderr
        assert "100" in shown.stdout and "rescued" in shown.stdout
        assert subprocess.run([tool, "-D", str(out / "image.map")]).returncode == 0


def test_maps_with_any_bytes_in_comments_load_but_data_lines_must_be_ascii(tmp_path):
    path = tmp_path / "image.map"
    text = RescueMap(size=4096).render().replace("# Command line: ",
                                                 "# Command line: ddrescue 第1回.img ")
    path.write_bytes(text.encode("utf-8"))  # as GNU ddrescue copies a UTF-8 argv
    assert RescueMap.load(path).size == 4096
    path.write_bytes(text.replace("0x00001000", "0x0000１000").encode("utf-8"))
    with pytest.raises(BadInput):
        RescueMap.load(path)
