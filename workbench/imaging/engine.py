"""Imaging one carrier: pre-flight, resume, rescue, digests, size checks, honest outcome.

    record = image(source_path, profile, item_id, settings, progress=cb, cancel=event)

The job folder holds image.<ext>, image.map (ddrescue format) and job.json. Running the
same call again resumes from the map; a different drive merges into the same map.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from workbench import __version__
from workbench.atomic import DiskFull
from workbench.config import Settings
from workbench.errors import BadInput, Refused
from workbench.imaging import preflight, readonly, readonly_left
from workbench.imaging.checks import (
    OPTICAL_SECTOR,
    PVD_OFFSET,
    fat_geometry,
    iso9660_volume_size,
    udf_recognised,
)
from workbench.imaging.digests import DigestStream
from workbench.imaging.disc import (
    DiscPlan,
    count_raw_tracks,
    image_disc_raw,
    judge_tracks,
    largest_volume,
    plan_for,
    raw_bytes_needed,
    read_disc_tracks,
    session_digests,
    take_runout,
    write_disc_cue,
)
from workbench.imaging.fingerprint import is_finished, note_fingerprint, same_carrier
from workbench.imaging.mapfile import BAD, FINISHED, UNTRIED, RescueMap
from workbench.imaging.record import (
    MAP_NAME,
    JobRecord,
    Outcome,
    Reason,
    Run,
    utc_now,
)
from workbench.imaging.rescue import Cancelled, GaveUp, ProgressCallback, Rescue, Strategy
from workbench.imaging.sources import ReadError, Source, SourceGone, open_source
from workbench.imaging.writer import ImageWriter
from workbench.profiles import MediaProfile


def job_dir(settings: Settings, item_id: str) -> Path:
    return settings.paths.staging / preflight.check_item_id(item_id)


def image(source_path: str | os.PathLike, profile: MediaProfile, item_id: str,
          settings: Settings, out_dir: Path | None = None, retries: int | None = None,
          command: str = "", progress: ProgressCallback | None = None,
          cancel: threading.Event | None = None, keep_going: bool = False,
          check_source: Callable[[Source], None] | None = None) -> JobRecord:
    """Open the source read-only and image it; see image_source. keep_going: the
    technician goes on past a dead-medium sample or a budget, from the same map.
    check_source: the station's rules about the opened source (another carrier's disc
    left in the drive), before anything is written."""
    item_id = preflight.check_item_id(item_id)
    out_dir = out_dir or job_dir(settings, item_id)
    # the system disk or a mounted source: refused before opening, no folder made
    preflight.refuse_before_open(source_path)
    try:
        source = open_source(source_path, sector_size=profile.sector_size,
                             direct=profile.direct)
    except SourceGone as gone:
        return _record_unopened(str(source_path), profile, item_id, settings, out_dir,
                                command, gone)
    with source:
        if check_source is not None:
            check_source(source)
        # BLKROSET before the first read; undone (or kept) as the settings say, also
        # when a killed run of this job left it set
        guarded = utc_now()
        with readonly_left.guarded(source, settings, out_dir, item_id) as protection:
            source.protection = protection.to_dict() if protection is not None else None
            record = image_source(source, profile, item_id, settings, out_dir, retries,
                                  command, progress, cancel, keep_going)
        if protection is not None and record.runs and record.runs[-1].started >= guarded:
            record.runs[-1].protection = protection.to_dict()  # with what happened after
            record.save(out_dir)
        if source.disc is not None and settings.eject_when_done and record.runs and \
                record.outcome in (Outcome.SUCCESS.value, Outcome.PARTIAL.value) \
                and source.eject():  # done: the tray opens for the next disc
            record.runs[-1].ejected = True
            record.save(out_dir)
        return record


def preflight_checks(source_path: str | os.PathLike, profile: MediaProfile, item_id: str,
                     settings: Settings) -> list[preflight.Check]:
    """The pre-flight results for the station UI, before anything is imaged. A source
    that cannot be opened (mounted, no medium) is one failed check."""
    from workbench.errors import WorkbenchError
    out_dir = job_dir(settings, item_id)
    refused = [c for c in preflight.before_open(source_path) if not c.ok]
    if refused:
        return refused
    try:
        with open_source(source_path, sector_size=profile.sector_size,
                         direct=profile.direct) as source:
            image_path = out_dir / f"image.{profile.image_extension}"
            allocated = image_path.stat().st_blocks * 512 if image_path.exists() else 0
            return preflight.run_checks(source, out_dir, [image_path, out_dir / MAP_NAME],
                                        max(0, source.size - allocated),
                                        settings.free_space_margin) \
                + readonly.preflight_checks(source, settings.block_read_only,
                                            _left_set(source, settings, out_dir))
    except SourceGone as gone:
        return [preflight.Check("source", False, {"path": str(source_path),
                                                  "reason": gone.reason})]
    except WorkbenchError as exc:
        return [preflight.Check("source", False, {"path": str(source_path),
                                                  "reason": exc.message()})]


def _left_set(source: Source, settings: Settings, out_dir: Path) -> bool:
    """Is the block device's read-only flag one a killed run of the workbench left?"""
    return bool(getattr(source, "is_block", False)) and readonly_left.left_by_workbench(
        settings, out_dir, source.path, getattr(source, "rdev", 0))


