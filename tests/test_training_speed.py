"""Training drives read at a real drive's rate (workbench/imaging/pace.py): the rate is
honoured (measured on an injected clock, not the wall), a cancel ends a throttled read at
once, fast mode does not wait, and a bad rate is named with its file and key."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import MEDIA, pattern
from workbench.errors import BadInput
from workbench.imaging.engine import image, image_source
from workbench.imaging.pace import CD_1X, DVD_1X, SPEED_ENV, Pace, default_rate, parse_rate
from workbench.imaging.record import JobRecord
from workbench.imaging.sources import DRIVE_SUFFIX, DriveIdentity, VirtualDrive

FD = 1_474_560
DEADLINE = 10.0  # seconds: a bound on waits that end in well under one


class FakeTime:
    """A clock that moves only when told: each wait is recorded and moves it on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, cancel: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return cancel.is_set()


def paced(drive: VirtualDrive, rate: float) -> FakeTime:
    fake = FakeTime()
    drive.pace = Pace(rate, clock=fake.clock, wait=fake.wait)
    return fake


def drive_file(tmp_path: Path, extra: str, profile: str = "fd35-2hd",
               image: str = "fd35-2hd-good.img") -> Path:
    shutil.copy(MEDIA / image, tmp_path / image)
    path = tmp_path / f"test{DRIVE_SUFFIX}"
    path.write_text(f'image = "{image}"\nprofile = "{profile}"\n{extra}\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("value,profile,rate", [
    (27000, "fd35-2hd", 27000), (2.5e6, "mo-640", 2.5e6), ("30 KB/s", "fd35-2hd", 30000),
    ("512 KiB/s", "", 524288), ("2.5 MB/s", "mo-640", 2.5e6), ("1x", "cd", 153_600),
    ("24x", "cd", 3_686_400), ("8x", "dvd", 11_080_000), ("0", "usb", 0),
])
def test_rates_are_read_in_bytes_per_second(value, profile, rate):
    assert parse_rate(value, profile, Path("d.drive.toml")) == rate


@pytest.mark.parametrize("value,profile", [
    ("fast", "cd"), ("24x", "fd35-2hd"), ("24x", ""), ("-3 KB/s", "fd35-2hd"),
    ("30 furlongs", "usb"), (True, "usb"), ([30], "usb"), ("", "usb"), (-1, "usb"),
])
def test_a_bad_rate_names_the_file_and_the_key(tmp_path, value, profile):
    path = drive_file(tmp_path, f"rate = {value!r}".replace("'", '"').replace("True", "true"),
                      profile)
    with pytest.raises(BadInput) as err:
        VirtualDrive.from_file(path)
    text = err.value.message()
    assert str(path) in text and "'rate'" in text and "24x" in text


def test_the_usual_rates_per_profile_and_transport():
    assert default_rate("cd", "sr") == 24 * CD_1X == 3_686_400
    assert default_rate("dvd", "sr") == 8 * DVD_1X == 11_080_000
    assert 50 <= FD / default_rate("fd35-2hd", "virtual") <= 60  # a USB floppy drive
    assert 50 <= 737_280 / default_rate("fd35-2dd", "virtual") <= 60
    assert 2e6 <= default_rate("mo-640", "") <= 5e6 and default_rate("usb", "usb") == 20e6
    assert default_rate("", "sr") == 24 * CD_1X and default_rate("my-fd", "virtual") == 0
    assert default_rate("fd-custom", "virtual") == default_rate("fd35-2hd", "virtual")


def test_every_training_drive_reads_at_a_drives_rate(monkeypatch):
    monkeypatch.setenv(SPEED_ENV, "real")
    seen = {}
    for path in sorted(MEDIA.glob(f"*{DRIVE_SUFFIX}")):
        with VirtualDrive.from_file(path) as vd:
            assert vd.pace.rate == vd.rate > 0, path.name
            seen[vd.profile_hint] = vd.rate
    assert seen == {"fd35-2hd": 27_000, "cd": 24 * CD_1X, "usb": 20e6}


def test_fast_mode_keeps_the_rate_and_does_not_wait(monkeypatch):
    monkeypatch.setenv(SPEED_ENV, "fast")
    with VirtualDrive.from_file(MEDIA / "fd35-2hd-good.drive.toml") as vd:
        assert vd.rate == 27_000 and vd.pace.rate == 0
        assert vd.pace.delay_for(FD) == 0
        for pos in range(0, FD, 9216):
            vd.read(pos, 9216)
        assert vd.bytes_read == FD
    monkeypatch.setenv(SPEED_ENV, "slow")
    with pytest.raises(BadInput, match=SPEED_ENV):
        VirtualDrive.from_file(MEDIA / "fd35-2hd-good.drive.toml")


