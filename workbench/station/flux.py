"""Flux imaging on the station: capture (or bring in) flux, decode, lay out, then the SAME
imaging engine as every carrier, reading the laid-out sectors (workbench/flux/source.py).

    result = image_flux(station, "FD-7", profile)                  # capture with gw
    result = image_flux(station, "FD-7", profile, Path("x.scp"))   # a capture brought in

The job folder gains flux/ (the capture files: the preservation master, bagged with the
image) and, for a disk that is not uniform, image.d88 (an access copy for emulators).
Running the same call again resumes an interrupted capture; once every track is there,
it captures again only the tracks with bad sectors, with the profile's retry
revolutions, and the decoder votes across every capture of a track. A carrier that was
routed "needs flux" leaves the routed count: this is a new attempt with its own outcome.
Tracks of an encoding the decoder does not read are never a success.

Around it: the room on the disk is checked before a copy or a capture (flux_space.py);
a capture brought in is checked and copied all or none (flux_import.py); the run is in
the job record and the ledger from the first step, so a kill leaves an interrupted
carrier in the work list (flux_run.py); one gw at a time per Greaseweazle, which may be
chosen (flux_device.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import __version__
from workbench.errors import BadInput
from workbench.flux import session
from workbench.flux.capture import (
    FLUX_DIR,
    CapturePlan,
    capture,
    capture_files,
    find_gw,
    next_round,
    unfinished_plan,
)
from workbench.flux.d88 import write_d88
from workbench.flux.layout import Layout
from workbench.flux.once import parse_once
from workbench.flux.session import IMPORT_DIR, revolutions_text
from workbench.flux.source import FluxSource, flux_identity
from workbench.imaging.engine import image_source, job_dir
from workbench.imaging.record import JobRecord, Outcome, Reason, utc_now
from workbench.imaging.sources import DriveIdentity
from workbench.ledger import record as ledger
from workbench.profiles import MediaProfile
from workbench.station import flux_run
from workbench.station.flux_device import device_of, drive_path, gw_device, lock_path
from workbench.station.flux_import import (
    bring_in,
    capture_to_bring,
    import_pairs,
    refuse_another_disk,
    refuse_another_round,
)
from workbench.station.flux_space import image_bytes, refuse_unless_room, track_data_bytes
from workbench.station.locks import drive_lock, held
from workbench.station.result import MigrationResult
from workbench.station.states import Action
from workbench.station.view import CarrierState

if TYPE_CHECKING:
    from workbench.station.core import Station

D88_NAME = "image.d88"
DECLARED_BY = "flux ID fields"


def image_flux(station: Station, item_id: str, profile: MediaProfile,
               capture_path: Path | None = None, batch: str = "", command: str = "",
               device: str = "") -> MigrationResult:
    """Image a carrier from flux: a first imaging, a resume, or a new attempt (a retry,
    a carrier routed "needs flux") as its state allows. device: which Greaseweazle
    (gw --device; "" for gw's own choice, or the one a round cut short used)."""
    st = station.state(item_id)
    action = Action.IMAGE if Action.IMAGE in st.next_actions else Action.RETRY
    lock, st = station._begin(item_id, action)
    try:
        # a capture brought in is read to be checked, compared and decoded: parsed once,
        # each track decoded once
        with parse_once():
            job = job_dir(station.settings, st.item_id)
            if action is Action.RETRY:
                _restore_flux(st, job, station._ready_for_reading(st))
            previous = JobRecord.load(job)
            if previous is not None and previous.flux and previous.profile_id != profile.id \
                    and previous.profile_id in station.profiles:
                profile = station.profiles[previous.profile_id]  # the ID fields chose it
            elif previous is not None and previous.profile_id != profile.id:
                raise BadInput("error.job_mismatch", folder=str(job), item=previous.item_id,
                               profile=previous.profile_id)
            if profile.flux is None:
                raise BadInput("flux.no_flux_params", profile=profile.id)
            batch = batch or st.batch
            margin = station.settings.free_space_margin
            if capture_path is not None:
                capture_path = capture_to_bring(station, capture_path)
                refuse_another_disk(job, previous, capture_path, profile.flux.cylinders)
                target_dir, pairs = import_pairs(capture_path, job)
                refuse_unless_room(job, sum(s.stat().st_size for s, _ in pairs) +
                                   image_bytes(profile), margin, "copy")
                identity = flux_identity(str(capture_path), _format_of(
                    [capture_path] if capture_path.is_file() else list(capture_path.iterdir())),
                    captured=False)
                job.mkdir(parents=True, exist_ok=True)
                flux_run.begin(station, job, st.item_id, profile, identity, command, batch)
                with flux_run.stopping(station, job, batch):
                    bring_in(target_dir, pairs)
            else:
                # its own Greaseweazle (the one it was read with) unless another is named
                device = device or _recorded_device(previous)
                plan = _plan(job, profile, previous, device)
                device = plan.device if plan is not None else device
                identity = flux_identity(drive_path(device, profile.flux.drive), "scp",
                                         captured=True, drive=profile.flux.drive)
                was = previous.runs[-1].drive if previous is not None and previous.runs \
                    else {}
                if plan is None and was.get("path"):
                    # nothing to capture (a decode again): the captures' own source, not
                    # a Greaseweazle read that never happened
                    identity = DriveIdentity(**{k: str(v) for k, v in was.items()
                                                if k in DriveIdentity.__dataclass_fields__})
                if plan is not None:
                    find_gw()  # a missing gw is refused with nothing written
                    refuse_unless_room(job, plan.bytes_needed(job, track_data_bytes(profile)) +
                                       image_bytes(profile), margin, "capture")
                    # the lock first: refused, it leaves no job folder behind
                    with held(drive_lock(station.locks, lock_path(plan.device),
                                         station.settings.station_id, job.name), 1.0):
                        job.mkdir(parents=True, exist_ok=True)
                        flux_run.begin(station, job, st.item_id, profile, identity, command,
                                       batch)
                        with flux_run.stopping(station, job, batch):
                            capture(job, plan, progress=lambda p: station.progress("flux", p),
                                    cancel=station.cancel)
                            if plan.round and not station.cancel.is_set():
                                refuse_another_round(job, plan.round, plan.tracks)
                else:
                    flux_run.begin(station, job, st.item_id, profile, identity, command, batch)
            with flux_run.stopping(station, job, batch):
                if station.cancel.is_set():
                    raise _cancelled()
                decoded = session.decode_job(job, profile.flux.cylinders,
                                             progress=lambda p: station.progress("flux", p),
                                             cancel=station.cancel)
            fitting = _fitting(station, profile, decoded.layout, flux_run.settled(job, previous))
            flux_run.for_engine(job, fitting)
            record = image_layout(station, st.item_id, fitting, job, decoded.layout, identity,
                                  decoded.info, command)
            station._record_imaging(record, job, batch)
            _record_method(station, record)
            result = station.result_of(st.item_id)
            if fitting is not profile:
                result.steps.append(("profile", "recorded", f"{profile.id} -> {fitting.id}"))
            result.steps.append(("imaging", record.outcome, method_text(record)))
            result.state = station.state(st.item_id).state
            return result
    finally:
        lock.release()


def _cancelled() -> Exception:
    from workbench.errors import Aborted
    return Aborted("reason.cancelled")  # the capture files so far are kept


def _restore_flux(st: CarrierState, job: Path, record: JobRecord | None) -> None:
    """A bagged (then withdrawn) carrier read again: its capture files back from the
    bag that holds them, copied and checked (the bag never changes), so a retry
    captures only the tracks with bad sectors and votes across the earlier captures."""
    from workbench.package.bags import copy_hashed
    if record is None or not record.flux:
        return
    bags = [Path(b.path) for b in reversed(st.bags)]
    for entry in record.flux.get("files", []):
        path, digests = job / str(entry["file"]), dict(entry["digests"])
        for bag in bags if not path.exists() else []:
            source = bag / "data" / str(entry["file"])
            if not source.is_file():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(".part-" + path.name)
            if copy_hashed(source, partial, tuple(digests)) == digests:
                partial.rename(path)
                break
            partial.unlink()


def _fitting(station: Station, profile: MediaProfile, layout: Layout,
             previous: JobRecord | None) -> MediaProfile:
    """The profile the disk's ID fields say it is, for a first imaging where the chosen
    one does not fit (the technician need not know the format: a PC-98 disk chosen as a
    3.5-inch 2HD one is counted as a PC-98 disk). A job that has a record keeps its
    profile; a disk no profile fits keeps the chosen one (its ID fields declare its size)."""
    fits = layout.fitting_profiles(station.profiles)
    if previous is not None or not fits or profile.id in fits:
        return profile
    return station.profiles[fits[0]]


def flux_retry(station: Station, item_id: str, drive: str | None, command: str
               ) -> MigrationResult | None:
    """`retry` of a carrier imaged from flux: its capture is never a drive to read as an
    image. Without a drive: read from flux again (the tracks with bad sectors captured
    again, voted with every earlier capture), on the Greaseweazle that read it. A
    Greaseweazle named for it (gw:DEVICE or its serial device): that one. Another drive:
    refused (its map is the flux layout's). A capture brought in whose copy was cut
    short (killed, a full disk) is copied again from where it came, if it is still
    there. None: not a flux carrier, an ordinary retry."""
    job = job_dir(station.settings, item_id)
    record = JobRecord.load(job)
    if record is None or not reads_flux(job, record):
        return None
    device = gw_device(drive)
    if device is None and drive and drive != record.drive.get("path"):
        raise BadInput("flux.retry_on_drive", item=item_id, drive=drive)
    brought = flux_run.brought_from(job, record)  # a copy cut short: the same capture again
    copy_cut_short = bool(brought) and not drive and not session.capture_sources(job)
    if copy_cut_short and not Path(brought).exists():  # never a Greaseweazle read instead
        raise BadInput("lead.flux_capture_gone", item=item_id, path=brought)
    capture_path = Path(brought) if copy_cut_short else None
    return image_flux(station, item_id, station.profiles[record.profile_id],
                      capture_path, command=command, device=device or "")


def reads_flux(job: Path, record: JobRecord) -> bool:
    """The carrier of this job is read from flux (imaged from a capture, or one begun):
    a retry reads flux again, never a drive."""
    return bool(record.flux or flux_run.capturing(job, record))


def continues_with_flux(station: Station, item_id: str) -> bool:
    """Whether continuing the carrier means reading flux again (imaged from flux, or a
    capture begun): the work list's Enter goes to the flux flow, not to a drive."""
    job = job_dir(station.settings, station.state(item_id).item_id)
    record = JobRecord.load(job)
    return record is not None and reads_flux(job, record)


def _recorded_device(record: JobRecord | None) -> str:
    """The Greaseweazle device a carrier was last read with ("" for gw's own choice)."""
    drive = record.runs[-1].drive if record is not None and record.runs else {}
    return device_of(str(drive.get("path", ""))) if drive.get("vendor") == "Greaseweazle" \
        else ""


def _plan(job: Path, profile: MediaProfile, previous: JobRecord | None, device: str = ""
          ) -> CapturePlan | None:
    """A round cut short goes on (on the device asked for, else its own); else the
    first capture when the job has none (none by gw, none brought in); else, once the
    captures are decoded, a retry of the tracks with bad sectors only; None when there
    is nothing to capture (captures not decoded yet, or every sector decoded)."""
    assert profile.flux is not None
    plan = unfinished_plan(job)
    if plan is not None:
        plan.device = device or plan.device
        return plan
    if not session.capture_sources(job):
        return CapturePlan.first(profile.flux, device)
    if not flux_run.decoded(previous):
        return None
    bad = (previous.flux or {}).get("bad_tracks", []) if previous else []
    if not bad:
        return None
    return CapturePlan.retry(profile.flux, [(int(c), int(h)) for c, h in bad],
                             max(1, next_round(job)), device)


def master_files(job: Path) -> list[Path]:
    """The capture files of the job: gw's tracks and whatever was brought in."""
    folder = job / FLUX_DIR
    return capture_files(job) + (session.visible_files(folder / IMPORT_DIR)
                                 if (folder / IMPORT_DIR).is_dir() else [])


def _format_of(files: list[Path]) -> str:
    suffixes = {f.suffix.lower() for f in files}
    return "scp" if ".scp" in suffixes else "hfe" if ".hfe" in suffixes else "kryoflux"


def image_layout(station: Station, item_id: str, profile: MediaProfile, job: Path,
                 layout: Layout, identity: Any, info: dict[str, Any], command: str = ""
                 ) -> JobRecord:
    """The engine over the laid-out sectors, then the flux facts in the job record.
    A disk that is not uniform declares its own size (its ID fields do, as a FAT boot
    sector does): the profile's list of sizes does not judge it."""
    declares = _ids_declare_size(station, profile, layout)
    reading = replace(profile, expected_sizes=(layout.size,)) if declares else profile
    # the decode read the medium: the layout answers at once and the same way every
    # time, so the dead-medium sample, the failing-read checks and the budgets (made for
    # a drive struggling with a disk) would only leave untried areas and wrong advice
    reading = replace(reading, dead_sample=0, max_consecutive_failures=0,
                      time_budget_seconds=0.0, failure_budget=0)
    source = FluxSource(layout, identity.path, identity)
    d88 = None
    if not layout.uniform and layout.slots:
        write_d88(layout, job / D88_NAME, name=item_id[:16])
        d88 = _entry(job, job / D88_NAME, profile)
    with source:
        # one retry pass: a new decode (more revolutions) fills the map's bad areas; a
        # sector the decoder could not give fails the same way however often it is read
        record = image_source(source, reading, item_id, station.settings, job, retries=1,
                              command=command, cancel=station.cancel,
                              progress=lambda p: station.progress("image", p))
    files = master_files(job)
    record.flux = {
        "method": "flux", "format": info.get("format", _format_of(files)),
        "revolutions": info.get("revolutions", 0),
        "revolutions_min": info.get("revolutions_min", info.get("revolutions", 0)),
        "decoder": info.get("decoder", ""),
        "rounds": info.get("rounds", 0),
        "files": [_entry(job, f, profile) for f in files],
        "d88": d88, "fits": layout.fitting_profiles(station.profiles),
        "bad_tracks": [list(t) for t in sorted({(s.cylinder, s.head) for s in layout.slots
                                                if not s.good})],
        "layout": layout.report(), "decoded": utc_now()}
    record.expected_sizes = list(profile.expected_sizes)
    if declares:
        record.declared_size, record.declared_by = layout.size, DECLARED_BY
    _judge_undecoded(record, layout)
    _judge_disagreeing(record, layout)
    # no drive or write blocker cut it short: the capture lacks tracks (or is another disk)
    flux_words = {"truncated": "flux_short", "size_mismatch": "flux_size"}
    if record.reason and record.reason.code in flux_words:
        record.reason = Reason.of(flux_words[record.reason.code], **record.reason.params)
    record.save(job)
    return record


def _ids_declare_size(station: Station, profile: MediaProfile, layout: Layout) -> bool:
    """Whether the disk's ID fields, not the profile's sizes, say how big its image is:
    a disk no profile describes (mixed sizes or encodings, DMF, a format without a
    profile), captured over every cylinder the profile reads. A capture that stopped
    short is judged by the profile's sizes (too small: not the whole disk)."""
    wanted = (profile.flux.cylinders, profile.flux.heads) if profile.flux else (0, 0)
    cylinders = max((t.cylinder for t in layout.tracks), default=-1) + 1
    heads = len({t.head for t in layout.tracks if t.status != "missing"})  # one side: short
    return cylinders >= wanted[0] and heads >= wanted[1] and bool(layout.slots) and (
        not layout.uniform or not layout.fitting_profiles(station.profiles))


def _judge_disagreeing(record: JobRecord, layout: Layout) -> None:
    """Sectors whose good reads differ (unstable bits, or captures of two disks): the
    vote chose, but the image is not certain there, so never a success."""
    tracks = sorted({(s.cylinder, s.head) for s in layout.slots if s.disagree})
    if not tracks or record.outcome != Outcome.SUCCESS.value:
        return
    record.outcome = Outcome.PARTIAL.value
    count = sum(s.disagree for s in layout.slots)
    record.reason = Reason.of("flux_disagreeing", sectors=count, tracks=", ".join(
        f"{c}:{h}" for c, h in tracks[:12]) + (" ..." if len(tracks) > 12 else ""))
    if record.runs:
        record.runs[-1].outcome = record.outcome


def _judge_undecoded(record: JobRecord, layout: Layout) -> None:
    """Tracks of an encoding not decoded: never a success, whatever the map says."""
    tracks = layout.undecoded
    if not tracks or record.outcome not in (Outcome.SUCCESS.value, Outcome.PARTIAL.value,
                                            Outcome.FAILED.value):
        return
    names = ", ".join(f"{t.cylinder}:{t.head}" for t in tracks[:12]) + \
        (" ..." if len(tracks) > 12 else "")
    if record.outcome == Outcome.SUCCESS.value:
        record.outcome = Outcome.PARTIAL.value
    record.reason = Reason.of("flux_not_decoded", tracks=names)
    if record.runs:
        record.runs[-1].outcome = record.outcome


def _entry(job: Path, path: Path, profile: MediaProfile) -> dict[str, Any]:
    return {"file": str(path.relative_to(job)), "size": path.stat().st_size,
            "digests": _digests(path, profile.digests)}


def _digests(path: Path, algorithms: tuple[str, ...]) -> dict[str, str]:
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def method_text(record: JobRecord) -> str:
    """The method in words (English: the ledger keeps it so)."""
    flux = record.flux or {}
    return (f"flux ({flux.get('format', '?')} capture, {revolutions_text(flux)} "
            f"revolution(s) a track, {len(flux.get('files', []))} file(s); decoder "
            f"{flux.get('decoder') or 'workbench ' + __version__})")


def _record_method(station: Station, record: JobRecord) -> None:
    """The ledger's record of how the carrier was read: an event on the attempt."""
    st = station.state(record.item_id)
    if st.attempt is None or not record.runs:
        return
    run = record.runs[-1]
    ledger.record_event(station.con, str(st.attempt["attempt"]), record.item_id,
                        station.settings.station_id, "flux", run.started,
                        run.ended or utc_now(), "recorded", method_text(record),
                        key=run.started)


def method_of(station: Station, item_id: str) -> str:
    """The imaging method of the carrier's current attempt: "flux" or "drive"."""
    st = station.state(item_id)
    if st.attempt is None:
        return ""
    row = station.con.execute("SELECT 1 FROM events WHERE attempt = ? AND step = 'flux'",
                              (str(st.attempt["attempt"]),)).fetchone()
    return "flux" if row else "drive"
