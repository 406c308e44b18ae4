"""Seams a torture test found in the station layer: another station's rows, a foreign copy
on a tape, a crash between a bag's rename and its hand-over, carriers that got stuck,
a bag that fails on every tape, read-only tapes, duplicate barcodes, and friends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, MEDIA, workbench_run
from tests.test_station import DAMAGED, GOOD, TRUNCATING, mount_tapes, settings_in
from workbench.errors import ExitCode
from workbench.ledger.db import connect
from workbench.package.bags import check_bag, read_manifest
from workbench.station import State, Station


def migrate(cwd: Path, drive: Path, item: str, *extra: str) -> subprocess.CompletedProcess:
    return workbench_run("migrate", str(drive), "--profile", "fd35-2hd", "--item", item, *extra,
               cwd=cwd)


def station_folder(root: Path, station: str) -> Path:
    root.mkdir(parents=True)
    (root / "workbench.toml").write_text(f'[station]\nid = "{station}"\n')
    return root


def test_another_stations_copies_never_count_for_this_stations_bag(tmp_path):
    """Merged rows of station-2's FD-1 (on its tapes) neither make station-1's FD-1
    'on tape' nor let `tape release` delete anything."""
    # in this process, so its steps fall within one second (they once picked the wrong
    # latest row then: tests/test_same_second.py)
    s2 = station_folder(tmp_path / "s2", "station-2")
    mount_tapes(s2)
    assert migrate(s2, GOOD, "FD-1").returncode == 0
    assert workbench_run("ledger", "export", str(tmp_path / "s2.sqlite"), cwd=s2
                         ).returncode == 0
    s1 = station_folder(tmp_path / "s1", "station-1")
    assert migrate(s1, DAMAGED, "FD-1").returncode == ExitCode.PARTIAL  # no tapes: bagged
    # one item ID, two discs (a good and a damaged floppy): merged, and said (exit 7)
    assert workbench_run("ledger", "merge", str(tmp_path / "s2.sqlite"), cwd=s1
                         ).returncode == ExitCode.CONFLICTS
    shown = workbench_run("show", "FD-1", cwd=s1).stdout
    assert "bagged, not yet on tape" in shown, shown
    release = workbench_run("tape", "release", "FD-1", cwd=s1)
    assert release.returncode == ExitCode.REFUSED
    assert (s2 / "bags" / "FD-1").is_dir() and (s1 / "staging" / "FD-1").is_dir()
    mount_tapes(s1)
    assert workbench_run("tape", "write", cwd=s1).returncode == 0  # its own bag goes on
    with Station(settings_in(s1)) as st:
        assert st.state("FD-1").state is State.ON_TAPE
    assert [p["item"] for p in json.loads(workbench_run("pending", "--json", cwd=s1).stdout)
            ] == ["FD-1"]  # only its own work: release; station-2's FD-1 is not listed


def test_a_copy_this_station_did_not_write_is_never_destroyed(tmp_path):
    """A tape holding another station's FD-1 (verified, its staging released) meets this
    station's different FD-1: the foreign copy is left untouched."""
    s2 = station_folder(tmp_path / "s2", "station-2")
    mount_tapes(s2)
    assert migrate(s2, GOOD, "FD-1").returncode == 0
    theirs = s2 / "tape" / "P00001L8" / "FD-1" / "data" / "image.img"
    before = theirs.read_bytes()
    s1 = station_folder(tmp_path / "s1", "station-1")
    assert migrate(s1, DAMAGED, "FD-1").returncode == ExitCode.PARTIAL
    (s1 / "tape").mkdir()
    os.rename(s2 / "tape" / "P00001L8", s1 / "tape" / "P00001L8")  # the tape moves over
    out = workbench_run("tape", "write", cwd=s1)
    assert out.returncode == ExitCode.FAILED and "left untouched" in out.stdout, out.stdout
    assert (s1 / "tape" / "P00001L8" / "FD-1" / "data" / "image.img").read_bytes() == before


