"""Packaging one carrier: its accepted imaging job becomes one BagIt bag.

    result = bag_job(job_dir, settings)

The payload is the image and its map; the job record, the format report and the PREMIS
events are tag files under metadata/ (BagIt profile: profiles/bagit/). Manifests come
from the digests computed while imaging. Running it again after a crash rebuilds the
partial bag; running it on a finished bag checks it and returns it.

A bag never changes: the image is handed over to the bag (hard-linked into it, then its
staging name removed; copied and checked across file systems) and the map is copied, so
no file of the bag stays writable through staging. A later read of the carrier starts
from a copy (workbench.station). The format report is tied to the image and map it
describes (formats.key): when either changes, the report is made again.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.atomic import fsync_dir, write_atomic
from workbench.carrier_info import CarrierInfo, CarrierTags, condition_words
from workbench.config import Settings
from workbench.errors import BadInput
from workbench.identify.report import WRITERS, FormatReport
from workbench.imaging.readonly import runs_note
from workbench.imaging.record import MAP_NAME, JobRecord, Outcome, utc_now
from workbench.imaging.sources import describe_drive
from workbench.package.bags import PayloadFile, TagFile, read_info, write_bag
from workbench.package.premis import (
    Agent,
    Event,
    PremisDocument,
    PremisObject,
    described_in_premis,
)
from workbench.package.profile import BagProfile, load_bag_profile
from workbench.package.validate import validate_bag
from workbench.profiles import load_profiles
from workbench.scan import record as scan_record

ACCEPTED = (Outcome.SUCCESS.value, Outcome.PARTIAL.value)
REPORT_JSON, REPORT_CSV, REPORT_KEY = "formats.json", "formats.csv", "formats.key"


@dataclass(frozen=True)
class BagResult:
    path: Path
    created: bool
    payload_oxum: str
    algorithms: tuple[str, ...]


def format_report(job_dir: Path, record: JobRecord, settings: Settings,
                  progress: Callable[[Any], None] | None = None,
                  cancel: threading.Event | None = None) -> tuple[FormatReport | None, bytes,
                                                                   bytes]:
    """The job's format report (made now if the job has none yet): (report, json, csv)."""
    json_path, csv_path = job_dir / REPORT_JSON, job_dir / REPORT_CSV
    key = report_key(job_dir, record)
    if json_path.is_file() and csv_path.is_file() and _read(job_dir / REPORT_KEY) == key:
        return None, json_path.read_bytes(), csv_path.read_bytes()
    from workbench.identify.engine import identify_image  # only when the job has no report
    from workbench.scan.virus import VirusScan, not_scanned
    digests = tuple(a for a in ("sha256", "md5") if a in record.digests) or ("sha256",)
    if record.image:  # the virus scan reads each file's bytes as identification does
        report = identify_image(job_dir / record.image, settings,
                                map_path=job_dir / MAP_NAME, digests=digests,
                                progress=progress, cancel=cancel,
                                scanner=VirusScan.for_settings(settings),
                                **_sessions_of(record))
    else:  # a disc of audio or video tracks only: no file system to look into
        report = FormatReport(image="", image_size=0, workbench_version=__version__,
                              started=utc_now(), ended=utc_now(),
                              virus_scan=not_scanned("no data image: audio or video "
                                                     "tracks only, no files to scan"))
    outputs = {}
    for name, writer in WRITERS.items():
        buf = io.StringIO()
        writer(report, buf)
        outputs[name] = buf.getvalue().encode("utf-8")
        write_atomic(job_dir / f"formats.{name}", outputs[name])
    write_atomic(job_dir / REPORT_KEY, key)  # last: a crash before it makes it again
    return report, outputs["json"], outputs["csv"]


def _sessions_of(record: JobRecord) -> dict[str, Any]:
    """The data sessions' start LBAs from a disc's TOC, for identification to list the
    files of every session (without a TOC it finds them itself)."""
    if not record.disc:
        return {}
    from workbench.optical.toc import Disc, data_session_starts
    starts = data_session_starts(Disc.from_dict(record.disc), record.image_tracks)
    return {"sessions": starts} if starts else {}


