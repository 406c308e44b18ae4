"""Several drives at once (workbench.station.runner): workers per drive, a per-drive
cancel, and the background accept queue that never holds a drive."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import MEDIA
from workbench.config import Settings
from workbench.errors import Refused
from workbench.station import State, Station
from workbench.station.runner import (
    DONE,
    FAILED,
    IMAGING,
    REVIEW,
    Job,
    StationRunner,
)

FLOPPY = 1474560


def slow_floppy(folder: Path, name: str, seconds: float = 0.01,
                image: str = "fd35-2hd-good.img") -> str:
    """A training floppy drive that takes about 160 x seconds to read (one read per
    9 KiB cluster), so several can be seen imaging at once."""
    drive = folder / f"{name}.drive.toml"
    drive.write_text(f'image = "{MEDIA / image}"\nmodel = "Slow drive {name}"\n'
                     f'serial = "{name}"\n[[slow]]\nstart = 0\nsize = {FLOPPY}\n'
                     f"seconds = {seconds}\n")
    return str(drive)


def until(predicate, timeout: float = 60.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


@pytest.fixture
def runner(settings):
    made: list[StationRunner] = []

    def make(**kwargs) -> StationRunner:
        made.append(StationRunner(settings, **kwargs))
        return made[-1]
    yield make
    for r in made:
        assert r.shutdown(deadline=30)


def test_three_drives_at_once_and_a_cancel_leaves_the_others_going(tmp_path, settings,
                                                                    runner):
    r = runner()
    drives = [slow_floppy(tmp_path, f"d{n}", 0.02) for n in range(3)]
    for n, drive in enumerate(drives):
        r.start(Job(f"MULTI-{n}", drive, "fd35-2hd"))
    # all three read at the same time, each with its own live numbers and map
    until(lambda: all(v.phase == IMAGING and v.progress is not None and
                      v.progress.rescued > 0 for v in r.drives()), what="three imaging")
    assert len({v.item_id for v in r.drives()}) == 3
    assert all(v.progress is not None and v.progress.blocks for v in r.drives())
    with pytest.raises(Refused):  # one carrier per drive
        r.start(Job("OTHER", drives[0], "fd35-2hd"))
    r.cancel(drives[1])
    assert r.wait_idle(120)
    views = {v.drive: v for v in r.drives()}
    assert [views[d].outcome for d in drives] == ["success", "aborted", "success"]
    carriers = {c.item_id: c for c in r.carriers()}
    assert carriers["MULTI-0"].status == DONE and carriers["MULTI-0"].state == "bagged"
    assert carriers["MULTI-2"].status == DONE and carriers["MULTI-2"].state == "bagged"
    assert carriers["MULTI-1"].status == REVIEW  # interrupted: the technician resumes it
    with Station(settings) as station:
        assert station.state("MULTI-1").state is State.INTERRUPTED
        assert station.state("MULTI-0").state is State.BAGGED
    from workbench.imaging.record import JobRecord
    record = JobRecord.load(settings.paths.staging / "MULTI-1")  # resumable from its map
    assert [run.outcome for run in record.runs] == ["aborted"]
    assert 0 < record.runs[0].bytes_read_from_medium < FLOPPY


def test_the_drive_images_the_next_while_the_last_is_bagged_and_put_on_tape(
        tmp_path, settings, runner):
    with Station(settings) as station:  # two stand-in tapes: the accept stages to both
        for barcode, pool in (("P00001L8", "primary"), ("S00001L8", "secondary")):
            station.tapes.label(settings.paths.tape / barcode, barcode, pool, "LTO-8",
                                50_000_000)
    r = runner()
    fast = slow_floppy(tmp_path, "fast", 0.0)
    r.start(Job("NEXT-1", fast, "fd35-2hd"))
    until(lambda: r.drive(fast).phase not in ("waiting", "imaging"), what="first imaged")
    # the drive is free at once: the next carrier images while NEXT-1 is accepted
    r.start(Job("NEXT-2", slow_floppy(tmp_path, "fast", 0.05), "fd35-2hd"))
    until(lambda: (c := r.carrier("NEXT-1")) is not None and c.status in (DONE, FAILED),
          what="NEXT-1 accepted")
    assert r.drive(fast).busy and r.drive(fast).item_id == "NEXT-2"
    done = r.carrier("NEXT-1")
    assert done.status == DONE and done.state == "on_tape", done
    assert [s[0] for s in done.steps][:4] == ["verification", "identification",
                                              "packaging", "tape copy 1"]
    r.cancel(fast)
    assert r.wait_idle(60)


def test_a_partial_carrier_waits_for_the_technician_then_is_accepted(tmp_path, settings,
                                                                      runner):
    r = runner()
    r.start(Job("PART-1", str(MEDIA / "fd35-2hd-damaged.drive.toml"), "fd35-2hd"))
    assert r.wait_idle(120)
    waiting = r.carrier("PART-1")
    # identified in the background, so the result screen shows the damaged file
    assert waiting.status == REVIEW and waiting.outcome == "partial"
    assert waiting.state == "imaged" and waiting.result is not None
    assert waiting.result.report is not None
    assert "identification" in [s[0] for s in waiting.steps]
    r.accept("PART-1")
    assert r.wait_idle(120)
    assert r.carrier("PART-1").status == DONE and r.carrier("PART-1").state == "bagged"


def test_a_batch_that_accepts_partial_and_a_failed_accept_is_shown_not_lost(
        tmp_path, settings, runner):
    r = runner(accept_partial=True, auto_accept=False)
    r.start(Job("AP-1", str(MEDIA / "fd35-2hd-damaged.drive.toml"), "fd35-2hd"))
    r.start(Job("AP-2", str(MEDIA / "fd35-2hd-good.drive.toml"), "fd35-2hd"))
    assert r.wait_idle(120)
    assert r.carrier("AP-1").status == DONE, r.carrier("AP-1")  # the batch said accept
    assert r.carrier("AP-2").status == REVIEW  # success, but no auto-accept
    image = settings.paths.staging / "AP-2" / "image.img"
    data = bytearray(image.read_bytes())
    data[0] ^= 0xFF  # the image changed on disk after it was read
    image.write_bytes(bytes(data))
    r.accept("AP-2")
    assert r.wait_idle(120)
    failed = r.carrier("AP-2")
    assert failed.status == FAILED and "digest" in failed.error
    assert failed.state == "imaged"  # never shown as done; accept again after a retry
    with Station(settings) as station:
        assert station.state("AP-2").state is State.IMAGED


def test_a_bad_job_is_reported_and_the_drive_is_free(tmp_path, settings, runner):
    r = runner()
    r.start(Job("BAD-1", str(tmp_path / "no-such.drive.toml"), "fd35-2hd"))
    r.start(Job("bad id!", str(MEDIA / "fd35-2hd-good.drive.toml"), "fd35-2hd"))
    assert r.wait_idle(60)
    for item in ("BAD-1", "bad id!"):
        assert r.carrier(item).status == FAILED and r.carrier(item).error
    assert not any(v.busy for v in r.drives())


def test_shutdown_cancels_every_drive_within_its_deadline(tmp_path, settings):
    r = StationRunner(settings)
    drives = [slow_floppy(tmp_path, f"s{n}", 0.05) for n in range(2)]
    for n, drive in enumerate(drives):
        r.start(Job(f"STOP-{n}", drive, "fd35-2hd"))
    until(lambda: all(v.phase == IMAGING for v in r.drives()), what="imaging")
    assert r.shutdown(deadline=30)
    assert [v.outcome for v in r.drives()] == ["aborted", "aborted"]
    with pytest.raises(Refused):
        r.start(Job("STOP-9", drives[0], "fd35-2hd"))


def test_queue_over_three_drives_with_a_bad_row(tmp_path):
    from tests.conftest import workbench_cmd
    drives = [slow_floppy(tmp_path, f"q{n}", 0.005) for n in range(3)]
    rows = [f"Q-{n},fd35-2hd,," for n in range(3)]
    rows.insert(1, "Q-BAD,no-such-profile,,")  # one bad row: said, and the batch goes on
    rows.insert(3, f"Q-PIN,fd35-2hd,,{tmp_path / 'elsewhere.drive.toml'}")
    (tmp_path / "batch.csv").write_text("item,profile,notes,source\n" + "\n".join(rows) + "\n")
    out = workbench_cmd("queue", "batch.csv", "--drives", ",".join(drives), "--yes",
                        "--batch", "QD", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Q-BAD" in out.stderr and "Q-PIN" in out.stderr and "not one of" in out.stderr
    summary = next(line for line in out.stdout.splitlines() if "queue finished" in line)
    assert summary == "queue finished: accepted 3, errors 2"  # each row once
    # every drive took rows, and each carrier was bagged
    for drive in drives:
        line = next(line for line in out.stdout.splitlines() if line.strip().startswith(drive))
        assert "0 carriers" not in line
    with Station(Settings()) as station:
        for n in range(3):
            st = station.state(f"Q-{n}")
            assert st.state is State.BAGGED and st.batch == "QD"


def test_ctrl_c_stops_every_drive_of_a_queue_cleanly(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    drives = [slow_floppy(tmp_path, f"c{n}", 0.05) for n in range(2)]
    (tmp_path / "batch.csv").write_text("item,profile\nC-1,fd35-2hd\nC-2,fd35-2hd\n"
                                        "C-3,fd35-2hd\n")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "queue", "batch.csv",
                             "--drives", ",".join(drives), "--yes"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    seen = []
    end = time.monotonic() + 60
    while len([s for s in seen if "imaging" in s]) < 2 and time.monotonic() < end:
        seen.append(proc.stdout.readline())
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "queue finished" in out, (out, err)
    with Station(Settings()) as station:
        states = [station.state(i).state for i in ("C-1", "C-2", "C-3")]
    assert states == [State.INTERRUPTED, State.INTERRUPTED, State.NEW]  # resumable