def test_a_retry_after_a_crash_between_rename_and_hand_over_never_touches_the_bag(tmp_path):
    assert migrate(tmp_path, DAMAGED, "FD-1", "--review-partial").returncode == \
        ExitCode.PARTIAL
    settings = settings_in(tmp_path)
    from workbench.package.carrier import bag_job
    real = bag_job.__globals__["hand_over"]
    bag_job.__globals__["hand_over"] = lambda *a: False  # the crash: no hand-over
    try:
        bag = bag_job(tmp_path / "staging" / "FD-1", settings).path
    finally:
        bag_job.__globals__["hand_over"] = real
    staged = tmp_path / "staging" / "FD-1" / "image.img"
    assert os.stat(staged).st_ino == os.stat(bag / "data" / "image.img").st_ino
    manifest = read_manifest(bag / "manifest-sha256.txt")
    out = workbench_run("retry", "FD-1", "--drive", str(MEDIA / "fd35-2hd-damaged.img"),
                        cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert read_manifest(bag.parent / next(
        p.name for p in bag.parent.iterdir() if p.name.startswith(".stale-FD-1"))
        / "manifest-sha256.txt") == manifest  # the old bag: set aside, unchanged
    new = tmp_path / "bags" / "FD-1"
    assert check_bag(new) == [] and read_manifest(new / "manifest-sha256.txt") != manifest
    with Station(settings) as st:
        state = st.state("FD-1")
        assert state.state is State.BAGGED and state.bag is not None
        assert state.bag.sha256 == read_manifest(new / "manifest-sha256.txt")[
            "data/image.img"]


def test_no_carrier_gets_stuck(tmp_path):
    # in this process, so its steps fall within one second (they once picked the wrong
    # latest row then: tests/test_same_second.py)
    mount_tapes(tmp_path)
    # released, then withdrawn: a fresh job from the named drive
    assert migrate(tmp_path, GOOD, "REL-1").returncode == 0
    assert workbench_run("tape", "release", "REL-1", cwd=tmp_path).returncode == 0
    assert workbench_run("withdraw", "REL-1", "--reason", "x", cwd=tmp_path).returncode == 0
    out = workbench_run("retry", "REL-1", cwd=tmp_path)
    assert out.returncode == ExitCode.BAD_INPUT and "--drive" in out.stderr
    assert workbench_run("retry", "REL-1", "--drive", str(GOOD), cwd=tmp_path).returncode == 0
    # withdrawn, then routed, then imaged again: the image comes back from the bag
    assert migrate(tmp_path, DAMAGED, "WR-1").returncode == ExitCode.PARTIAL
    assert workbench_run("withdraw", "WR-1", "--reason", "x", cwd=tmp_path).returncode == 0
    assert workbench_run("mark", "WR-1", "needs-flux", cwd=tmp_path).returncode == 0
    clean = tmp_path / "clean.drive.toml"
    clean.write_text(f'image = "{MEDIA / "fd35-2hd-damaged.img"}"\n')
    assert workbench_run("retry", "WR-1", "--drive", str(clean), cwd=tmp_path
                         ).returncode == 0
    # a bag deleted by hand, then withdrawn: the job folder is set aside, a fresh job made
    assert migrate(tmp_path, GOOD, "DEL-1").returncode == 0
    import shutil
    shutil.rmtree(tmp_path / "bags" / "DEL-1")
    assert workbench_run("withdraw", "DEL-1", "--reason", "bag lost", cwd=tmp_path
                         ).returncode == 0
    assert workbench_run("retry", "DEL-1", cwd=tmp_path).returncode == 0
    assert any(p.name.startswith(".set-aside-DEL-1") for p in (tmp_path / "staging").iterdir())
    # truncated by a write blocker, then a good drive: the map is extended
    assert migrate(tmp_path, TRUNCATING, "TR-1").returncode == ExitCode.FAILED
    good_same_disk = tmp_path / "good.drive.toml"
    good_same_disk.write_text(f'image = "{MEDIA / "fd35-2hd-good.img"}"\n')
    assert workbench_run("retry", "TR-1", "--drive", str(good_same_disk), cwd=tmp_path
                         ).returncode == 0
    with Station(settings_in(tmp_path)) as st:
        for item in ("REL-1", "WR-1", "DEL-1", "TR-1"):
            assert st.state(item).state is State.ON_TAPE, item


def test_a_bag_damaged_in_staging_is_written_to_no_tape(tmp_path):
    assert migrate(tmp_path, GOOD, "FD-1").returncode == 0
    image = tmp_path / "bags" / "FD-1" / "data" / "image.img"
    data = bytearray(image.read_bytes())
    data[5000] ^= 1
    image.write_bytes(bytes(data))
    mount_tapes(tmp_path)
    out = workbench_run("tape", "write", cwd=tmp_path)
    assert out.returncode == ExitCode.FAILED and "no longer matches" in out.stderr, out.stderr
    assert not (tmp_path / "tape" / "P00001L8" / "FD-1").exists()
    con = connect(tmp_path / "logs" / "ledger.sqlite")
    assert con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0] == 0
    con.close()