def report_key(job_dir: Path, record: JobRecord) -> str:
    """What a format report describes: the image (its digests) and the map (damage)."""
    map_path = job_dir / MAP_NAME
    map_digest = hashlib.sha256(_map_blocks(map_path)).hexdigest() if map_path.is_file() \
        else ""
    return f"image sha256 {record.digests.get('sha256', '')}\nmap blocks sha256 {map_digest}\n"


def _map_blocks(path: Path) -> bytes:
    """The map's data lines (its comment lines hold times that change on every save)."""
    return b"".join(line for line in path.read_bytes().splitlines(keepends=True)
                    if not line.startswith(b"#"))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _premis(record: JobRecord, map_bytes: bytes, report_json: bytes, now: str,
            carrier: CarrierTags | None = None) -> bytes:
    report = json.loads(report_json)
    workbench = Agent("software", "migration workbench", __version__)
    drive = Agent("hardware", describe_drive(record.drive))
    operator = Agent("person", record.operator) if record.operator else None
    fido = Agent("software", "fido (opf-fido)", report.get("fido_version") or "unknown")
    signatures = report.get("signatures") or "unknown signature version"
    map_id = f"{record.item_id}/data/{MAP_NAME}"
    fmt = report.get("image_format", {})
    people = ((operator, "implementer"),) if operator else ()
    outcome = "success" if record.outcome == Outcome.SUCCESS.value else "partial"
    objects = []
    if record.image:
        objects += [PremisObject(f"{record.item_id}/data/{record.image}", record.image,
                                 record.size, dict(record.digests),
                                 fmt.get("name") or f"{fmt.get('file_system', '')} disk image",
                                 fmt.get("puid", "")),
                    PremisObject(map_id, MAP_NAME, len(map_bytes),
                                 {"sha256": hashlib.sha256(map_bytes).hexdigest()},
                                 "GNU ddrescue mapfile")]
    for session in (record.disc or {}).get("session_digests", []):  # and per session
        objects.append(PremisObject(
            f"{record.item_id}/data/{record.image}#session-{session['session']}",
            f"{record.image}, session {session['session']} (LBA {session['first_lba']}, "
            f"{session['sectors']} sectors)", session["sectors"] * 2048,
            {"sha256": session["sha256"]}, "ISO 9660 session of a multi-session disc"))
    for track in record.tracks:  # a disc's raw tracks: a digest per track
        if track.get("done"):
            objects.append(PremisObject(
                f"{record.item_id}/data/{track['file']}", track["file"],
                track["sectors"] * 2352, dict(track["digests"]),
                f"CD track {track['number']} ({track['mode']}), raw 2352-byte sectors"))
    from workbench.package.premis_flux import capture_detail, flux_objects
    objects += flux_objects(record)
    image_id = objects[0].identifier if objects else map_id
    ids = tuple(o.identifier for o in objects)
    from workbench.identify.emulation_premis import premis_environments
    environments = premis_environments(report.get("environment") or {}, image_id)
    if objects and environments:  # the image needs its original environment to render
        objects[0].requires = tuple(e.identifier for e in environments)
    described = described_in_premis(carrier, record.operator)
    doc = PremisDocument(
        objects=objects + described.objects, environments=environments,
        entities=described.entities,
        events=[
            Event("capture", record.started, outcome,
                  capture_detail(record) or
                  f"rescue imaging (copy, trim, scrape, retries) of a {record.profile_id} "
                  f"carrier in {len(record.runs)} run(s)",
                  f"{record.bytes_rescued} bytes rescued, {record.bad_sector_count} bad "
                  f"sectors, {record.read_errors} read errors" + runs_note(record.runs),
                  ((workbench, "executing program"), (drive, "executing program"), *people),
                  ids),
            Event("message digest calculation", record.ended, "success",
                  "digests computed while reading the medium: "
                  + ", ".join(sorted(record.digests)),
                  agents=((workbench, "executing program"),), objects=ids),
            Event("format identification", report.get("ended") or now,
                  "success" if report.get("complete", True) else "incomplete",
                  f"fido {fido.version} in process over every file of the image "
                  f"({report['summary']['files']} files); signatures: {signatures}; local "
                  "signatures (wb-fmt/N) of the migration workbench",
                  f"{len(report['summary']['unidentified'])} unidentified",
                  ((fido, "executing program"), (workbench, "executing program")),
                  (image_id,)),
            scan_record.virus_event(report, now, image_id),
            Event("validation", now, "success",
                  "BagIt 1.0 (RFC 8493) and BagIt profile "
                  "urn:x-migration-workbench:bagit-profile:carrier:1.0",
                  agents=((workbench, "validator"),), objects=ids),
            *described.events,
            Event("packing", now, "success", "BagIt 1.0 bag, manifests from imaging digests",
                  agents=((workbench, "executing program"), *people),
                  objects=ids + tuple(o.identifier for o in described.objects)),
        ])
    return doc.to_xml()


