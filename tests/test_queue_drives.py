"""One reader per drive, whichever process asks (station/locks.py drive_lock), and a
queue over several drives that sends each carrier to a drive that can read it, counts
each row once, and goes on with what a stopped batch left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MEDIA, workbench_cmd, workbench_run
from tests.test_runner import runner, slow_floppy, until  # noqa: F401 (a fixture)
from workbench.config import Settings
from workbench.errors import ExitCode, Refused
from workbench.imaging.record import JobRecord
from workbench.station import State, Station
from workbench.station.batch_order import RowOrder, Waiting
from workbench.station.locks import drive_holder, drive_lock, item_lock, machine_locks
from workbench.station.runner import Job

GOOD_FD = str(MEDIA / "fd35-2hd-good.drive.toml")
CD = str(MEDIA / "cd-sample.drive.toml")


def _locks() -> Path:
    return Settings().paths.logs / "locks"


def _spawn(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "workbench", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=60)


def _csv(folder: Path, *rows: str, name: str = "batch.csv") -> str:
    (folder / name).write_text("item,profile,notes\n" + "\n".join(rows) + "\n")
    return name


# -- 1. one reader per drive ----------------------------------------------------------


def test_a_second_migrate_on_a_drive_another_process_images_on_is_refused(tmp_path):
    slow = slow_floppy(tmp_path, "busy", 0.05)  # ~8 s: stopped as soon as it is seen
    first = _spawn("migrate", slow, "--item", "MM-1", "--profile", "fd35-2hd",
                   cwd=tmp_path)
    try:
        until(lambda: drive_holder(_locks(), slow) is not None, 60, "MM-1 imaging")
        holder = drive_holder(_locks(), slow)
        assert holder is not None and holder.item == "MM-1" and holder.pid == first.pid
        # the same drive by another name (relative path): the same lock
        second = workbench_run("migrate", os.path.relpath(slow, tmp_path), "--item", "MM-2",
                               "--profile", "fd35-2hd", cwd=tmp_path)
        assert second.returncode == ExitCode.REFUSED, second.stderr
        assert "MM-1" in second.stderr and str(first.pid) in second.stderr
        elsewhere = workbench_run("image", slow, "--item", "MM-3", "--profile", "fd35-2hd",
                                  "--out", str(tmp_path / "out"), cwd=tmp_path)
        assert elsewhere.returncode == ExitCode.REFUSED, elsewhere.stderr
        assert "MM-1" in elsewhere.stderr
    finally:
        _stop(first)
    with Station(Settings()) as station:  # nothing of MM-2 was read or recorded
        assert station.state("MM-2").state is State.NEW
    assert not (Settings().paths.staging / "MM-2").exists()
    assert not (tmp_path / "out").exists()


def test_the_runner_refuses_and_waits_past_a_drive_held_elsewhere(tmp_path, settings,
                                                                   runner):  # noqa: F811
    busy, free = slow_floppy(tmp_path, "held", 0.0), slow_floppy(tmp_path, "free", 0.0)
    # flock is per open file: a lock taken here excludes the runner as another
    # process's would
    other = drive_lock(settings.paths.logs / "locks", busy, "station-9", "ELSE-1").acquire()
    try:
        told: list[tuple[str, object]] = []
        r = runner(listener=lambda kind, view: told.append((kind, view)))
        with pytest.raises(Refused) as refused:
            r.start(Job("RUN-1", busy, "fd35-2hd"))
        assert "ELSE-1" in refused.value.message() and "station-9" in refused.value.message()
        assert r.wait_for_free([busy, free], 0.1) == free
        assert r.wait_for_free([busy], 0.2) is None
        said = [view for kind, view in told if kind == "elsewhere"]
        assert len(said) == 1 and said[0][0] == busy and said[0][1].item == "ELSE-1"
        with Station(settings) as station, pytest.raises(Refused):
            station.migrate(busy, station.profiles["fd35-2hd"], "RUN-2")
    finally:
        other.release()
    assert r.wait_for_free([busy], 2.0) == busy  # freed: taken again
    r.start(Job("RUN-1", busy, "fd35-2hd"))
    assert r.wait_idle(120)
    with Station(settings) as station:
        assert station.state("RUN-1").state is State.BAGGED
        assert station.state("RUN-2").state is State.NEW


# -- 2. a carrier goes to a drive that can read it ------------------------------------------


def test_queue_sends_each_row_to_a_drive_of_its_kind(tmp_path):
    name = _csv(tmp_path, "G-1,fd35-2hd,a", "G-2,cd,b", "G-3,fd35-2hd,c", "G-4,cd,d")
    out = workbench_run("queue", name, "--drives", f"{GOOD_FD},{CD}", "--yes",
                        cwd=tmp_path)
    assert out.returncode == ExitCode.SUCCESS, (out.stdout, out.stderr)
    assert "accepted 4" in out.stdout and "G-2: load it into " + CD in out.stdout
    with Station(Settings()) as station:
        for item, drive in (("G-1", GOOD_FD), ("G-2", CD), ("G-3", GOOD_FD), ("G-4", CD)):
            assert station.state(item).state is State.BAGGED, item
            record = JobRecord.load(Settings().paths.staging / item)
            assert record is not None and record.source == drive, item


def test_a_row_waiting_for_a_busy_drive_does_not_hold_up_a_row_a_free_drive_can_read(
        tmp_path):
    """Two floppy rows then a CD row on a slow floppy drive and a CD drive: the CD row
    starts while the first floppy images, not after the second floppy's turn."""
    floppy = slow_floppy(tmp_path, "slowfd", 0.02)  # ~3 s a carrier
    name = _csv(tmp_path, "O-1,fd35-2hd,a", "O-2,fd35-2hd,b", "O-3,cd,c")
    out = workbench_run("queue", name, "--drives", f"{floppy},{CD}", "--yes", cwd=tmp_path)
    assert out.returncode == ExitCode.SUCCESS, (out.stdout, out.stderr)
    starts = [line for line in out.stdout.splitlines() if ": load it into " in line]
    assert [line.split("] ")[1].split(":")[0] for line in starts] == ["O-1", "O-3", "O-2"]
    assert "[3/3] O-3: load it into " + CD in starts[1] and "accepted 3" in out.stdout