def image_source(source: Source, profile: MediaProfile, item_id: str, settings: Settings,
                 out_dir: Path, retries: int | None = None, command: str = "",
                 progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None, keep_going: bool = False) -> JobRecord:
    item_id = preflight.check_item_id(item_id)
    source.heed(cancel)  # a training drive's wait for its rate ends on cancel
    if settings.write_blocker and not source.identity.write_blocker:
        source.identity = replace(source.identity, write_blocker=settings.write_blocker)
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _image_into(source, profile, item_id, settings, out_dir, retries, command,
                           progress, cancel, keep_going)
    except Refused:
        if made:  # refused before anything was written: leave no empty folder behind
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise


def _image_into(source: Source, profile: MediaProfile, item_id: str, settings: Settings,
                out_dir: Path, retries: int | None, command: str,
                progress: ProgressCallback | None, cancel: threading.Event | None,
                keep_going: bool) -> JobRecord:
    image_path = out_dir / f"image.{profile.image_extension}"
    map_path = out_dir / MAP_NAME
    record = _open_record(out_dir, profile, item_id, settings)
    plan = plan_for(source, record, out_dir, item_id, settings)
    if plan is not None and not plan.image_tracks:  # audio, video, blank: no data image
        return image_disc_raw(source, profile, item_id, settings, out_dir, command, plan,
                               record, progress, cancel)
    rmap, probe = _open_map(map_path, image_path, source, profile, record, plan)
    resumed = map_path.exists()
    size = max(rmap.size, record.size, _resume_domain(source, profile, record, plan)) \
        if resumed else rmap.size
    allocated = image_path.stat().st_blocks * 512 if image_path.exists() else 0
    raw = raw_bytes_needed(plan, record, out_dir) if plan is not None else 0
    checks = preflight.run_checks(source, out_dir, [image_path, map_path, out_dir / "job.json"],
                                  max(0, size - allocated) + raw, settings.free_space_margin)
    preflight.enforce(checks)
    # the same carrier? compared before anything is written: refused, nothing changes
    try:
        fingerprint, carrier_check = same_carrier(source, profile, record, rmap, image_path,
                                                   out_dir, item_id, extends=size > rmap.size)
    except SourceGone as gone:
        return _record_unopened(source.path, profile, item_id, settings, out_dir, command,
                                gone, drive=asdict(source.identity))
    rmap.fit_to(size)  # a good drive extends a truncated carrier's map
    if plan is not None:  # audio tracks and session gaps: outside the data image
        rmap.outside = plan.outside()

    run = Run(started=utc_now(), command=command, operator=settings.operator,
              station_id=settings.station_id, drive=asdict(source.identity),
              bytes_read_to_compare=carrier_check.get("bytes_read", 0),
              carrier_check=carrier_check, protection=dict(source.protection or {}))
    record.runs.append(run)
    record.source, record.drive, record.command = source.path, asdict(source.identity), command
    record.size, record.device_size, record.sector_size = rmap.size, source.size, \
        source.sector_size
    record.fingerprint = fingerprint
    if plan is not None:
        record.disc = plan.disc.to_dict()
        record.image_tracks = [t.number for t in plan.image_tracks]
        write_disc_cue(plan, record, out_dir)
    record.started = record.started or run.started
    record.outcome, record.reason, record.digests = Outcome.RUNNING.value, None, {}
    record.save(out_dir)

    rmap.created_by = f"workbench {__version__}"
    rmap.command_line = command
    rmap.start_time = rmap.start_time or time.strftime("%Y-%m-%d %H:%M:%S")
    if not map_path.exists():  # the map first: a run killed from here on resumes
        rmap.save(map_path)
    fd = _open_image(image_path, rmap.size)
    digests = DigestStream(profile.digests)
    strategy = Strategy.from_profile(profile, source.sector_size, retries=retries,
                                     map_save_seconds=settings.map_save_seconds,
                                     keep_going=keep_going)
    writer = ImageWriter(fd, str(image_path))

    def save_map() -> None:
        rmap.save(map_path)
        # the record follows the map, so a crashed run's job.json shows what was left
        # untried rather than nothing (its outcome stays "running")
        _count(record, rmap, passes_done=False)
        note_fingerprint(record, rmap, profile, fd)
        record.save(out_dir)

    rescue = Rescue(source, writer, rmap, digests, strategy, save_map, progress, cancel)
    started = time.monotonic()
    passes_done = False
    try:
        digests.catch_up(fd, rmap.finished_prefix())  # resumed work: hash the image file
        if probe:  # the start of the medium was read to size it: do not read it again
            rescue.accept(0, probe[: rmap.size])
        rescue.run()
        passes_done = True
        digests.catch_up(fd, rmap.size)  # after errors: the rest from the image file
        record.digests = digests.finish()
        if plan is not None:
            read_disc_tracks(source, plan, record, out_dir, profile, settings, cancel)
            session_digests(plan, record, image_path)
        outcome, reason = _judge(rmap, record, profile, image_path)
        if plan is not None and outcome == Outcome.SUCCESS:
            reason = judge_tracks(record)
            outcome = Outcome.PARTIAL if reason else outcome
    except Cancelled:
        digests.abandon()
        outcome, reason = Outcome.ABORTED, Reason.of("cancelled")
    except GaveUp as stop:  # a dead medium or a spent budget: the map is kept
        digests.abandon()
        outcome, reason = Outcome.FAILED, Reason.of(stop.reason, path=source.path,
                                                    **stop.params)
    except SourceGone as gone:
        digests.abandon()
        outcome, reason = Outcome.FAILED, Reason.of(gone.reason, path=source.path)
    except DiskFull:
        digests.abandon()
        outcome, reason = Outcome.ABORTED, Reason.of("disk_full", path=str(out_dir))
    except BaseException:
        digests.abandon()
        raise
    finally:
        with contextlib.suppress(OSError):
            note_fingerprint(record, rmap, profile, fd, final=True)
        os.close(fd)
    seconds = time.monotonic() - started
    run.ended, run.outcome, run.passes = utc_now(), outcome.value, rescue.passes
    run.speed_changes = rescue.speed_changes
    run.read_errors, run.bytes_read_from_medium = rescue.read_errors, source.bytes_read
    _summarise(record, rmap, outcome, reason, seconds, passes_done)
    if plan is not None:
        count_raw_tracks(record)
    with contextlib.suppress(DiskFull):  # the map is saved; the next run resumes
        record.save(out_dir)
    return record


