"""Dead media recognised early, drives that stop answering, and rescue efficiency against
GNU ddrescue, on a real block device with real I/O errors (a loop device over a FUSE file
that returns EIO: tests/faulty_device.py) where the machine allows, else on virtual
drives."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import digests_of, pattern
from tests.faulty_device import FaultyDevice, can_build, faulty_device
from workbench.errors import ConfigError
from workbench.imaging.digests import DigestStream
from workbench.imaging.engine import image
from workbench.imaging.mapfile import BAD, FINISHED, NON_TRIED, RescueMap
from workbench.imaging.rescue import GaveUp, Rescue, Strategy
from workbench.imaging.sources import Damage, DeviceSource, ReadError, Source, SourceGone
from workbench.imaging.writer import ImageWriter
from workbench.profiles import parse_profile

FD = 1474560  # 3.5" 2HD: 2880 sectors
TRACK = 9216

_why_not = can_build()
real_device = pytest.mark.skipif(bool(_why_not), reason=f"faulty block device: {_why_not}")


@pytest.fixture
def carrier(tmp_path: Path) -> tuple[Path, bytes]:
    data = pattern(FD, seed=7)
    path = tmp_path / "carrier.img"
    path.write_bytes(data)
    return path, data


@contextlib.contextmanager
def device(path: Path, **damage) -> Iterator[FaultyDevice]:
    """The faulty device, or a skip naming why this machine cannot build one."""
    made = faulty_device(path, **damage)
    try:
        dev = made.__enter__()
    except OSError as exc:
        pytest.skip(f"this machine cannot build a faulty block device: {exc}")
    try:
        yield dev
    finally:
        made.__exit__(None, None, None)


def rescue(source: Source, job: Path, strategy: Strategy) -> tuple[Rescue, RescueMap]:
    """The engine's rescue on its own (resuming from job/image.map when there is one)."""
    job.mkdir(parents=True, exist_ok=True)
    map_path, image_path = job / "image.map", job / "image.img"
    rmap = RescueMap.load(map_path) if map_path.exists() else RescueMap(size=source.size)
    fd = os.open(image_path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, source.size)
    digests = DigestStream(["md5", "sha256"])
    r = Rescue(source, ImageWriter(fd, str(image_path)), rmap, digests, strategy,
               lambda: rmap.save(map_path))
    try:
        r.run()
    finally:
        digests.abandon()
        os.close(fd)
    return r, rmap


def fd_strategy(profiles, **kw) -> Strategy:
    return Strategy.from_profile(profiles["fd35-2hd"], 512, map_save_seconds=60, **kw)


def open_device(dev) -> DeviceSource:
    try:
        return DeviceSource(dev.path)
    except OSError as exc:
        pytest.skip(f"cannot open the faulty block device: {exc}")


# -- dead media ------------------------------------------------------------------------

@real_device
def test_a_dead_floppy_is_recognised_within_300_failing_reads(carrier, profiles, settings,
                                                               tmp_path):
    path, _ = carrier
    with device(path, bad=[(0, FD)]) as dev:
        rec = image(dev.path, profiles["fd35-2hd"], "DEAD-1", settings, out_dir=tmp_path / "job")
        failed_at_device = dev.stats()["failed"]
    assert rec.drive["kind"] == "block"
    assert rec.outcome == "failed" and rec.reason is not None
    assert rec.reason.code in ("dead_floppy", "dead_medium")  # floppy: once the engine
    # builds its Strategy with Strategy.from_profile
    assert 0 < rec.read_errors <= 300, rec.read_errors
    assert failed_at_device == rec.read_errors  # every EIO the kernel gave was counted
    rmap = RescueMap.load(tmp_path / "job" / "image.map")  # the map is kept
    assert rmap.total(FINISHED) == 0 and rmap.total(NON_TRIED) > FD // 2
    # the sample was spread over the whole medium, not the first tracks only
    bad = rmap.ranges((BAD,))
    assert bad[0][0] < FD // 32 and bad[-1][0] > FD - FD // 32 and len(bad) >= 32