def _info(record: JobRecord, settings: Settings, profile: BagProfile, batch: str | None,
          bag_count: str | None, label: str, carrier: CarrierTags | None = None
          ) -> list[tuple[str, str]]:
    drive = describe_drive(record.drive)
    meta = carrier.info if carrier is not None else None
    info = [("Source-Organization", settings.organisation),
            ("Contact-Name", settings.contact_name),
            ("Contact-Email", settings.contact_email),
            ("External-Identifier", record.item_id),
            ("External-Description", f"{meta.title} ({label})" if meta and meta.title
             else label),
            ("Bagging-Date", datetime.now(UTC).date().isoformat())]
    info += carrier_fields(meta, batch, bag_count)
    info += [("BagIt-Profile-Identifier", profile.identifier),
             ("Bag-Software-Agent", f"migration workbench {__version__}"),
             ("Media-Type", record.profile_id), ("Media-Family", record.media_family),
             ("Imaging-Outcome", record.outcome),
             ("Bad-Sector-Count", str(record.bad_sector_count)),
             ("Drive", drive), ("Operator", record.operator or settings.operator),
             ("Station", record.station_id)]
    return [(k, v) for k, v in info if v != ""]


def bag_job(job_dir: Path, settings: Settings, batch: str | None = None,
            bag_count: str | None = None, progress: Callable[[Any], None] | None = None,
            cancel: threading.Event | None = None, name: str | None = None,
            carrier: CarrierTags | None = None) -> BagResult:
    """The job's bag under paths.bags/<name> (name: the item ID, or ITEM+vN for the
    N-th version after a withdrawal). carrier: the carrier's description and photos
    (metadata/carrier.json, metadata/photos/, bag-info fields, PREMIS events)."""
    record = JobRecord.load(job_dir)
    if record is None:
        raise BadInput("error.no_job", folder=str(job_dir))
    if record.outcome not in ACCEPTED:
        raise BadInput("error.bag_not_accepted", item=record.item_id, outcome=record.outcome)
    profile = load_bag_profile(settings.paths.profiles)
    target = settings.paths.bags / (name or record.item_id)
    map_path = job_dir / MAP_NAME
    if target.exists():
        problems = validate_bag(target, profile, fast=True)
        if problems:
            raise BadInput("error.bag_invalid", bag=str(target), problems="; ".join(problems))
        for name, _ in record.payload():  # a crash right after the rename
            hand_over(job_dir / name, target / "data" / name)
        return BagResult(target, False, dict(read_info(target))["Payload-Oxum"],
                         tuple(p.name[9:-4] for p in sorted(target.glob("manifest-*.txt"))))
    needed = [job_dir / name for name, _ in record.payload()] + \
        ([map_path] if record.image else []) + ([job_dir / record.cue] if record.cue else [])
    for path in needed:
        if not path.is_file():
            raise BadInput("error.bag_missing_file", file=str(path))
    _, report_json, report_csv = format_report(job_dir, record, settings, progress, cancel)
    media = load_profiles(settings.paths.profiles).get(record.profile_id)
    label = media.label("en") if media else record.profile_id
    first = record.payload()[0][1] if record.payload() else {}
    algorithms = tuple(a for a in ("sha256", "md5", "sha512") if a in first)
    now = utc_now()
    map_bytes = map_path.read_bytes() if record.image else b""
    tags = [TagFile("metadata/job.json", (job_dir / "job.json").read_bytes()),
            TagFile(f"metadata/{REPORT_JSON}", report_json),
            TagFile(f"metadata/{REPORT_CSV}", report_csv),
            TagFile("metadata/premis.xml", _premis(record, map_bytes, report_json, now,
                                                   carrier)),
            TagFile(scan_record.TAG_FILE, scan_record.tag_file(json.loads(report_json)))]
    if carrier is not None:  # photos show the carrier; they are not its content: tag files
        tags.append(TagFile("metadata/carrier.json", carrier.info.to_json().encode()))
        tags += [TagFile(f"metadata/photos/{p.name}", data) for p, data in carrier.photos]
    payload = [PayloadFile(job_dir / name, name, digests) for name, digests in record.payload()]
    if record.image:
        payload.append(PayloadFile(map_path, MAP_NAME, {}, link=False))
    if record.cue and not record.cue_digests:  # a record from before its digests
        payload.append(PayloadFile(job_dir / record.cue, record.cue, {}, link=False))
    settings.paths.bags.mkdir(parents=True, exist_ok=True)
    info = _info(record, settings, profile, batch, bag_count, label, carrier)
    info.append(("Virus-Scan", scan_record.words(json.loads(report_json))))
    path = write_bag(target, payload, tags, info, algorithms,
                     lambda partial: validate_bag(partial, profile, fast=True), cancel)
    for name, _ in record.payload():
        hand_over(job_dir / name, path / "data" / name)
    return BagResult(path, True, dict(read_info(path))["Payload-Oxum"], algorithms)


