"""The job record: one versioned JSON document beside the image, written atomically.

Later steps (identify, bag, ledger, TUI) read this; its JSON Schema ships as
job.schema.json next to this module.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from workbench.atomic import write_atomic
from workbench.errors import BadInput, ExitCode
from workbench.i18n import t

SCHEMA = "workbench-job"
SCHEMA_VERSION = 1
RECORD_NAME = "job.json"
MAP_NAME = "image.map"


class Outcome(StrEnum):
    RUNNING = "running"  # a run is in progress, or crashed: the next run resumes
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def exit_code(self) -> ExitCode:
        return {Outcome.SUCCESS: ExitCode.SUCCESS, Outcome.PARTIAL: ExitCode.PARTIAL,
                Outcome.FAILED: ExitCode.FAILED}.get(self, ExitCode.ABORTED)


def utc_now() -> str:
    """UTC to the microsecond ("2026-11-26T03:00:05.123456Z"): several drives and quick
    steps act within one second, and times order them. Records written before this
    carry whole seconds ("...:05Z"); order them with workbench.ledger.db.sort_time."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Reason:
    """Why the outcome is what it is: a code for machines, params, and English text."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    @classmethod
    def of(cls, code: str, **params: Any) -> Reason:
        return cls(code, params, t(f"reason.{code}", lang="en", **params))

    def message(self, lang: str | None = None) -> str:
        params = dict(self.params)
        if self.code == "truncated":  # records before FAT sizes were checked
            params.setdefault("volume", "ISO 9660")
        return t(f"reason.{self.code}", lang=lang, **params)


@dataclass
class PassRecord:
    phase: str  # copy | trim | scrape | retry | digest
    number: int
    direction: str  # forward | backward
    bytes_attempted: int = 0
    bytes_rescued: int = 0
    read_errors: int = 0
    seconds: float = 0.0


@dataclass
class Run:
    """One invocation of the engine on this job (a resume or a retry adds one)."""

    started: str
    ended: str = ""
    command: str = ""
    operator: str = ""
    station_id: str = ""
    drive: dict[str, str] = field(default_factory=dict)
    bytes_read_from_medium: int = 0
    read_errors: int = 0
    outcome: str = Outcome.RUNNING.value
    passes: list[PassRecord] = field(default_factory=list)
    # reads made before imaging to show that the drive holds this job's carrier: not
    # counted in bytes_read_from_medium, which is what the passes read
    bytes_read_to_compare: int = 0
    # first_read | same | same_extended: the result of that comparison (checks.py)
    carrier_check: dict[str, Any] = field(default_factory=dict)
    # an optical drive asked to read more slowly after errors: each new speed, and why
    speed_changes: list[str] = field(default_factory=list)
    ejected: bool = False  # the tray was opened when imaging was done
    # the block device kept read-only while imaged (BLKROSET), and the medium's
    # write-protect state as the device reported it (workbench/imaging/readonly.py)
    protection: dict[str, Any] = field(default_factory=dict)


_INTS = ("size", "device_size", "sector_size", "bytes_rescued", "bytes_bad",
         "bad_sector_count", "bytes_untried", "read_errors")
_STRS = ("item_id", "profile_id", "media_family", "station_id", "image", "outcome")


def _check_types(data: dict[str, Any]) -> None:
    """A record edited by hand or by another program: the wrong type is named, not met
    later as a traceback."""
    def fail(key: str, want: str) -> None:
        raise ValueError(f"{key} must be {want}, not {data[key]!r}"[:200])
    for key in _INTS:
        if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool)):
            fail(key, "a whole number")
    for key in _STRS:
        if key in data and not isinstance(data[key], str):
            fail(key, "text")
    if "digests" in data and not (isinstance(data["digests"], dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in data["digests"].items())):
        fail("digests", "a table of text")
    for key in ("bad_ranges", "untried_ranges"):
        if key in data and not (isinstance(data[key], list) and all(
                isinstance(r, list) and len(r) == 2 and all(isinstance(n, int) for n in r)
                for r in data[key])):
            fail(key, "a list of [position, size] pairs")
    if "runs" in data and not (isinstance(data["runs"], list) and all(
            isinstance(r, dict) and isinstance(r.get("passes", []), list)
            for r in data["runs"])):
        fail("runs", "a list of tables")
    if data.get("outcome") not in {o.value for o in Outcome}:
        fail("outcome", "one of " + ", ".join(o.value for o in Outcome))
    if data.get("reason") is not None and not isinstance(data["reason"], dict):
        fail("reason", "a table")


@dataclass
class JobRecord:
    item_id: str
    profile_id: str
    media_family: str
    station_id: str
    organisation: str
    operator: str
    workbench_version: str
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION
    source: str = ""
    drive: dict[str, str] = field(default_factory=dict)
    command: str = ""
    image: str = ""
    map: str = MAP_NAME
    size: int = 0
    device_size: int = 0
    sector_size: int = 512
    expected_sizes: list[int] = field(default_factory=list)
    iso9660_size: int | None = None
    # the size the carrier's own file system declares (FAT boot sector, ISO 9660 volume)
    declared_size: int | None = None
    declared_by: str = ""  # FAT | ISO 9660 | UDF
    # the carrier's fingerprint, from what its first run read: size, and sha256 of the
    # boot sector, the volume descriptors and samples spread over the medium
    fingerprint: dict[str, Any] | None = None
    started: str = ""
    ended: str = ""
    runs: list[Run] = field(default_factory=list)
    # this job folder's own id (random, made with it): the ledger names attempts by it, so
    # a fresh job after one set aside never takes an earlier attempt's id ("" in records
    # from before it: their attempts keep the ids they had)
    job_id: str = ""
    bytes_rescued: int = 0
    # bad: tried and failed (map status '-'); after a run that finished its passes,
    # also anything still unread, as no pass is left to try it
    bytes_bad: int = 0
    bad_sector_count: int = 0
    bad_ranges: list[list[int]] = field(default_factory=list)
    # untried: not yet tried, trimmed or scraped ('?', '*', '/') when the run stopped
    # before its passes were done (aborted, vanished, crashed); the next run tries them
    bytes_untried: int = 0
    untried_ranges: list[list[int]] = field(default_factory=list)
    read_errors: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    outcome: str = Outcome.RUNNING.value
    reason: Reason | None = None
    average_rate: float = 0.0
    seconds: float = 0.0
    # an optical disc read as a disc: its TOC, type and class (optical.toc.Disc)
    disc: dict[str, Any] | None = None
    image_tracks: list[int] = field(default_factory=list)  # the tracks in the data image
    tracks: list[dict[str, Any]] = field(default_factory=list)  # raw tracks read
    cue: str = ""  # the CUE sheet beside the image
    cue_digests: dict[str, str] = field(default_factory=dict)
    # unreadable run-out sectors at a data track's end, past its session's volume
    runout_ranges: list[list[int]] = field(default_factory=list)
    # imaged from flux (workbench/station/flux.py): method, capture format, revolutions,
    # decoder; the capture files (the preservation master) and a D88 access copy, each
    # {"file", "digests"}, go into the bag with the image
    flux: dict[str, Any] | None = None

    @property
    def outcome_enum(self) -> Outcome:
        return Outcome(self.outcome)

    def payload(self) -> list[tuple[str, dict[str, str]]]:
        """The carrier's files and their digests made while reading: the image (when
        the carrier has one), every raw track of a disc and its CUE sheet, a flux
        capture's files and its D88 access copy."""
        files = [(self.image, dict(self.digests))] if self.image else []
        files += [(str(t["file"]), dict(t.get("digests", {})))
                  for t in self.tracks if t.get("done")]
        files += [(str(f["file"]), dict(f["digests"])) for f in (self.flux or {}).get(
            "files", []) + ([self.flux["d88"]] if self.flux and self.flux.get("d88") else [])]
        return files + ([(self.cue, dict(self.cue_digests))] if self.cue_digests else [])

    @property
    def passes(self) -> list[PassRecord]:
        return [p for run in self.runs for p in run.passes]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n"

    def save(self, folder: Path) -> Path:
        path = folder / RECORD_NAME
        write_atomic(path, self.to_json())
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        if data.get("schema") != SCHEMA or data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError("not a workbench job record of a version this release reads")
        _check_types(data)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["runs"] = [Run(**{**r, "passes": [PassRecord(**p) for p in r["passes"]]})
                          for r in data.get("runs", [])]
        values["reason"] = Reason(**data["reason"]) if data.get("reason") else None
        return cls(**values)

    @classmethod
    def load(cls, folder: Path) -> JobRecord | None:
        path = folder / RECORD_NAME
        if not path.exists():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, KeyError) as exc:
            raise BadInput("error.bad_record", file=str(path), detail=str(exc)) from exc