@real_device
def test_dead_floppy_message_suggests_flux_imaging_and_going_on_reads_on(carrier, profiles,
                                                                         tmp_path):
    path, data = carrier
    readable = (FD - 3 * TRACK + 1024, 2048)  # a sliver the sample does not hit
    bad = [(0, readable[0]), (readable[0] + readable[1], FD - readable[0] - readable[1])]
    job = tmp_path / "job"
    with device(path, bad=bad) as dev:
        with open_device(dev) as src, pytest.raises(GaveUp) as stop:
            rescue(src, job, fd_strategy(profiles))
        assert stop.value.reason == "dead_floppy"
        from workbench.imaging.record import Reason
        text = Reason.of(stop.value.reason, path=dev.path).text
        assert "flux" in text and dev.path in text
        first = dev.stats()["failed"]
        assert first <= 300
        sampled = RescueMap.load(job / "image.map").ranges((BAD,))
        # the technician chooses to go on, from the same map
        with open_device(dev) as src:
            _r, rmap = rescue(src, job, fd_strategy(profiles, keep_going=True, retries=0))
        failed_sectors = dict(map(tuple, dev.stats()["failed_sectors"]))
    assert rmap.total(FINISHED) == readable[1]
    assert (job / "image.img").read_bytes()[readable[0]:sum(readable)] == \
        data[readable[0]:sum(readable)]
    assert rmap.total(NON_TRIED) == 0 and _r.read_errors > 300
    # the sample's sectors were not read again in the copy passes (only in no retry)
    for pos, _size in sampled:
        assert failed_sectors.get(pos // 512) == 1, pos


def test_a_dead_medium_other_than_a_floppy_suggests_another_drive(make_drive, profiles,
                                                                  tmp_path):
    size = 8 << 20
    drive = make_drive(bytes(size), Damage(bad=[(0, size)]))
    with pytest.raises(GaveUp) as stop:
        rescue(drive, tmp_path / "job",
               Strategy.from_profile(profiles["usb"], 512, map_save_seconds=60))
    assert stop.value.reason == "dead_medium" and drive.read_calls <= 300
    from workbench.imaging.record import Reason
    assert "another drive" in Reason.of("dead_medium", path="/dev/sdz").text


def test_a_medium_with_a_dead_first_half_is_not_called_dead(make_drive, profiles, tmp_path):
    data = pattern(FD, seed=3)
    drive = make_drive(data, Damage(bad=[(0, FD // 2)]))
    _r, rmap = rescue(drive, tmp_path / "job", fd_strategy(profiles, retries=1))
    assert rmap.total(FINISHED) == FD // 2 and rmap.total(BAD) == FD // 2
    assert (tmp_path / "job" / "image.img").read_bytes()[FD // 2:] == data[FD // 2:]


def test_sampling_can_be_turned_off(make_drive, profiles, tmp_path):
    drive = make_drive(bytes(FD), Damage(bad=[(0, FD)]))
    _r, rmap = rescue(drive, tmp_path / "job",
                     Strategy(cluster_size=TRACK, sector_size=512, retries=0, dead_sample=0))
    assert rmap.total(BAD) == FD and _r.read_errors > 2880


# -- budgets ---------------------------------------------------------------------------

def test_failure_budget_stops_the_run_with_the_map_kept(make_drive, tmp_path):
    data = pattern(FD)
    bad = [(0x10000 + i * 0x4000, 512) for i in range(60)]
    drive = make_drive(data, Damage(bad=bad))
    with pytest.raises(GaveUp) as stop:
        rescue(drive, tmp_path / "job", Strategy(cluster_size=TRACK, sector_size=512,
                                                 retries=3, failure_budget=40))
    assert stop.value.reason == "over_budget" and stop.value.params["errors"] == 40
    assert RescueMap.load(tmp_path / "job" / "image.map").total(FINISHED) > FD // 3
    # going on: the same map, no budget
    _r, rmap = rescue(drive, tmp_path / "job", Strategy(cluster_size=TRACK, sector_size=512,
                                                       retries=0, keep_going=True,
                                                       failure_budget=40))
    assert rmap.total(FINISHED) == FD - 60 * 512


def test_time_budget_stops_a_slow_failing_run(make_drive, tmp_path):
    bad = [(0x10000 + i * 0x4000, 512) for i in range(60)]
    drive = make_drive(pattern(FD), Damage(bad=bad, slow=[(0x10000, 60 * 0x4000, 0.01)]))
    with pytest.raises(GaveUp) as stop:
        rescue(drive, tmp_path / "job", Strategy(cluster_size=TRACK, sector_size=512,
                                                 retries=3, time_budget_seconds=0.3))
    assert stop.value.reason == "over_budget" and stop.value.params["seconds"] < 5


def test_profiles_validate_the_dead_media_keys(tmp_path, profiles):
    fd = profiles["fd35-2hd"]
    assert fd.dead_sample == 64 and fd.max_consecutive_failures == 32
    assert fd.time_budget_seconds == 3600 and fd.failure_budget == 0
    text = fd.source.read_text()
    for key, value in (("dead_sample", "-1"), ("max_consecutive_failures", "2"),
                       ("time_budget_seconds", "true"), ("failure_budget", "-5")):
        bad = tmp_path / "media" / "fd35-2hd.toml"
        bad.parent.mkdir(exist_ok=True)
        bad.write_text("\n".join(f"{key} = {value}" if line.startswith(f"{key} =") else line
                                 for line in text.splitlines()))
        with pytest.raises(ConfigError) as err:
            parse_profile(bad)
        assert key in str(err.value)
    # absent keys take their defaults
    bare = tmp_path / "media" / "fd35-2hd.toml"
    bare.write_text("\n".join(line for line in text.splitlines()
                              if not line.startswith(("dead_sample", "max_consecutive",
                                                      "time_budget", "failure_budget"))))
    p = parse_profile(bare)
    assert (p.dead_sample, p.max_consecutive_failures, p.time_budget_seconds,
            p.failure_budget) == (64, 32, 0.0, 0)


# -- a drive that stops answering half-way ------------------------------------------------

@real_device
def test_a_device_that_stops_answering_ends_vanished_and_resumes(carrier, profiles, settings,
                                                                 tmp_path):
    path, data = carrier
    job = tmp_path / "job"
    with device(path, die_after=60) as dev:
        rec = image(dev.path, profiles["fd35-2hd"], "GONE-1", settings, out_dir=job)
        failed = dev.stats()["failed"]
    assert rec.outcome == "failed" and rec.reason.code == "vanished"
    assert failed <= 40, failed  # bounded: max_consecutive_failures plus the checks
    rmap = RescueMap.load(job / "image.map")
    # what failed after the drive went silent is not called bad: it was never tried
    assert rmap.total(BAD) == 0 and rmap.total(FINISHED) > 0
    assert rmap.total(FINISHED) + rmap.total(NON_TRIED) == FD
    with device(path) as healthy:  # reconnected: the same command resumes
        again = image(healthy.path, profiles["fd35-2hd"], "GONE-1", settings, out_dir=job)
        served = healthy.stats()["bytes_served"]
    assert again.outcome == "success" and again.digests == digests_of(data)
    # finished areas were not read again (beyond the few KiB that prove it is the same
    # carrier)
    assert FD - rmap.total(FINISHED) <= served <= FD - rmap.total(FINISHED) + 65536


class Silent(Source):
    """A drive that stops answering after n reads: every read fails from then on."""

    def __init__(self, inner: Source, n: int) -> None:
        super().__init__()
        self.inner, self.n = inner, n
        self.path, self.size, self.sector_size = inner.path, inner.size, inner.sector_size
        self.identity = inner.identity

    def read(self, pos: int, size: int):
        self.read_calls += 1
        if self.read_calls > self.n:
            raise ReadError(pos, size)
        return self.inner.read(pos, size)


def test_a_drive_that_stops_answering_ends_vanished(make_drive, profiles, tmp_path):
    drive = Silent(make_drive(pattern(FD)), 50)
    with pytest.raises(SourceGone) as gone:
        rescue(drive, tmp_path / "job", fd_strategy(profiles))
    assert gone.value.reason == "vanished" and not isinstance(gone.value, GaveUp)
    assert drive.read_calls - 50 <= 32 + 3  # max_consecutive_failures plus the checks
    rmap = RescueMap.load(tmp_path / "job" / "image.map")
    assert rmap.total(FINISHED) == 50 * TRACK and rmap.total(NON_TRIED) == FD - 50 * TRACK


def test_a_medium_bad_after_its_first_third_is_not_vanished(make_drive, profiles, tmp_path):
    drive = make_drive(pattern(FD), Damage(bad=[(FD // 3, FD)]))  # the drive answers
    _r, rmap = rescue(drive, tmp_path / "job", fd_strategy(profiles, retries=0))
    assert rmap.total(FINISHED) == FD // 3 and rmap.total(BAD) == FD - FD // 3


def test_a_long_bad_stretch_on_a_live_drive_is_not_vanished(make_drive, profiles, tmp_path):
    data = pattern(FD)
    bad = [(0x20000, 100 * 512)]  # 100 bad sectors in a row: the drive still answers
    _r, rmap = rescue(make_drive(data, Damage(bad=bad)), tmp_path / "job",
                     fd_strategy(profiles, retries=2))
    assert rmap.total(BAD) == 100 * 512 and rmap.total(FINISHED) == FD - 100 * 512


# -- rescue efficiency against GNU ddrescue --------------------------------------------------

DAMAGE = [(0x1000, 0x200), (0x30000, 0x8000), (0x30000 + 0x9000, 0x200), (FD - 1024, 1024),
          (0x90000, 2 * TRACK), (0xC0000, 5 * 512), (0x100000 + 77 * 512, 512),
          (0x120000, 3 * 512)]


def gnu_ddrescue_on(dev_path: str, job: Path, retries: int) -> RescueMap:
    ddrescue = shutil.which("ddrescue")
    if ddrescue is None:
        pytest.skip("GNU ddrescue (Debian gddrescue) is not installed")
    job.mkdir()
    # -d: direct reads, as ours; buffered reads lose whole 4 KiB pages around a bad sector
    subprocess.run([ddrescue, "-d", f"-r{retries}", dev_path, str(job / "image.img"),
                    str(job / "image.map")], check=True, capture_output=True)
    return RescueMap.load(job / "image.map")


@real_device
@pytest.mark.parametrize("retries", [1, 3])
@pytest.mark.parametrize("damage", ["scattered", "dead_first_half"])
def test_we_rescue_what_gnu_ddrescue_rescues_with_at_most_10_percent_more_bad_reads(
        carrier, profiles, settings, tmp_path, retries, damage):
    path, data = carrier
    bad = DAMAGE if damage == "scattered" else [(0, FD // 2)]
    with device(path, bad=bad) as dev:
        gnu = gnu_ddrescue_on(dev.path, tmp_path / "gnu", retries)
        gnu_bad_reads = dev.stats()["bad_area_reads"]
    with device(path, bad=bad) as dev:
        rec = image(dev.path, profiles["fd35-2hd"], "DAMAGED-1", settings,
                    out_dir=tmp_path / "ours", retries=retries)
        ours_bad_reads = dev.stats()["bad_area_reads"]
    ours = RescueMap.load(tmp_path / "ours" / "image.map")
    img = (tmp_path / "ours" / "image.img").read_bytes()
    for pos, size in gnu.ranges((FINISHED,)):  # every byte GNU ddrescue rescued
        assert ours.ranges((FINISHED,)) and all(
            ours.status_at(p) == FINISHED for p in range(pos, pos + size, 512)), pos
        assert img[pos:pos + size] == data[pos:pos + size]
    assert rec.outcome == "partial"
    assert rec.bytes_rescued >= gnu.total(FINISHED)
    assert ours_bad_reads <= 1.10 * gnu_bad_reads, (ours_bad_reads, gnu_bad_reads)
