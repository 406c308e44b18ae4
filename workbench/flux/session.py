"""A job's flux, read and decoded as one: every capture file of every track (the first
capture, each retry round, a capture brought in) merged per track, so the decoder votes
across every revolution captured; then laid out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench import __version__
from workbench.errors import BadInput
from workbench.flux.capture import FLUX_DIR, capture_files, load_plans
from workbench.flux.layout import Layout, lay_out
from workbench.flux.model import FluxCapture, Revolution, TrackDecode, TrackFlux

IMPORT_DIR = "import"


@dataclass(frozen=True)
class DecodeProgress:
    done: int  # tracks decoded
    total: int


@dataclass
class Decoded:
    layout: Layout
    tracks: list[TrackDecode]
    info: dict[str, Any] = field(default_factory=dict)


def capture_sources(job: Path) -> list[Path]:
    """What read_capture reads: each gw track file, each .scp or .hfe brought in, each
    KryoFlux folder brought in (a folder of trackNN.S.raw). Hidden names (a copy still
    under way: .part-NAME) are not captures yet."""
    sources = list(capture_files(job))
    imported = job / FLUX_DIR / IMPORT_DIR
    if imported.is_dir():
        files = visible_files(imported)
        sources += [p for p in files if p.suffix.lower() in (".scp", ".hfe")]
        sources += sorted({p.parent for p in files if p.suffix.lower() == ".raw"})
    return sources


def visible_files(folder: Path) -> list[Path]:
    """The files under folder, none under a hidden name (a partial copy) at any depth."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))


def merge(captures: list[FluxCapture]) -> FluxCapture:
    """One capture holding every revolution of every track. Revolutions sampled at
    another rate (a KryoFlux stream beside an SCP file) are scaled to the first's."""
    tracks: dict[tuple[int, int], TrackFlux] = {}
    notes: list[str] = []
    for cap in captures:
        notes += cap.notes
        for key, t in cap.tracks.items():
            have = tracks.get(key)
            if have is None:
                tracks[key] = t
                continue
            revs = t.revolutions
            if t.sample_hz != have.sample_hz:
                scale = have.sample_hz / t.sample_hz
                revs = tuple(Revolution(np.rint(r.intervals * scale).astype(np.uint32),
                                        round(r.tail * scale)) for r in revs)
            tracks[key] = TrackFlux(have.cylinder, have.head, have.sample_hz,
                                    have.revolutions + revs)
    formats = sorted({c.source_format for c in captures})
    damaged = {k: v for c in captures for k, v in c.damaged.items() if k not in tracks}
    return FluxCapture(tracks, "+".join(formats) or "scp", notes, damaged)


def decode_job(job: Path, cylinders: int = 0,
               progress: Callable[[DecodeProgress], None] | None = None,
               cancel: threading.Event | None = None) -> Decoded:
    """Every capture file of the job read, merged per track and decoded (Aborted on
    cancel, between tracks: nothing is written here), then laid out."""
    from workbench.flux.decode import decode_capture
    from workbench.flux.read import read_capture
    sources = capture_sources(job)
    if not sources:
        raise BadInput("flux.no_capture", path=str(job / FLUX_DIR))
    merged = merge([read_capture(p) for p in sources])
    tracks = decode_capture(merged, None if progress is None else
                            lambda done, total: progress(DecodeProgress(done, total)), cancel)
    layout = lay_out(tracks, cylinders)
    counts = [len(t.revolutions) for t in merged.tracks.values()]
    return Decoded(layout, tracks, {  # a retry round gives its tracks more revolutions
        "format": merged.source_format, "revolutions": max(counts, default=0),
        "revolutions_min": min(counts, default=0),
        "decoder": f"workbench {__version__} (FM/MFM software PLL)",
        "rounds": len(load_plans(job)), "notes": merged.notes})


def revolutions_text(flux: dict[str, Any]) -> str:
    """Revolutions a track as captured: "3", or "3-11" when a retry round gave some
    tracks more (records from before the least was kept give the most)."""
    most = int(flux.get("revolutions", 0))
    least = int(flux.get("revolutions_min", most))
    return f"{least}-{most}" if least != most else str(most)