# -- pieces ----------------------------------------------------------------------------

def _open_record(out_dir: Path, profile: MediaProfile, item_id: str,
                 settings: Settings) -> JobRecord:
    record = JobRecord.load(out_dir)
    if record is None:
        return JobRecord(item_id=item_id, profile_id=profile.id, media_family=profile.family,
                         station_id=settings.station_id, organisation=settings.organisation,
                         operator=settings.operator, workbench_version=__version__,
                         image=f"image.{profile.image_extension}",
                         expected_sizes=list(profile.expected_sizes),
                         job_id=uuid.uuid4().hex)
    if record.item_id != item_id or record.profile_id != profile.id:
        raise BadInput("error.job_mismatch", folder=str(out_dir), item=record.item_id,
                       profile=record.profile_id)
    record.workbench_version = __version__
    return record


def _open_map(map_path: Path, image_path: Path, source: Source, profile: MediaProfile,
              record: JobRecord, plan: DiscPlan | None) -> tuple[RescueMap, bytes | None]:
    """Resume from an existing map (ours or GNU ddrescue's), or start a new one. Also
    returns the data a size probe read from the start of the medium, if any."""
    if map_path.exists():
        rmap = RescueMap.load(map_path)
        if not image_path.exists() and rmap.total(FINISHED):  # it claims data that is gone
            raise BadInput("error.map_without_image", map=str(map_path), image=str(image_path))
        return rmap, None  # extended after the carrier check (image_source)
    if image_path.exists() and image_path.stat().st_size:
        raise BadInput("error.image_without_map", image=str(image_path), map=str(map_path))
    if plan is not None:  # the TOC says how far the data goes
        return RescueMap(size=min(source.size, plan.data_end * OPTICAL_SECTOR)), None
    size, probe = _domain(source, profile, record)
    return RescueMap(size=size), probe