def test_rows_keep_their_order_among_rows_for_the_same_drives():
    order: RowOrder[str] = RowOrder()
    order.add(1, "cd-a", ["cd1", "cd2"])
    order.add(2, "fd-a", ["fd"])
    order.add(3, "cd-b", ["cd1", "cd2"])
    assert order.next_ready({"fd"}.__contains__) == (Waiting(2, "fd-a", ["fd"]), "fd")
    assert order.next_ready(set().__contains__) is None
    assert order.drives() == ["cd1", "cd2"] and len(order) == 2
    ready = order.next_ready({"cd2"}.__contains__)
    assert ready is not None and ready[0].row == "cd-a" and ready[1] == "cd2"
    ready = order.next_ready({"cd1", "cd2"}.__contains__)
    assert ready is not None and ready[0].row == "cd-b" and ready[1] == "cd1"
    assert not order and order.next_ready({"cd1"}.__contains__) is None


def test_a_row_no_drive_can_read_is_skipped_unrecorded_and_a_missing_drive_is_said(
        tmp_path):
    name = _csv(tmp_path, "U-1,cd,a", "U-2,fd35-2hd,b")
    missing = str(tmp_path / "nowhere.drive.toml")
    out = workbench_run("queue", name, "--drives", f"{missing},{GOOD_FD},{GOOD_FD}", "--yes",
                        cwd=tmp_path)
    assert out.returncode == ExitCode.BAD_INPUT, (out.stdout, out.stderr)
    assert "Left out" in out.stderr and "nowhere.drive.toml" in out.stderr
    assert "named twice" in out.stderr
    assert "U-1: no drive in --drives reads a cd carrier" in out.stderr
    assert "next: U-1" not in out.stdout  # nor described, nor its reminders
    summary = next(line for line in out.stdout.splitlines() if "queue finished" in line)
    assert "no drive for it 1" in summary and "accepted 1" in summary and "errors" not in summary
    with Station(Settings()) as station:
        assert station.state("U-1").state is State.NEW  # no failed attempt
        assert station.state("U-2").state is State.BAGGED
    for given in (missing, ",,"):
        none = workbench_run("queue", name, "--drives", given, "--yes", cwd=tmp_path)
        assert none.returncode == ExitCode.BAD_INPUT and "None of the drives" in none.stderr


# -- 3. Ctrl-C: each row counted once, exit 5 --------------------------------------------


def test_ctrl_c_counts_interrupted_and_not_started_and_exits_aborted(tmp_path):
    drives = [slow_floppy(tmp_path, f"c{n}", 0.05) for n in range(2)]
    name = _csv(tmp_path, *(f"S-{n},fd35-2hd,x" for n in range(1, 5)))
    proc = _spawn("queue", name, "--drives", ",".join(drives), "--yes", cwd=tmp_path)
    assert proc.stdout is not None
    seen: list[str] = []
    end = time.monotonic() + 60
    while len([s for s in seen if ": imaging" in s]) < 2 and time.monotonic() < end:
        seen.append(proc.stdout.readline())
    out, err = _stop(proc)
    assert proc.returncode == ExitCode.ABORTED, (out, err)
    summary = next(line for line in out.splitlines() if "queue finished" in line)
    assert summary == "queue finished: interrupted 2, not started 2", summary
    assert "Stopped by Ctrl-C" in out


