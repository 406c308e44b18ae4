"""The engine's side of an optical disc read as a disc (its TOC known).

Data tracks (Mode 1, Mode 2 Form 1) go into one data image addressed by LBA from 0, so
every session's file system reads as the disc holds it; what lies between them (audio
tracks, the gaps between sessions) is outside the image's domain: never read as data,
never bad. Audio tracks and Mode 2 tracks of video (Form 2) are read raw and securely
into trackNN.bin, each from its pregap. disc.cue describes the files; job.json keeps the
TOC itself.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from workbench.atomic import DiskFull, write_atomic
from workbench.config import Settings
from workbench.imaging import preflight
from workbench.imaging.checks import OPTICAL_SECTOR, DifferentCarrier, iso9660_volume_size
from workbench.imaging.mapfile import UNFINISHED, RescueMap
from workbench.imaging.record import JobRecord, Outcome, Reason, Run, utc_now
from workbench.imaging.rescue import Cancelled, ProgressCallback
from workbench.imaging.sources import ReadError, Source, SourceGone
from workbench.optical.cue import write_cue
from workbench.optical.sector import sector_form
from workbench.optical.secure import read_track, reread_track
from workbench.optical.sessions import declared_end, find_sessions
from workbench.optical.toc import (
    DATA_SECTOR,
    Disc,
    Mode,
    Track,
    data_session_starts,
    uncovered,
)
from workbench.profiles import MediaProfile

T = TypeVar("T")
CUE_NAME = "disc.cue"
# a track written track-at-once ends in two run-out sectors that do not read; past the
# session's declared volume they are not data, and not bad
RUNOUT_SECTORS = 2


@dataclass
class DiscPlan:
    disc: Disc
    image_tracks: list[Track] = field(default_factory=list)
    raw_tracks: list[Track] = field(default_factory=list)

    @property
    def data_end(self) -> int:
        return max((t.end for t in self.image_tracks), default=0)

    def outside(self) -> list[tuple[int, int]]:
        """(pos, size) in bytes of the data image that no data track covers."""
        return [(start * DATA_SECTOR, n * DATA_SECTOR)
                for start, n in uncovered(self.image_tracks)]

    def first_lba(self, track: Track) -> int:
        """Where a raw track's file starts: its pregap too (track 1's: a hidden track),
        unless the track opens a later session (its pregap is the recorder's gap)."""
        session = self.disc.session_of(track.session)
        opens = session is not None and session.first_track == track.number and \
            session.number != self.disc.sessions[0].number
        # (track 1's pregap begins before LBA 0: an image file holds what a drive
        # cannot read there, and it is kept; a drive's reads give silence)
        return track.start if opens else track.start - track.pregap

    def file_of(self, track: Track) -> str:
        return f"track{track.number:02d}.bin"


def _form2(source: Source, track: Track) -> bool | None:
    """Does a Mode 2 track hold Form 2 sectors (video, sound)? A few sectors read raw
    say; None when the drive gives no raw data."""
    for lba in dict.fromkeys((track.start, track.start + track.length // 2,
                              track.end - 1 - min(RUNOUT_SECTORS, track.length - 1))):
        try:
            raw = source.read_raw(lba, 1)
        except (ReadError, SourceGone):
            return None
        if sector_form(bytes(raw[:2352])) == "mode2_form2":
            return True
    return False


def plan_disc(source: Source) -> DiscPlan:
    """Which tracks go into the data image and which are read raw; the disc's class."""
    disc = source.disc
    assert disc is not None
    plan = DiscPlan(disc)
    video = False
    for track in disc.tracks:
        if track.audio:
            plan.raw_tracks.append(track)
        elif track.mode in (Mode.MODE2, Mode.DATA) and _form2(source, track):
            video = True
            plan.raw_tracks.append(track)
        else:
            plan.image_tracks.append(track)
    disc.disc_class = disc.classify(video=video)
    return plan


def same_toc(before: dict[str, Any], now: Disc) -> bool:
    """The same disc, as far as the TOC tells: track numbers, modes, starts, lengths."""
    old = Disc.from_dict(before)
    return [(t.number, t.audio, t.start, t.length) for t in old.tracks] == \
        [(t.number, t.audio, t.start, t.length) for t in now.tracks]


def read_raw_tracks(source: Source, plan: DiscPlan, record: JobRecord, out_dir: Path,
                    algorithms: tuple[str, ...], offset: int, max_reads: int,
                    save: Callable[[], object], cancel: threading.Event | None = None,
                    tick: Callable[[int, int, int], None] | None = None,
                    lookup: bool = False) -> None:
    """Read every raw track not yet read well into its file; each finished track is
    recorded (save) before the next starts, so a crash re-reads one track at most."""
    done = {t["number"]: t for t in record.tracks if t.get("done")}
    kept = [t for t in record.tracks if t.get("done")]
    for track in plan.raw_tracks:
        path = out_dir / plan.file_of(track)
        prior = done.get(track.number)
        if prior is not None and not (path.is_file()
                                      and path.stat().st_size == prior["sectors"] * 2352):
            prior = None  # its file is gone or cut: read the track whole again
        if prior is not None and not (prior.get("unreadable") or prior.get("unverified")):
            continue
        kept = [t for t in kept if t["number"] != track.number]
        if prior is not None:
            # read before, some sectors not well: only those again, on this drive
            entry = reread_track(source, prior, path, plan.disc.leadout, offset,
                                 algorithms, max_reads, cancel)
        else:
            report = None if tick is None else functools.partial(tick, track.number)
            entry = asdict(read_track(source, track, plan.first_lba(track), path,
                                      plan.disc.leadout, offset, algorithms, max_reads,
                                      cancel, report))
        kept.append(entry)
        record.tracks = sorted(kept, key=lambda t: t["number"])
        save()
    checksum_audio(plan, record, out_dir, lookup)


def checksum_audio(plan: DiscPlan, record: JobRecord, out_dir: Path,
                   lookup: bool = False) -> None:
    """AccurateRip (v1, v2), CRC32 per track and the disc's AccurateRip and CTDB ids and
    CTDB CRC, for verification against the databases, read from the track files as the
    disc's sectors (accuraterip.checksum_disc counts a track as the databases do).
    lookup: ask AccurateRip (the station's choice); an answer or a failure to ask is
    recorded, never a reason to fail the carrier (a disc may be a pressing it lacks)."""
    from workbench.optical import accuraterip
    audio = [t for t in record.tracks if t.get("done") and t["mode"] == Mode.AUDIO]
    if not audio or len(audio) != len(plan.disc.audio_tracks) or record.disc is None:
        return
    files = [(t["first_lba"], t["first_lba"] + t["sectors"], out_dir / t["file"])
             for t in audio]

    with contextlib.ExitStack() as stack:
        fds = {path: stack.enter_context(open(path, "rb")).fileno() for _, _, path in files}

        def read_sectors(lba: int, count: int) -> bytes:
            """The disc's raw sectors from the track files (offset already corrected)."""
            out = []
            while count > 0:
                first, end, path = next(f for f in files if f[0] <= lba < f[1])
                n = min(count, end - lba)
                out.append(os.pread(fds[path], n * 2352, (lba - first) * 2352))
                lba, count = lba + n, count - n
            return b"".join(out)
        sums = accuraterip.checksum_disc(plan.disc, read_sectors)
    for track, checksums in zip(audio, sums.tracks, strict=True):
        track["checksums"] = checksums.to_dict()
    record.disc.update({"accuraterip_id": sums.ids.name, "ctdb_toc_id": sums.ctdb_toc_id,
                        "ctdb_crc": f"{sums.ctdb_crc:08x}"})
    if not lookup:
        return
    from workbench.optical import ctdb
    now = utc_now()
    verdicts = _ask(record.disc, "accuraterip_lookup", now,
                    lambda: accuraterip.lookup(plan.disc, sums.tracks))
    for track, verdict in zip(audio, verdicts, strict=True) if verdicts is not None else ():
        track["accuraterip"] = {"verdict": verdict.verdict, "confidence": verdict.confidence,
                                "versions": verdict.versions, "total": verdict.total,
                                "text": str(verdict)}
    found = _ask(record.disc, "ctdb_lookup", now,
                 lambda: ctdb.lookup(plan.disc, sums.ctdb_crc))
    if found is not None:
        record.disc["ctdb"] = {"verdict": found.verdict, "confidence": found.confidence,
                               "total": found.total, "text": str(found)}


def _ask(disc: dict[str, Any], key: str, now: str, ask: Callable[[], T]) -> T | None:
    """Ask a database online; disc[key] says when, or why it could not be asked (never
    a reason to fail the carrier: the next run asks again)."""
    from workbench.optical.accuraterip import LookupFailed
    try:
        answer = ask()
    except LookupFailed as exc:
        disc[key] = f"failed {now}: {exc.message('en')}"
        return None
    disc[key] = f"asked {now}"
    return answer


def session_digests(plan: DiscPlan, record: JobRecord, image_path: Path) -> None:
    """A SHA-256 for each data session of a multi-session disc (its data tracks in the
    image), for PREMIS: a later check can say which session changed."""
    sessions = sorted({t.session for t in plan.image_tracks})
    if len(sessions) < 2 or record.disc is None:
        return
    out = []
    with open(image_path, "rb") as fh:
        for number in sessions:
            tracks = [t for t in plan.image_tracks if t.session == number]
            first, end = min(t.start for t in tracks), max(t.end for t in tracks)
            h = hashlib.sha256()
            pos, stop = first * DATA_SECTOR, end * DATA_SECTOR
            while pos < stop:
                chunk = os.pread(fh.fileno(), min(8 << 20, stop - pos), pos)
                if not chunk:
                    break
                h.update(chunk)
                pos += len(chunk)
            out.append({"session": number, "first_lba": first, "sectors": end - first,
                        "sha256": h.hexdigest()})
    record.disc["session_digests"] = out


def write_disc_cue(plan: DiscPlan, record: JobRecord, out_dir: Path) -> None:
    """disc.cue beside the image: data tracks in the data image at their LBA, raw
    tracks in their own files."""
    files: dict[int, tuple[str, int]] = {}
    for t in plan.image_tracks:
        files[t.number] = (record.image, t.start)
    for t in plan.raw_tracks:
        files[t.number] = (plan.file_of(t), t.start - plan.first_lba(t))
    text = write_cue(plan.disc, files, modes={
        t.number: "MODE2 XA Form 1, user data only" for t in plan.image_tracks
        if t.mode == Mode.MODE2}).encode()
    write_atomic(out_dir / CUE_NAME, text)
    # its digests, as for the image: verified before bagging, in the bag's manifests
    record.cue, record.cue_digests = CUE_NAME, {
        a: hashlib.new(a, text).hexdigest() for a in record.digests or ("md5", "sha256")}


def count_raw_tracks(record: JobRecord) -> None:
    """The raw tracks' bytes read well join the data image's in bytes_rescued (and the
    rate): statistics count the whole disc, not its data track alone."""
    record.bytes_rescued += sum(
        (t["sectors"] - sum(n for _, n in t.get("unreadable", []))) * 2352
        for t in record.tracks if t.get("done"))
    record.average_rate = round(record.bytes_rescued / record.seconds, 1) \
        if record.seconds else 0.0


def judge_tracks(record: JobRecord) -> Reason | None:
    """The raw tracks' share of the outcome: every one read, every sector verified."""
    missing = [t["number"] for t in record.tracks if not t.get("done")]
    disc = Disc.from_dict(record.disc) if record.disc else None
    wanted = {t.number for t in disc.tracks} if disc else set()
    read = {t["number"] for t in record.tracks if t.get("done")}
    image = {t for t in record.image_tracks}
    missing += sorted(wanted - read - image)
    if missing:
        return Reason.of("tracks_not_imaged", tracks=", ".join(map(str, sorted(set(missing)))))
    unreadable = [(t["number"], sum(n for _, n in t["unreadable"])) for t in record.tracks
                  if t.get("unreadable")]
    if unreadable:
        return Reason.of("tracks_unreadable", tracks=", ".join(
            f"{n}: {c}" for n, c in unreadable))
    unverified = [(t["number"], sum(n for _, n in t["unverified"])) for t in record.tracks
                  if t.get("unverified")]
    if unverified:
        return Reason.of("audio_unverified", tracks=", ".join(
            f"{n}: {c}" for n, c in unverified))
    return None


def plan_for(source: Source, record: JobRecord, out_dir: Path, item_id: str,
             settings: Settings) -> DiscPlan | None:
    """A disc whose TOC is known: what goes where. A job folder that holds another
    disc's TOC is refused, as for any other carrier; so is a disc with the same TOC
    whose audio differs from the tracks already read (another copy of a pressing is
    the same disc; a different recording with the same layout is not)."""
    if source.disc is None:
        return None
    plan = plan_disc(source)
    if record.disc and not same_toc(record.disc, plan.disc):
        raise DifferentCarrier("refuse.different_toc", drive=source.identity.describe(),
                               folder=str(out_dir), item=item_id)
    _same_raw_tracks(source, plan, record, out_dir, item_id, read_offset(source, settings))
    return plan


SAMPLES_TO_COMPARE = 3  # sectors of tracks already read, compared before a resume


def _same_raw_tracks(source: Source, plan: DiscPlan, record: JobRecord, out_dir: Path,
                     item_id: str, offset: int) -> None:
    """Before reading on: sectors of tracks already in the job folder, read again from
    the drive (offset corrected) and compared. A difference is another disc (exit 6,
    nothing written); sectors the drive cannot read now prove nothing either way."""
    from workbench.optical.secure import TrackReader
    reader = TrackReader(source, offset, plan.disc.leadout, 2)
    compared = 0
    for track in record.tracks:
        path = out_dir / str(track.get("file", ""))
        if not track.get("done") or not path.is_file():
            continue
        doubtful = {lba for lba, n in track.get("unreadable", []) + track.get("unverified", [])
                    for lba in range(lba, lba + n)}
        first, count = track["first_lba"], track["sectors"]
        for k in range(1, SAMPLES_TO_COMPARE + 1):
            lba = first + count * k // (SAMPLES_TO_COMPARE + 1)
            if lba in doubtful or lba < 0:
                continue
            with open(path, "rb") as fh:
                fh.seek((lba - first) * 2352)
                kept = fh.read(2352)
            try:
                now, state = reader.secure(lba, 1)
            except (ReadError, SourceGone):
                continue
            if state == "ok":
                compared += 1
                if now != kept:
                    raise DifferentCarrier(
                        "refuse.different_carrier", drive=source.identity.describe(),
                        folder=str(out_dir), item=item_id,
                        differences=f"track {track['number']} at LBA {lba}")
        if compared >= SAMPLES_TO_COMPARE:
            return


def read_disc_tracks(source: Source, plan: DiscPlan, record: JobRecord, out_dir: Path,
                      profile: MediaProfile, settings: Settings,
                      cancel: threading.Event | None) -> None:
    read_raw_tracks(source, plan, record, out_dir, tuple(profile.digests),
                    read_offset(source, settings),
                    max(2, profile.retries + 2), lambda: record.save(out_dir), cancel,
                    lookup=settings.online_lookup)
    write_disc_cue(plan, record, out_dir)


def raw_bytes_needed(plan: DiscPlan, record: JobRecord, out_dir: Path) -> int:
    """Room the raw tracks still need in the job folder (those not yet read well)."""
    done = {t["number"] for t in record.tracks if t.get("done")
            and (out_dir / str(t["file"])).is_file()}
    return sum((t.end - plan.first_lba(t)) * 2352 for t in plan.raw_tracks
               if t.number not in done)


def read_offset(source: Source, settings: Settings) -> int:
    """The drive's read offset: the station's setting for it, else AccurateRip's list
    for a real drive; an image file is read as it is."""
    drive = source.identity
    name = " ".join(x for x in (drive.vendor, drive.model) if x)
    if (name and name in settings.read_offsets) or drive.kind != "block":
        return settings.read_offset_of(name)
    from workbench.optical.accuraterip import drive_offset
    return drive_offset(drive.vendor, drive.model) or 0


def image_disc_raw(source: Source, profile: MediaProfile, item_id: str,
                    settings: Settings, out_dir: Path, command: str, plan: DiscPlan,
                    record: JobRecord, progress: ProgressCallback | None,
                    cancel: threading.Event | None) -> JobRecord:
    """A disc with no data track for the data image: audio, video (Mode 2 Form 2), or
    blank. Its tracks are read raw; there is no image.iso and no map."""
    # room for every track before anything is read: refused (exit 6), not half-done
    preflight.enforce(preflight.run_checks(source, out_dir, [out_dir / "job.json"],
                                           raw_bytes_needed(plan, record, out_dir),
                                           settings.free_space_margin))
    run = Run(started=utc_now(), command=command, operator=settings.operator,
              station_id=settings.station_id, drive=asdict(source.identity))
    record.runs.append(run)
    record.source, record.drive, record.command = source.path, asdict(source.identity), command
    record.image, record.map = "", ""
    record.size, record.device_size, record.sector_size = 0, source.size, OPTICAL_SECTOR
    record.disc, record.image_tracks = plan.disc.to_dict(), []
    record.started = record.started or run.started
    record.outcome, record.reason, record.digests = Outcome.RUNNING.value, None, {}
    record.save(out_dir)
    started = time.monotonic()
    reason: Reason | None
    if plan.disc.blank or not plan.disc.tracks:
        outcome, reason = Outcome.FAILED, Reason.of("blank", path=source.path)
    else:
        try:
            read_disc_tracks(source, plan, record, out_dir, profile, settings, cancel)
            reason = judge_tracks(record)
            outcome = Outcome.PARTIAL if reason else Outcome.SUCCESS
        except Cancelled:
            outcome, reason = Outcome.ABORTED, Reason.of("cancelled")
        except SourceGone as gone:
            outcome, reason = Outcome.FAILED, Reason.of(gone.reason, path=source.path)
        except DiskFull:
            outcome, reason = Outcome.ABORTED, Reason.of("disk_full", path=str(out_dir))
    run.ended, run.outcome = utc_now(), outcome.value
    run.bytes_read_from_medium = source.bytes_read
    record.bytes_rescued = 0
    record.seconds = round(record.seconds + time.monotonic() - started, 3)
    count_raw_tracks(record)
    record.outcome, record.reason, record.ended = outcome.value, reason, utc_now()
    with contextlib.suppress(DiskFull):
        record.save(out_dir)
    return record


def take_runout(rmap: RescueMap, record: JobRecord) -> None:
    """Unreadable sectors at the end of a data track (or of a disc without a TOC), past
    the volume its session declares and no more than RUNOUT_SECTORS: the run-out a
    recorder writes, not data. Taken out of the domain and recorded apart."""
    declared = record.declared_size or 0
    if not declared:
        return
    ends = [t["start"] + t["length"] for t in (record.disc or {}).get("tracks", [])
            if t["number"] in record.image_tracks] or [rmap.size // OPTICAL_SECTOR]
    for end in ends:
        lo = max(declared, (end - RUNOUT_SECTORS) * OPTICAL_SECTOR)
        hi = end * OPTICAL_SECTOR
        for pos, size in rmap.ranges(UNFINISHED):
            if pos >= lo and pos + size <= hi:
                rmap.outside = sorted([*rmap.outside, (pos, size)])
                record.runout_ranges.append([pos, size])


def largest_volume(rmap: RescueMap, record: JobRecord,
                    read: Callable[[int, int], bytes]) -> int | None:
    """The end of the largest ISO 9660 volume any session declares (isolyzer's rule):
    the sessions the TOC names, or those found in the image."""
    def lenient(pos: int, n: int) -> bytes:
        """What the image holds there; sectors not read (a gap, bad) and past its end
        read as zeros, as a scan for volume descriptors may ask for any span."""
        n = max(0, min(n, rmap.size - pos))
        try:
            return read(pos, n)
        except ValueError:
            out = bytearray(n)
            for at in range(0, n, DATA_SECTOR):
                size = min(DATA_SECTOR, n - at)
                with contextlib.suppress(ValueError):
                    out[at:at + size] = read(pos + at, size)
            return bytes(out)
    starts = data_session_starts(Disc.from_dict(record.disc), record.image_tracks) \
        if record.disc else None
    volumes = find_sessions(lenient, rmap.size, starts)
    return declared_end(volumes) or iso9660_volume_size(read)