def test_a_copy_failing_its_read_back_is_tried_once_per_tape(tmp_path, monkeypatch):
    """A tape that corrupts what it is given: one failed copy on it, then the other pool
    is still written; no loop of rewrites."""
    settings = settings_in(tmp_path)
    assert workbench_run("image", str(GOOD), "--profile", "fd35-2hd", "--item", "FD-1",
                         cwd=tmp_path).returncode == 0
    from workbench.tape import readback
    real = readback.check_copy

    def bad_primary(copy, *args):
        return ["primary tape corrupts data"] if "P00001L8" in str(copy) else real(copy, *args)
    monkeypatch.setattr(readback, "check_copy", bad_primary)
    mount_tapes(tmp_path)
    with Station(settings) as st:
        st.accept("FD-1")
        con = st.con
        rows = con.execute("SELECT pool, result FROM tape_copies ORDER BY rowid").fetchall()
        assert [tuple(r) for r in rows] == [("primary", "written"), ("primary", "failed"),
                                            ("secondary", "written"), ("secondary", "verified")]
        copies, unplaced = st.tapes.write()  # a new run tries the primary tape once more
        assert [(c.pool, c.result) for c in copies] == [("primary", "failed")]
        assert [(u.pool, u.reason) for u in unplaced] == [("primary", "failed")]
        assert con.execute("SELECT COUNT(*) FROM tape_copies").fetchone()[0] == 6


@pytest.mark.skipif(not IS_ROOT, reason="mounting a read-only tmpfs needs root")
def test_a_read_only_tape_is_said_and_the_other_pool_goes_on(tmp_path):
    mount_tapes(tmp_path)
    primary = tmp_path / "tape" / "P00001L8"
    label = (primary / ".workbench-tape.toml").read_bytes()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(primary)]
                      ).returncode != 0:
        pytest.skip("this machine cannot mount tmpfs")
    try:
        (primary / ".workbench-tape.toml").write_bytes(label)
        subprocess.run(["mount", "-o", "remount,ro", str(primary)], check=True)
        out = migrate(tmp_path, GOOD, "FD-1")
        assert out.returncode == 0, out.stderr  # imaging succeeded; the copy failed
        assert "its tape with room is mounted read-only" in out.stdout, out.stdout
        assert "has no room" not in out.stdout  # not full: read-only, and said so
        with Station(settings_in(tmp_path)) as st:
            state = st.state("FD-1")
            assert state.state is State.BAGGED and state.missing_pools == ("primary",)
    finally:
        subprocess.run(["umount", str(primary)])


def test_a_barcode_names_one_tape(tmp_path):
    assert workbench_run("tape", "label", "tape/A", "--barcode", "X00001L8", "--pool",
                         "primary", cwd=tmp_path).returncode == 0
    out = workbench_run("tape", "label", "tape/B", "--barcode", "X00001L8", "--pool",
                        "secondary", cwd=tmp_path)
    assert out.returncode == ExitCode.BAD_INPUT and "X00001L8" in out.stderr


def test_the_tape_lock_is_no_items_lock(tmp_path):
    """An item may be called tape-writer: its lock is not the tape writer's."""
    mount_tapes(tmp_path)
    out = migrate(tmp_path, GOOD, "tape-writer")
    assert out.returncode == 0 and "waiting" not in out.stdout, out.stdout