def carrier_fields(meta: CarrierInfo | None, batch: str | None, bag_count: str | None
                   ) -> list[tuple[str, str]]:
    """bag-info fields of the description. A volume of a set: Bag-Group-Identifier is
    the set (its catalogue record) and Bag-Count "N of M" counts in it (RFC 8493); the
    batch, if any, then goes to Batch-Identifier. Otherwise the group is the batch.
    The catalogue record is Internal-Sender-Identifier (External-Identifier stays the
    item ID: the volumes of a set share one record, so it cannot name a bag)."""
    fields: list[tuple[str, str]] = []
    in_set = meta is not None and meta.volumes is not None and bool(meta.record_id)
    if in_set and meta is not None:
        fields.append(("Bag-Group-Identifier", meta.record_id))
    elif batch:
        fields.append(("Bag-Group-Identifier", batch))
    count = bag_count or (meta.bag_count if meta is not None else "")
    if count:
        fields.append(("Bag-Count", count))
    if meta is None:
        return fields
    if in_set and batch:
        fields.append(("Batch-Identifier", batch))
    fields.append(("Internal-Sender-Identifier", meta.record_id))
    fields.append(("Carrier-Condition", condition_words(meta.conditions, "en")))
    fields.append(("Carrier-Condition-Note", meta.condition_note))
    fields.append(("Carrier-Photos", str(len(meta.photos)) if meta.photos else ""))
    return fields


def hand_over(staging: Path, bagged: Path) -> bool:
    """Remove the staging name of an image the bag holds as the same file (hard link):
    the bytes stay, in the bag; nothing in staging can write into the bag any more."""
    try:
        a, b = staging.stat(), bagged.stat()
    except FileNotFoundError:
        return False
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
        return False  # a copy (another file system): staging keeps its own file
    staging.unlink()
    fsync_dir(staging.parent)
    return True
