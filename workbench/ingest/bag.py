"""The ingest's bag (BagIt 1.0): payload = the files as copied (hard-linked from the job
folder, digests known), tag files = the ingest report, the job record and PREMIS.
Checked against the ingest BagIt profile (profiles/bagit/workbench-ingest.json)."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from workbench import __version__
from workbench.config import Settings
from workbench.errors import ConfigError
from workbench.imaging.record import utc_now
from workbench.ingest.copy import FILES, MISMATCH, VERIFIED, IngestReport
from workbench.package.bags import PayloadFile, TagFile, write_bag
from workbench.package.premis import Agent, Event, PremisDocument, PremisObject
from workbench.package.profile import BagProfile
from workbench.package.validate import validate_bag
from workbench.scan import record as scan_record

PROFILE = "workbench-ingest.json"


def ingest_profile(settings: Settings) -> BagProfile:
    path = settings.paths.profiles / "bagit" / PROFILE
    try:
        return BagProfile(json.loads(path.read_text("utf-8")), path)
    except (OSError, ValueError) as exc:
        raise ConfigError("error.bad_bag_profile", file=str(path), detail=str(exc)) from exc


def _premis(report: IngestReport, media_type: str) -> bytes:
    software = Agent("software", "migration workbench", __version__)
    agents = ((software, "executing program"),)
    ids = tuple(f.name for f in report.files)
    doc = PremisDocument(objects=[PremisObject(f"data/{f.name}", f.path, f.size, f.digests)
                                  for f in report.files])
    now = report.ended or utc_now()
    where = report.source.get("path", "")
    doc.events.append(Event("ingestion", report.started, report.outcome,
                            f"{len(report.files)} files copied from {media_type} {where}",
                            "; ".join(report.errors[:5]), agents, ids))
    doc.events.append(Event("message digest calculation", now, "success",
                            "sha256 of every file computed while it was read", "", agents,
                            ids))
    for lst in report.lists:
        checked = [f for f in report.files if any(c["list"] == lst["path"]
                                                  for c in f.expected)]
        bad = [f for f in checked if any(c["list"] == lst["path"] and not c["ok"]
                                         for c in f.expected)]
        missing = [m for m in report.missing if m["list_path"] == lst["path"]]
        note = "; ".join([f"{f.path}: differs" for f in bad[:20]]
                         + [f"{m['name']}: listed, not on the source" for m in missing[:20]])
        doc.events.append(Event("fixity check", now, "failure" if bad or missing else
                                "success", f"checked against {lst['path']}: "
                                f"{len(checked) - len(bad)} of {lst['entries']} match",
                                note, agents, tuple(f.name for f in checked)))
    virus = scan_record.virus_event({"virus_scan": report.virus_scan}, now, report.item_id)
    kind = report.source.get("kind", "source")  # a folder has no image to stream from
    doc.events.append(dataclasses.replace(virus, detail=virus.detail.replace(
        "files streamed from the image", f"files copied from the {kind}")))
    return doc.to_xml()


def bag_ingest(job: Path, report: IngestReport, settings: Settings, target: Path,
               media_type: str, job_json: bytes, operator: str,
               cancel: threading.Event | None = None) -> Path:
    profile = ingest_profile(settings)
    payload = [PayloadFile(job / FILES / f.name, f.name, dict(f.digests)) for f in report.files]
    info = [("Source-Organization", settings.organisation),
            ("Contact-Name", settings.contact_name), ("Contact-Email", settings.contact_email),
            ("External-Identifier", report.item_id),
            ("External-Description", f"files ingested from {report.source.get('kind', '')} "
                                     f"{report.source.get('path', '')}"),
            ("Bagging-Date", datetime.now(UTC).date().isoformat()),
            ("BagIt-Profile-Identifier", profile.identifier),
            ("Bag-Software-Agent", f"migration workbench {__version__}"),
            ("Media-Type", media_type), ("Media-Family", "ingest"),
            ("Ingest-Outcome", report.outcome),
            ("Files-Verified", str(len(report.of(VERIFIED)))),
            ("Files-Unlisted", str(len(report.unverified))),  # the lists themselves not counted
            ("Checksum-Mismatches", str(len(report.of(MISMATCH)))),
            ("Damaged-Files", str(len(report.of("damaged")))),
            ("Listed-Missing", str(len(report.missing))),
            ("Mismatches-Accepted-By", report.decision),
            ("Source", str(report.source.get("path", ""))),
            ("Operator", operator or settings.operator), ("Station", settings.station_id),
            ("Virus-Scan", scan_record.words({"virus_scan": report.virus_scan}))]
    tags = [TagFile("metadata/ingest.json", report.to_json().encode("utf-8")),
            TagFile("metadata/job.json", job_json),
            TagFile("metadata/premis.xml", _premis(report, media_type)),
            TagFile(scan_record.TAG_FILE, scan_record.tag_file({"virus_scan":
                                                                report.virus_scan}))]
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_bag(target, payload, tags, [(k, v) for k, v in info if v != ""],
                     ("sha256",), lambda partial: validate_bag(partial, profile, fast=True),
                     cancel)