def test_a_crash_in_a_first_imaging_shows_on_the_work_list(tmp_path):
    script = ("import os, signal, sys\n"
              "import workbench.station.core as core\n"
              "real = core.image\n"
              "def image(*a, **k):\n"
              "    k['progress'] = lambda p: os.kill(os.getpid(), signal.SIGKILL) "
              "if p.rescued > 300_000 else None\n"
              "    return real(*a, **k)\n"
              "core.image = image\n"
              "from workbench.cli import main\n"
              f"main(['migrate', {str(GOOD)!r}, '--profile', 'fd35-2hd', '--item', 'K-1'])\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, timeout=120)
    assert done.returncode == -9
    listed = json.loads(workbench_run("pending", "--json", cwd=tmp_path).stdout)
    assert [(p["item"], p["state"]) for p in listed] == [("K-1", "interrupted")]
    assert "interrupted" in workbench_run("show", "K-1", cwd=tmp_path).stdout


def test_migrate_with_another_profile_on_a_known_carrier_is_refused(tmp_path):
    assert migrate(tmp_path, GOOD, "FD-1").returncode == 0
    out = workbench_run("migrate", str(MEDIA / "usb-sample.drive.toml"), "--profile", "usb",
                        "--item", "FD-1", cwd=tmp_path)
    assert out.returncode == ExitCode.BAD_INPUT and "fd35-2hd" in out.stderr


def test_a_missing_bag_is_said_not_skipped(tmp_path):
    assert migrate(tmp_path, GOOD, "FD-1").returncode == 0
    import shutil
    shutil.rmtree(tmp_path / "bags" / "FD-1")
    mount_tapes(tmp_path)
    out = workbench_run("tape", "write", cwd=tmp_path)
    assert out.returncode == ExitCode.FAILED and "gone from disk" in out.stdout
    assert not (tmp_path / "tape" / "P00001L8" / "FD-1").exists()
    again = migrate(tmp_path, GOOD, "FD-1")
    assert again.returncode == ExitCode.FAILED and "gone from disk" in again.stderr


def test_release_goes_on_past_a_refused_item(tmp_path):
    mount_tapes(tmp_path)
    for item in ("A-1", "B-1"):
        assert migrate(tmp_path, GOOD, item).returncode == 0
    out = workbench_run("tape", "release", "NOPE-1", "A-1", "B-1", cwd=tmp_path)
    assert out.returncode == ExitCode.REFUSED
    assert not (tmp_path / "bags" / "A-1").exists() and not (tmp_path / "bags" / "B-1").exists()


def test_a_dead_floppy_stops_early_and_the_technician_may_keep_going(tmp_path):
    dead = tmp_path / "dead.drive.toml"
    dead.write_text(f'image = "{MEDIA / "fd35-2hd-good.img"}"\n'
                    '[[bad]]\nstart = 0\nsize = 1474560\n')
    out = migrate(tmp_path, dead, "DEAD-1")
    assert out.returncode == ExitCode.FAILED and "flux" in out.stdout, out.stdout
    first = json.loads((tmp_path / "staging" / "DEAD-1" / "job.json").read_text())
    assert first["reason"]["code"] == "dead_floppy" and first["read_errors"] <= 300
    out = workbench_run("retry", "DEAD-1", "--keep-going", "--retries", "0", cwd=tmp_path)
    assert out.returncode == ExitCode.FAILED
    again = json.loads((tmp_path / "staging" / "DEAD-1" / "job.json").read_text())
    assert again["reason"]["code"] == "unreadable"  # every pass ran: nothing readable
    assert again["runs"][-1]["read_errors"] > first["read_errors"]


def test_a_pool_without_a_tape_is_said_when_accepting(tmp_path):
    from workbench import PROJECT_ROOT
    from workbench.tape.tapes import label_tape, load_generations
    label_tape(tmp_path / "tape" / "P1", "P1", "primary", "LTO-8", 50_000_000,
               load_generations(PROJECT_ROOT / "profiles"))
    out = migrate(tmp_path, GOOD, "FD-1")
    assert out.returncode == 0, out.stderr
    assert "waits for pool secondary: no tape of that pool is mounted" in out.stdout, out.stdout
    con = connect(tmp_path / "logs" / "ledger.sqlite")
    assert con.execute("SELECT COUNT(*) FROM events WHERE step = 'tape' AND "
                       "outcome = 'waiting'").fetchone()[0] == 1
    con.close()