def test_reads_take_the_drives_time_for_their_bytes(make_drive):
    drive = make_drive(pattern(FD))
    fake = paced(drive, 27_000)
    for pos in range(0, FD, 9216):  # a track at a time, as the fd35-2hd profile reads
        drive.read(pos, 9216)
        fake.now += 0.002  # the host's hashing and writing between reads
    assert len(fake.waits) == FD // 9216
    assert sum(fake.waits) == pytest.approx(FD / 27_000 - 0.002 * (FD // 9216), rel=0.01)
    assert fake.now - 1000.0 == pytest.approx(FD / 27_000, rel=0.01)


def test_host_work_does_not_slow_the_drive_and_idle_time_is_not_banked(make_drive):
    mib = 1 << 20
    drive = make_drive(bytes(4 * mib))
    fake = paced(drive, 2e6)  # an MO drive read 64 KiB at a time
    start = fake.now
    for pos in range(0, 4 * mib, 65536):
        drive.read(pos, 65536)
        fake.now += 0.01  # host work, under the drive's read-ahead allowance
    assert fake.now - start == pytest.approx(4 * mib / 2e6, rel=0.01)
    fake.now += 100  # the drive sat idle: only its cache's worth comes back quicker
    start = fake.now
    for pos in range(0, 4 * mib, 65536):
        drive.read(pos, 65536)
    assert fake.now - start == pytest.approx(4 * mib / 2e6 - drive.pace.cache_seconds,
                                             rel=0.01)


def test_the_rate_is_honoured_through_the_engine(profiles, settings, tmp_path):
    drive = VirtualDrive(MEDIA / "fd35-2hd-good.img",
                         identity=DriveIdentity(path="fd", kind="virtual"), rate=27_000)
    fake = paced(drive, drive.rate)
    record = image_source(drive, profiles["fd35-2hd"], "FD-1", settings, tmp_path / "job")
    assert record.outcome == "success"
    # one read of each track, and nothing read twice: the disk's time at 27 KB/s
    assert drive.bytes_read == FD
    assert fake.now - 1000.0 == pytest.approx(FD / 27_000, rel=0.02)


def test_a_cancel_ends_a_throttled_read_at_once(make_drive):
    drive = make_drive(pattern(65536))
    drive.pace = Pace(1000)  # 65 s for this read, on the real clock
    cancel = threading.Event()
    drive.heed(cancel)
    got: list[int] = []
    reader = threading.Thread(target=lambda: got.append(len(drive.read(0, 65536))))
    reader.start()
    deadline = time.monotonic() + DEADLINE
    while drive.pace.due is None and time.monotonic() < deadline:  # the read booked its time
        time.sleep(0.01)
    assert drive.pace.due is not None
    # the drive's own lock is free while it waits: other readers are not held
    assert drive._lock.acquire(timeout=1)
    drive._lock.release()
    other = make_drive(pattern(4096))
    assert len(other.read(0, 4096)) == 4096  # another drive reads meanwhile
    cancel.set()
    reader.join(DEADLINE)
    assert not reader.is_alive() and got == [65536]
    assert drive.pace.due is None  # the cancelled run's booked time is not carried on


def test_a_trainee_sees_progress_cancels_and_resumes(profiles, settings, monkeypatch):
    """A floppy at its real rate (~55 s): progress shows, a cancel stops it within the
    deadline, and the same command resumes to the whole disk."""
    monkeypatch.setenv(SPEED_ENV, "real")
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.rescued)
        if p.rescued > 0:
            cancel.set()

    source = str(MEDIA / "fd35-2hd-good.drive.toml")
    done: list[JobRecord] = []
    worker = threading.Thread(target=lambda: done.append(image(
        source, profiles["fd35-2hd"], "FD-1", settings, progress=progress, cancel=cancel)))
    worker.start()
    worker.join(DEADLINE)
    assert not worker.is_alive() and len(done) == 1
    first = done[0]
    assert first.outcome == "aborted" and first.reason.code == "cancelled"
    assert 0 < max(seen) < FD // 4  # it was still reading at the drive's pace
    monkeypatch.setenv(SPEED_ENV, "fast")
    again = image(source, profiles["fd35-2hd"], "FD-1", settings)
    assert again.outcome == "success" and len(again.runs) == 2
    expected = hashlib.sha256((MEDIA / "fd35-2hd-good.img").read_bytes()).hexdigest()
    assert again.digests["sha256"] == expected


def test_the_headless_training_run_reads_at_full_speed_unless_asked(monkeypatch):
    """No one watches `workbench training` (scripts/wb run without a terminal): its drives
    read at full speed unless WORKBENCH_TRAINING_SPEED=real is set; the UI reads at
    real speed."""
    import os

    from workbench import cli
    from workbench.imaging.pace import SPEED_ENV

    class Seen(Exception):
        pass

    def station(*args, **kwargs):
        raise Seen(os.environ.get(SPEED_ENV))

    monkeypatch.setattr("workbench.station.Station", station)
    for asked, expected in ((None, "fast"), ("real", "real")):
        if asked is None:
            monkeypatch.delenv(SPEED_ENV, raising=False)
        else:
            monkeypatch.setenv(SPEED_ENV, asked)
        with pytest.raises(Seen) as seen:
            cli.main(["training"])
        assert seen.value.args[0] == expected