# -- 4. what a stopped batch left goes on ---------------------------------------------------


def test_a_rerun_accepts_a_carrier_left_imaged_and_resumes_an_interrupted_one(
        tmp_path, settings, runner):  # noqa: F811
    with Station(settings) as station:  # a batch killed after imaging, before accepting
        station.image(GOOD_FD, station.profiles["fd35-2hd"], "K9-1")
        assert station.state("K9-1").state is State.IMAGED
    slow = slow_floppy(tmp_path, "cut", 0.02)
    r = runner()
    r.start(Job("K9-2", slow, "fd35-2hd"))
    until(lambda: (p := r.drive(slow).progress) is not None and p.rescued > 0, 60,
          "K9-2 imaging")
    r.cancel(slow)
    assert r.wait_idle(60)
    with Station(settings) as station:
        assert station.state("K9-2").state is State.INTERRUPTED
    name = _csv(tmp_path, "K9-1,fd35-2hd,a", "K9-2,fd35-2hd,b")
    out = workbench_run("queue", name, "--drives", slow, "--yes", cwd=tmp_path)
    assert out.returncode == ExitCode.SUCCESS, (out.stdout, out.stderr)
    assert "K9-1: imaged before, not yet accepted" in out.stdout
    assert "queue finished: accepted 2" in out.stdout
    with Station(settings) as station:
        assert station.state("K9-1").state is State.BAGGED
        assert station.state("K9-2").state is State.BAGGED
    record = JobRecord.load(settings.paths.staging / "K9-2")
    assert [run.outcome for run in record.runs] == ["aborted", "success"]  # resumed


# -- 5. smaller ---------------------------------------------------------------------------


def test_hostile_ids_are_escaped_an_empty_profile_is_named_and_an_error_said_once(tmp_path):
    name = _csv(tmp_path, "ctl\x01\x1b[31mred,fd35-2hd,a", "NP-1,,b", "LK-1,fd35-2hd,c")
    lock = item_lock(_locks(), "LK-1", "station-9", "image").acquire()
    try:  # LK-1 is worked on by another process: refused at imaging
        out = workbench_cmd("queue", name, "--drives", GOOD_FD, "--yes", cwd=tmp_path)
    finally:
        lock.release()
    both = out.stdout + out.stderr
    assert "\x1b" not in both and "\x01" not in both
    assert "NP-1: not done: the row has no profile" in out.stderr and "''" not in out.stderr
    lk = [line for line in both.splitlines() if "LK-1" in line and "station-9" in line]
    assert len(lk) == 1 and "not accepted" not in lk[0], lk
    assert out.returncode == ExitCode.BAD_INPUT


def test_the_one_drive_queue_also_goes_on_with_a_carrier_left_imaged(tmp_path, settings):
    with Station(settings) as station:
        station.image(GOOD_FD, station.profiles["fd35-2hd"], "ONE-1")
    name = _csv(tmp_path, "ONE-1,fd35-2hd,a")
    out = workbench_run("queue", name, "--drive", GOOD_FD, "--yes", cwd=tmp_path)
    assert out.returncode == ExitCode.SUCCESS, (out.stdout, out.stderr)
    assert "ONE-1: imaged before, not yet accepted" in out.stdout
    with Station(settings) as station:
        assert station.state("ONE-1").state is State.BAGGED
    record = JobRecord.load(settings.paths.staging / "ONE-1")
    assert [run.outcome for run in record.runs] == ["success"]  # not read again


def test_a_device_is_one_drive_whichever_station_folder_asks(tmp_path):
    """Two stations set up in different folders on one machine: a real drive (a device
    node) is locked machine-wide and the second is refused naming the first; a training
    drive (a file) is virtual, so each station folder has its own."""
    device = "/dev/null"  # any device node stands for a drive here
    first = drive_lock(tmp_path / "a" / "locks", device, "station-a", "A-1").acquire()
    try:
        with pytest.raises(Refused) as refused:
            drive_lock(tmp_path / "b" / "locks", device, "station-b", "B-1").acquire()
        assert "station-a" in refused.value.message() and "A-1" in refused.value.message()
        assert drive_holder(tmp_path / "b" / "locks", device) is not None
        virtual = drive_lock(tmp_path / "a" / "locks", GOOD_FD, "station-a", "A-2").acquire()
        drive_lock(tmp_path / "b" / "locks", GOOD_FD, "station-b", "B-2").acquire().release()
        virtual.release()
    finally:
        first.release()
    drive_lock(tmp_path / "b" / "locks", device, "station-b", "B-1").acquire().release()
    # the training drive's lock is in the station's folder, the device's in the machine's
    assert len(list((tmp_path / "a" / "locks").glob("drive+*"))) == 1
    assert len(list(machine_locks().glob("drive+*"))) >= 1
