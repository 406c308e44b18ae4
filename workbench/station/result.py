"""What one migration step gives back to the front ends: the result record, its steps in
words, and the final sector map to draw."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.imaging.mapfile import RescueMap
from workbench.imaging.record import MAP_NAME, JobRecord
from workbench.imaging.rescue import Progress as ImagingProgress
from workbench.station.states import State
from workbench.tape.catalogue import CopyEntry
from workbench.tape.stage import TapeProgress

if TYPE_CHECKING:
    from workbench.ledger.db import Con

Blocks = tuple[tuple[int, int, str], ...]


@dataclass
class MigrationResult:
    item_id: str
    record: JobRecord
    job_dir: Path
    bag: Path | None = None
    copies: list[CopyEntry] = field(default_factory=list)
    report: dict[str, Any] | None = None
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # step, outcome, detail
    state: State = State.NEW


_OUTCOMES = ("success", "partial", "failed", "aborted", "incomplete")
# the details the pipeline writes in English (the ledger keeps them so), said again in
# the user's language when shown: (pattern, key, the groups' placeholder names)
_DETAILS = (
    (re.compile(r"digests match: (?P<algorithms>.+)"), "ui.detail_digests_match"),
    (re.compile(r"digest mismatch: (?P<files>.+)"), "ui.detail_digest_mismatch"),
    (re.compile(r"(?P<files>\d+) files, (?P<unidentified>\d+) unidentified; "
                r"not listed in full: volume (?P<volumes>.+)"), "ui.detail_files_cut"),
    (re.compile(r"(?P<files>\d+) files, (?P<unidentified>\d+) unidentified"),
     "ui.detail_files"),
)


def step_line(step: str, outcome: str, detail: str) -> str:
    """One pipeline step in words, in the user's language (the CLI and the station UI
    show the same). Details written in English by the pipeline are translated here."""
    from workbench.i18n import catalog, language, t
    known = catalog(language())
    if outcome in _OUTCOMES:
        translated = t(f"outcome.{outcome}")
    else:
        key = f"ui.step_outcome.{outcome.replace(' ', '_')}"
        translated = t(key) if key in known or key in catalog("en") else outcome
    name = step.split(" ")
    if name[:2] == ["tape", "copy"] and len(name) == 3:
        step_words = t("ui.step_tape_copy", copy=name[2])
    elif f"step.{name[0]}" in catalog("en"):
        step_words = t(f"step.{name[0]}")
    else:  # a step this version has no word for (a newer station's, merged): as recorded
        step_words = step
    for pattern, key in _DETAILS:
        match = pattern.fullmatch(detail)
        if match:
            detail = t(key, **match.groupdict())
            break
    return t("migrate.step", step=step_words, outcome=translated, detail=detail)


def format_lines(report: dict[str, Any], limit: int) -> list[str]:
    """The formats found, most files first, each PUID with its name (from the report's
    own files: fido's signature names, no look-up elsewhere), then "… and N more"."""
    from workbench.console import more_line
    from workbench.i18n import t
    names = {f.get("puid") or "UNKNOWN": f.get("format_name") or ""
             for f in report.get("files", [])}
    counts = list(report["summary"]["by_puid"].items())
    lines = [t("ui.format_line", count=count, puid=puid, name=names.get(puid, "")).rstrip()
             for puid, count in counts[:limit]]
    return lines + more_line(min(limit, len(counts)), len(counts))


def imaging_detail(con: Con, record: JobRecord) -> str:
    """The imaging step in words: why it ended so, and other carriers whose image is this
    one to the byte (said, never refused: a second copy of a disc is a real case; one ID
    given to two carriers, or a disc put back, is found here)."""
    from workbench.i18n import t
    from workbench.ledger.query import same_image
    detail = record.reason.message() if record.reason else ""  # the ledger keeps .text
    same = same_image(con, record.digests.get("sha256", ""), record.item_id)
    if same:
        detail = " ".join(filter(None, (detail, t("station.identical_to",
                                                  items=", ".join(same)))))
    return detail


def environment_line(env: dict[str, Any]) -> str:
    """The emulation-readiness summary: platform, bootability, the first emulators (the
    CLI and the station UI show the same)."""
    from workbench.i18n import t
    if not env.get("platform"):
        return t("emulation.none")
    bootable = env.get("bootable")
    state = "yes" if bootable is True else "no" if bootable is False else "unknown"
    return t("emulation.summary", platform=t(f"emulation.platform.{env['platform']}"),
             boot=t(f"emulation.boot_{state}"),
             emulators=", ".join(e["name"] for e in env.get("emulators", [])[:4]))


def record_lines(record: JobRecord, max_ranges: int = 10) -> list[str]:
    """A job record in words, in the user's language: why, how much was read, where the
    bad areas are, and for a disc its class, sessions and every raw track. The CLI and
    the station UI show the same lines."""
    from workbench.console import lost_bytes
    from workbench.i18n import human_bytes, t
    lines = [record.reason.message()] if record.reason else []
    if record.size or record.disc:
        # a disc: its data (not the gaps between sessions) and its raw tracks
        size = record.bytes_rescued + record.bytes_bad + record.bytes_untried + sum(
            n * 2352 for t in record.tracks for _, n in t.get("unreadable", [])) \
            if record.disc else record.size
        # a truncated carrier: its own volume says how big it is, bigger than the image
        if record.reason and record.reason.code in ("truncated", "flux_short") and \
                record.declared_size:
            size = max(size, record.declared_size)
        lines.append(t("result.bytes", rescued=human_bytes(record.bytes_rescued),
                       size=human_bytes(size), bad=record.bad_sector_count))
        lost = lost_bytes(size - record.bytes_rescued, size)
        if lost:  # exact: the rounded sizes above can look complete
            lines[-1] += t("lead.clause_separator") + lost
        if record.declared_by == "FAT" and record.declared_size and \
                record.declared_size < record.size and not record.reason:
            lines.append(t("lead.volume_smaller", volume=record.declared_by,
                           declared=f"{record.declared_size:,}", size=f"{record.size:,}"))
    lines += [t("result.bad_range", pos=f"{pos:#x}", size=f"{size:#x}",
                sectors=-(-size // record.sector_size))
              for pos, size in record.bad_ranges[:max_ranges]]
    if len(record.bad_ranges) > max_ranges:
        lines.append(t("result.more_ranges", count=len(record.bad_ranges) - max_ranges))
    if record.bytes_untried:  # aborted: not tried is not bad
        lines.append(t("result.untried", untried=human_bytes(record.bytes_untried),
                       ranges=len(record.untried_ranges)))
    if record.disc:
        disc = record.disc
        lines.append(t("result.disc", kind=t(f"disc.{disc.get('disc_class', 'unknown')}"),
                       type=disc.get("disc_type") or "-",
                       sessions=len(disc.get("sessions", [])),
                       tracks=len(disc.get("tracks", []))))
        if record.image_tracks:
            lines.append(t("result.data_tracks", tracks=", ".join(
                str(n) for n in record.image_tracks), image=record.image))
        for track in record.tracks:
            state = t("result.track_secure") if track.get("done") and not (
                track.get("unreadable") or track.get("unverified")) else t(
                "result.track_trouble",
                unreadable=sum(n for _, n in track.get("unreadable", [])),
                unverified=sum(n for _, n in track.get("unverified", [])))
            verdict = track.get("accuraterip", {}).get("text", "")
            lines.append(t("result.track", number=track["number"],
                           mode=t(f"disc.mode_{track['mode']}"),
                           file=track["file"], sectors=track["sectors"], state=state)
                         + (f"; AccurateRip: {verdict}" if verdict else ""))
        if record.runout_ranges:
            lines.append(t("result.runout", sectors=sum(
                n for _, n in record.runout_ranges) // (record.sector_size or 2048)))
    if record.flux:  # imaged from flux: the method, the disk's geometry, what it needs
        from workbench.station.flux_words import flux_lines
        lines += flux_lines(record)
    if record.runs and record.runs[-1].protection:  # BLKROSET and the write-protect state
        from workbench.station.guard_words import protection_line
        lines.append(protection_line(record.runs[-1].protection))
    return lines


def verify_image(job: Path, record: JobRecord, cancel: threading.Event | None = None
                 ) -> tuple[bool, str]:
    """Read the image file (and a disc's track files) once and compare their digests
    with those made while reading the carrier. A cancel stops between blocks (Aborted):
    nothing was written, the accept runs again."""
    if record.media_family == "ingest":  # files ingested, no image: station/ingest.py
        from workbench.errors import Refused
        raise Refused("ingest.use_ingest", item=record.item_id, source=record.source)
    bad, algorithms = [], set()
    for name, digests in record.payload():
        hashes = {a: hashlib.new(a) for a in digests}
        algorithms |= set(hashes)
        try:
            with open(job / name, "rb") as fh:
                while block := fh.read(8 << 20):
                    if cancel is not None and cancel.is_set():
                        from workbench.errors import Aborted
                        raise Aborted("error.cancelled")
                    for h in hashes.values():
                        h.update(block)
        except FileNotFoundError:
            bad.append(f"{name} missing")
            continue
        bad += [f"{name} {a}" for a, h in hashes.items() if h.hexdigest() != digests[a]]
    return not bad, ("digests match: " + ", ".join(sorted(algorithms))) if not bad else (
        "digest mismatch: " + ", ".join(bad))


def final_map(job: Path) -> tuple[Blocks, int] | None:
    """The job's rescue map as (pos, size, status) blocks and its size, to draw."""
    path = job / MAP_NAME
    if not path.is_file():
        return None
    rmap = RescueMap.load(path)
    return tuple((b.pos, b.size, b.status) for b in rmap.blocks), rmap.size


__all__ = ["Blocks", "ImagingProgress", "MigrationResult", "TapeProgress", "final_map",
           "format_lines", "record_lines", "step_line", "verify_image"]
