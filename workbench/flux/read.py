"""One way in for every flux capture: an .scp image, a folder of KryoFlux streams (or of
one-track SCP images, as a track-by-track Greaseweazle capture leaves them), a single
KryoFlux stream file, or an HFE (v1) image. The kind is told by the content, not by the
name."""

from __future__ import annotations

import re
from pathlib import Path

from workbench.errors import BadInput
from workbench.flux.bounds import read_bytes, track_label
from workbench.flux.hfe import parse_hfe
from workbench.flux.kryoflux import (
    INDEX,
    KF_INFO,
    NAME,
    OOB,
    STREAM_END,
    STREAM_INFO,
    read_kryoflux,
    read_stream_file,
)
from workbench.flux.model import FluxCapture, TrackDamage, TrackFlux
from workbench.flux.once import cached_read
from workbench.flux.scp import MAGIC, parse_scp

HFE_MAGICS = (b"HXCPICFE", b"HXCHFEV3")
# a one-track SCP file as a track-by-track capture names it (trackCC.H[.rN].scp)
TRACK_FILE = re.compile(r"^track(\d{2,3})\.([01])(?:\.r\d+)?\.scp$", re.IGNORECASE)


def sniff(path: Path) -> str | None:
    """"scp", "kryoflux", "hfe" or None, from the file's first bytes (and, for a stream
    that does not begin with an OOB block, its trackNN.S.raw name)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise BadInput("flux_formats.unreadable", path=str(path),
                       detail=exc.strerror or str(exc)) from None
    if head.startswith(MAGIC):
        return "scp"
    if head.startswith(HFE_MAGICS):
        return "hfe"
    if len(head) >= 4 and head[0] == OOB and head[1] in (STREAM_INFO, INDEX, STREAM_END,
                                                         KF_INFO):
        return "kryoflux"
    if NAME.match(path.name):  # even empty: a stream set's damaged track is said, not skipped
        return "kryoflux"
    return None


def read_capture(path: Path | str) -> FluxCapture:
    """The capture at path, every revolution of every track, or a BadInput that says
    what is wrong with it. Inside once.parse_once(), the same bytes are parsed once."""
    return cached_read(Path(path), _read)


def _read(path: Path) -> FluxCapture:
    if path.is_dir():
        return _read_folder(path)
    if not path.exists():
        raise BadInput("flux_formats.not_found", path=str(path))
    if path.is_file() and path.stat().st_size == 0:
        raise BadInput("flux_formats.empty_file", path=str(path))
    kind = sniff(path)
    if kind == "scp":
        return parse_scp(read_bytes(path), path)
    if kind == "kryoflux":
        return read_stream_file(path)
    if kind == "hfe":
        return parse_hfe(read_bytes(path), path)
    raise BadInput("flux_formats.unknown_content", path=str(path))


def _read_folder(folder: Path) -> FluxCapture:
    kinds: dict[str, list[Path]] = {}
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError as exc:
        raise BadInput("flux_formats.unreadable", path=str(folder),
                       detail=exc.strerror or str(exc)) from None
    for entry in entries:
        kind = sniff(entry)
        if kind == "kryoflux" and not NAME.match(entry.name):
            kind = None  # a stream's track is only in its name: not one of the set
        if kind in ("scp", "kryoflux"):
            kinds.setdefault(kind, []).append(entry)
    if len(kinds) > 1:
        raise BadInput("flux_formats.mixed_folder", path=str(folder))
    if "kryoflux" in kinds:
        return read_kryoflux(folder, kinds["kryoflux"])
    if "scp" in kinds:
        return _merge_scp(folder, kinds["scp"])
    raise BadInput("flux_formats.empty_folder", path=str(folder))


def _merge_scp(folder: Path, files: list[Path]) -> FluxCapture:
    """One capture from several SCP images (a capture resumed track by track): each
    track may come from one file only."""
    tracks: dict[tuple[int, int], TrackFlux] = {}
    source: dict[tuple[int, int], Path] = {}
    notes: list[str] = []
    damaged: dict[tuple[int, int], TrackDamage] = {}
    for path in files:
        try:
            part = parse_scp(read_bytes(path), path)
        except BadInput as exc:
            named = TRACK_FILE.match(path.name)  # one track's file (gw's names): that track
            if named is None:
                raise
            key = (int(named.group(1)), int(named.group(2)))
            damaged[key] = TrackDamage.of(exc)
            notes.append(f"{path.name}: damaged, track {track_label(*key)} not read: "
                         f"{exc.message('en')}")
            continue
        damaged.update(part.damaged)
        for key, track in part.tracks.items():
            if key in tracks:
                raise BadInput("flux_formats.track_twice", path=str(folder),
                               track=track_label(*key), first=source[key].name,
                               second=path.name)
            tracks[key], source[key] = track, path
        notes += [f"{path.name}: {note}" for note in part.notes]
    if not tracks:
        raise BadInput("flux_formats.no_revolutions", path=str(folder))
    return FluxCapture(tracks=dict(sorted(tracks.items())), source_format="scp",
                       notes=notes, damaged={k: v for k, v in damaged.items()
                                             if k not in tracks})
