"""What one migration step gives back to the front ends: the result record, its steps in
words, and the final sector map to draw."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.imaging.mapfile import RescueMap
from workbench.imaging.record import MAP_NAME, JobRecord
from workbench.imaging.rescue import Progress as ImagingProgress
from workbench.station.states import State
from workbench.tape.catalogue import CopyEntry
from workbench.tape.stage import TapeProgress

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


def step_line(step: str, outcome: str, detail: str) -> str:
    """One pipeline step in words (the CLI and the station UI show the same)."""
    from workbench.i18n import t
    translated = t(f"outcome.{outcome}") if outcome in (
        "success", "partial", "failed", "aborted") else outcome
    return t("migrate.step", step=t(f"step.{step.split(' ')[0]}"), outcome=translated,
             detail=detail)


def verify_image(job: Path, record: JobRecord) -> tuple[bool, str]:
    """Read the image file (and a disc's track files) once and compare their digests
    with those made while reading the carrier."""
    bad, algorithms = [], set()
    for name, digests in record.payload():
        hashes = {a: hashlib.new(a) for a in digests}
        algorithms |= set(hashes)
        with open(job / name, "rb") as fh:
            while block := fh.read(8 << 20):
                for h in hashes.values():
                    h.update(block)
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
           "step_line", "verify_image"]
