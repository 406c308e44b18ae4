"""One migration: pre-flight -> image -> verify -> identify -> bag -> tape staging.

Every step is idempotent: run the same migration again after a crash and it continues
where it stopped (the imaging map resumes, finished steps are skipped), and the ledger
gets no duplicate rows (stable ids). Each step is recorded as an event.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.errors import BadInput
from workbench.imaging.engine import image, job_dir
from workbench.imaging.record import MAP_NAME, JobRecord, Outcome, utc_now
from workbench.ledger import record as ledger
from workbench.ledger.db import connect
from workbench.profiles import MediaProfile, load_profiles

FINAL_IMAGING = ("success", "partial", "failed")


@dataclass
class MigrationResult:
    item_id: str
    record: JobRecord
    job_dir: Path
    bag: Path | None = None
    copies: list[Any] = field(default_factory=list)
    report: dict[str, Any] | None = None
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # step, outcome, detail


def step_line(step: str, outcome: str, detail: str) -> str:
    """One pipeline step in words (the CLI and the station UI show the same)."""
    from workbench.i18n import t
    translated = t(f"outcome.{outcome}") if outcome in (
        "success", "partial", "failed", "aborted") else outcome
    return t("migrate.step", step=t(f"step.{step.split(' ')[0]}"), outcome=translated,
             detail=detail)


def verify_image(job: Path, record: JobRecord) -> tuple[bool, str]:
    """Read the image file once and compare its digests with those made while imaging."""
    hashes = {a: hashlib.new(a) for a in record.digests}
    with open(job / record.image, "rb") as fh:
        while block := fh.read(8 << 20):
            for h in hashes.values():
                h.update(block)
    bad = [a for a, h in hashes.items() if h.hexdigest() != record.digests[a]]
    return not bad, ("digests match: " + ", ".join(sorted(hashes))) if not bad else (
        "digest mismatch: " + ", ".join(bad))


class Migration:
    def __init__(self, settings: Settings, progress: Callable[[str, Any], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.settings = settings
        self.progress = progress or (lambda step, p: None)
        self.cancel = cancel or threading.Event()
        self.profiles = load_profiles(settings.paths.profiles)
        self.con = connect(settings.paths.ledger)

    def close(self) -> None:
        self.con.close()

    def _step(self, result: MigrationResult, attempt: str, step: str, outcome: str,
              detail: str, started: str, key: str = "") -> None:
        result.steps.append((step, outcome, detail))
        ledger.record_event(self.con, attempt, result.item_id, self.settings.station_id, step,
                            started, utc_now(), outcome, detail, key=key)

    def migrate(self, source: str | Path | None, profile: MediaProfile, item_id: str,
                batch: str = "", retries: int | None = None, command: str = "",
                new_attempt: bool = False, review_partial: bool = False,
                review: bool = False) -> MigrationResult:
        """review_partial: stop after imaging a partial carrier, so the technician can
        retry it before accepting it (`workbench bag` accepts it later). review: stop
        after imaging and identification whatever the outcome (the station UI shows the
        result first; running migrate again accepts it and continues)."""
        job = job_dir(self.settings, item_id)
        record = JobRecord.load(job)
        if record is not None and record.outcome in FINAL_IMAGING and new_attempt \
                and (self.settings.paths.bags / item_id).exists():
            raise BadInput("error.retry_bagged", item=item_id)
        needs_imaging = record is None or record.outcome not in FINAL_IMAGING or new_attempt
        if needs_imaging:
            if source is None:
                raise BadInput("error.no_source_for", item=item_id)
            if record is not None and record.profile_id != profile.id:
                raise BadInput("error.job_mismatch", folder=str(job), item=record.item_id,
                               profile=record.profile_id)
            record = image(source, profile, item_id, self.settings, out_dir=job,
                           retries=retries, command=command,
                           progress=lambda p: self.progress("image", p), cancel=self.cancel)
        assert record is not None
        result = MigrationResult(item_id, record, job)
        attempt = ledger.record_job(self.con, record, job, batch=batch,
                                    label=profile.label("en"))
        assert attempt is not None
        # recorded on every run (stable id): a crash between imaging and the ledger
        # must not lose the step
        self._step(result, attempt, "imaging", record.outcome,
                   record.reason.text if record.reason else "", record.runs[-1].started,
                   key=record.runs[-1].started)
        if record.outcome not in ("success", "partial"):
            return result  # failed or aborted: recorded, nothing to package
        if (review or (record.outcome == "partial" and review_partial)) and \
                not (self.settings.paths.bags / item_id).exists():
            if review:
                self.identify(result, attempt)
            return result
        self._after_imaging(result, attempt, batch)
        return result

    def _after_imaging(self, result: MigrationResult, attempt: str, batch: str) -> None:
        from workbench.package.carrier import bag_job
        from workbench.tape import stage

        record, job = result.record, result.job_dir
        started = utc_now()
        ok, detail = verify_image(job, record)
        self._step(result, attempt, "verification", "success" if ok else "failed", detail,
                   started, key=record.digests.get("sha256", ""))
        if not ok:
            raise BadInput("error.verify_failed", item=record.item_id, detail=detail)
        self.identify(result, attempt)
        started = utc_now()
        bag = bag_job(job, self.settings, batch=batch or None,
                      progress=lambda p: self.progress("bag", p), cancel=self.cancel)
        result.bag = bag.path
        ledger.record_bag(self.con, attempt, record.item_id, self.settings.station_id,
                          bag.path, bag.payload_oxum)
        self._step(result, attempt, "packaging", "success", f"{bag.path} ({bag.payload_oxum})",
                   started, key=bag.payload_oxum)
        if not stage.station_tapes(self.settings):
            return  # no tape pools mounted: staging waits for `workbench tape write`
        copies, _ = stage.run_plan(self.settings, [bag.path],
                                   lambda p: self.progress("tape", p), self.cancel)
        for entry in stage.Catalogue(self.settings.paths.logs / "tape-catalogue.json"
                                     ).copies(bag.path.name):
            ledger.record_tape_copy(self.con, record.item_id, self.settings.station_id, entry)
            self._step(result, attempt, f"tape copy {entry.copy}", entry.result,
                       f"{entry.barcode} ({entry.pool}) {entry.detail}".strip(),
                       entry.written or utc_now(), key=f"{entry.barcode}|{entry.verified}")
        result.copies = copies

    def identify(self, result: MigrationResult, attempt: str) -> dict[str, Any]:
        """The format report (made once, kept in the job folder), recorded in the ledger."""
        from workbench.package.carrier import format_report

        record, job = result.record, result.job_dir
        started = utc_now()
        format_report(job, record, self.settings, lambda p: self.progress("identify", p),
                      self.cancel)
        report = json.loads((job / "formats.json").read_text(encoding="utf-8"))
        ledger.record_formats(self.con, attempt, record.item_id, self.settings.station_id,
                              report["files"])
        self._step(result, attempt, "identification", "success",
                   f"{report['summary']['files']} files, "
                   f"{len(report['summary']['unidentified'])} unidentified", started,
                   key=report.get("started", ""))
        result.report = report
        return report

    def note(self, item_id: str, text: str) -> None:
        """A technician's note on the carrier's current attempt (an event, kept)."""
        row = self.con.execute("SELECT attempt FROM current_attempts WHERE item_id = ? "
                               "ORDER BY started DESC, seq DESC LIMIT 1", (item_id,)).fetchone()
        if row is not None:
            now = utc_now()
            ledger.record_event(self.con, row["attempt"], item_id, self.settings.station_id,
                                "note", now, now, "recorded", text, key=text)

    def retry(self, item_id: str, retries: int | None = None, drive: str | None = None,
              command: str = "", review_partial: bool = False) -> MigrationResult:
        record = JobRecord.load(job_dir(self.settings, item_id))
        if record is None:
            raise BadInput("error.no_job", folder=str(job_dir(self.settings, item_id)))
        profile = self.profiles[record.profile_id]
        batch = self.con.execute("SELECT batch FROM current_attempts WHERE item_id = ? "
                                 "ORDER BY started DESC, seq DESC LIMIT 1", (item_id,)).fetchone()
        return self.migrate(drive or record.source, profile, item_id,
                            batch=batch["batch"] if batch else "", retries=retries,
                            command=command, new_attempt=record.outcome in FINAL_IMAGING,
                            review_partial=review_partial)


__all__ = ["MAP_NAME", "Migration", "MigrationResult", "Outcome", "step_line",
           "verify_image"]