def _domain(source: Source, profile: MediaProfile, record: JobRecord
            ) -> tuple[int, bytes | None]:
    """How much to image: all the drive reports. An optical disc without a TOC is never
    cut to its first volume (a later session lies beyond it); run-out sectors past the
    last volume that do not read are told apart when judging. The descriptors are read
    in one cluster that then goes into the image as it is."""
    size = source.size
    if not profile.iso9660_check:
        return size, None
    try:
        probe = bytes(source.read(0, min(profile.cluster_size, size)))
    except ReadError:
        return size, None
    record.iso9660_size = iso9660_volume_size(lambda pos, n: probe[pos:pos + n])
    return size, probe


def _resume_domain(source: Source, profile: MediaProfile, record: JobRecord,
                   plan: DiscPlan | None) -> int:
    """How much this drive can give of a carrier being resumed, without reading it."""
    if plan is not None:
        return min(source.size, plan.data_end * OPTICAL_SECTOR)
    return source.size


def _open_image(path: Path, size: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if os.fstat(fd).st_size != size:
            os.ftruncate(fd, size)  # full size from the start; unread areas stay zero
        try:
            os.posix_fallocate(fd, 0, size)  # reserve space: no ENOSPC half-way
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull("error.disk_full", path=str(path)) from exc
    except BaseException:
        os.close(fd)
        raise
    return fd


def _judge(rmap: RescueMap, record: JobRecord, profile: MediaProfile,
           image_path: Path) -> tuple[Outcome, Reason | None]:
    rescued = rmap.total(FINISHED)
    if rescued == 0:
        return Outcome.FAILED, Reason.of("unreadable")
    with open(image_path, "rb") as fh:
        def read(pos: int, n: int) -> bytes:
            if not is_finished(rmap, pos, n):
                raise ValueError("not read")
            return os.pread(fh.fileno(), n, pos)
        reason = _size_check(rmap, record, profile, read)
    if reason is not None:
        return Outcome.FAILED, reason
    take_runout(rmap, record)
    bad = rmap.domain_size - rmap.total(FINISHED)
    if bad:
        return Outcome.PARTIAL, Reason.of("bad_sectors", count=-(-bad // record.sector_size),
                                          bytes=f"{bad:,}")
    return Outcome.SUCCESS, None


def _size_check(rmap: RescueMap, record: JobRecord, profile: MediaProfile,
                read: Callable[[int, int], bytes]) -> Reason | None:
    """The size the medium declares of itself wins over the profile's list: a floppy's
    FAT boot sector, an optical disc's ISO 9660 volume (and whole 2048-byte sectors, and
    a recognised volume at all). A smaller size is a drive or write blocker that
    truncates, never a reason to pick another profile; a larger one is whole if the
    profile expects it (a volume that does not fill its carrier)."""
    size = rmap.size
    if profile.iso9660_check:
        if size % OPTICAL_SECTOR:
            return Reason.of("not_whole_sectors", size=f"{size:,}", sector=OPTICAL_SECTOR)
        declared = largest_volume(rmap, record, read)
        record.iso9660_size = declared or record.iso9660_size
        if record.iso9660_size:
            record.declared_size, record.declared_by = record.iso9660_size, "ISO 9660"
            if size < record.iso9660_size:
                return Reason.of("truncated", size=f"{size:,}", volume="ISO 9660",
                                 declared=f"{record.iso9660_size:,}")
            return None
        if udf_recognised(read):
            record.declared_by = "UDF"
            return None
        if size > PVD_OFFSET and not is_finished(rmap, PVD_OFFSET, OPTICAL_SECTOR):
            return None  # the descriptors did not read: the bad sectors say why
        return Reason.of("no_volume", size=f"{size:,}")
    if profile.family == "FD":
        try:
            geometry = fat_geometry(read(0, 512))
        except ValueError:
            geometry = None
        if geometry is not None:
            record.declared_size, record.declared_by = geometry.size, "FAT"
            if size < geometry.size:
                return Reason.of("truncated", size=f"{size:,}", volume="FAT",
                                 declared=f"{geometry.size:,}")
            if size > geometry.size and not profile.size_expected(size):
                return Reason.of("volume_larger", size=f"{size:,}", volume="FAT",
                                 declared=f"{geometry.size:,}")
            # a carrier of the profile's size holding a smaller volume (a 720 KB image
            # written onto a 1.44 MB disk): all of it is read, past the volume too,
            # as for a disc larger than its ISO 9660 volume
            return None
    if not profile.size_expected(size):
        return Reason.of("size_mismatch", size=f"{size:,}", profile=profile.id,
                         expected=", ".join(f"{s:,}" for s in profile.expected_sizes))
    return None


def _count(record: JobRecord, rmap: RescueMap, passes_done: bool) -> None:
    """Rescued, bad and untried bytes and ranges from the map. Bad means tried and
    failed ('-'). Areas not yet tried, trimmed or scraped ('?', '*', '/') are untried
    while passes remain (an aborted, vanished or crashed run); once every pass has run,
    whatever is still unread is bad."""
    rescued = rmap.total(FINISHED)
    record.bytes_rescued = rescued
    if passes_done:
        bad, untried = rmap.unfinished(), []
    else:
        bad, untried = rmap.ranges((BAD,)), rmap.ranges(UNTRIED)
    record.bad_ranges = [[pos, size] for pos, size in bad]
    record.bytes_bad = sum(size for _, size in bad)
    record.untried_ranges = [[pos, size] for pos, size in untried]
    record.bytes_untried = sum(size for _, size in untried)
    sector = record.sector_size or 512
    record.bad_sector_count = -(-record.bytes_bad // sector)


def _summarise(record: JobRecord, rmap: RescueMap, outcome: Outcome, reason: Reason | None,
               seconds: float, passes_done: bool) -> None:
    _count(record, rmap, passes_done)
    rescued = record.bytes_rescued
    record.read_errors = sum(r.read_errors for r in record.runs)
    record.seconds = round(record.seconds + seconds, 3)
    record.average_rate = round(rescued / record.seconds, 1) if record.seconds else 0.0
    record.outcome, record.reason, record.ended = outcome.value, reason, utc_now()


def _record_unopened(source: str, profile: MediaProfile, item_id: str, settings: Settings,
                     out_dir: Path, command: str, gone: SourceGone,
                     drive: dict[str, str] | None = None) -> JobRecord:
    """No medium, no permission, or gone: record the attempt, image nothing."""
    out_dir.mkdir(parents=True, exist_ok=True)
    record = _open_record(out_dir, profile, item_id, settings)
    now = utc_now()
    record.runs.append(Run(started=now, ended=now, command=command, operator=settings.operator,
                           station_id=settings.station_id, drive=drive or {"path": source},
                           outcome=Outcome.FAILED.value))
    record.source, record.command = source, command
    record.started, record.ended = record.started or now, now
    record.outcome, record.reason = Outcome.FAILED.value, Reason.of(gone.reason, path=source)
    record.save(out_dir)
    return record
