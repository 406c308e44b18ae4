"""A capture made elsewhere brought into a job (workbench image --flux CAPTURE): checked
whole before anything is copied (a capture, undamaged, of the same disk, adding to the
captures there), then copied in all or none, under names made safe.

    path = capture_to_bring(station, Path("disk.scp"))
    refuse_another_disk(job, previous, path, cylinders)
    target_dir, pairs = import_pairs(path, job)
    bring_in(target_dir, pairs)
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.atomic import fsync_dir
from workbench.errors import BadInput
from workbench.flux import session
from workbench.flux.capture import FLUX_DIR
from workbench.flux.session import IMPORT_DIR
from workbench.i18n import is_utf8
from workbench.identify.model import safe_component
from workbench.imaging.record import JobRecord
from workbench.station.flux_space import copy_in

if TYPE_CHECKING:
    from workbench.flux.model import TrackDecode
    from workbench.station.core import Station


def capture_to_bring(station: Station, path: Path) -> Path:
    """The capture a path names, checked before anything is copied: a capture file (by
    its content), a folder holding one, or a training recipe (*.flux.toml: its capture,
    built on first use in the training area). Anything else is refused, naming it, and
    so is a damaged capture (read whole first: copied in, it would fail every later
    attempt of the job)."""
    from workbench.flux.read import read_capture, sniff
    from workbench.flux.training import SUFFIX, load_recipe, training_capture
    if not path.exists():
        raise BadInput("flux.no_capture", path=str(path))
    if path.is_file() and path.name.endswith(SUFFIX):
        return training_capture(load_recipe(path),
                                station.settings.paths.staging.parent / "flux-media")
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    odd = next((f for f in files if not is_utf8(f.name)), None)
    if odd is not None:  # copied into the job and the bag, it would break their records
        raise BadInput("flux.undecodable_name", path=ascii(str(odd)))
    if not any(sniff(f) for f in files):
        raise BadInput("flux.not_a_capture", path=str(path))
    read_capture(path)  # a damaged file: its own message, before anything is copied
    return path


def refuse_another_disk(job: Path, previous: JobRecord | None, path: Path,
                        cylinders: int) -> None:
    """A capture brought into a job that holds captures (or an image) already is voted
    with them, so it must add to them and be of the same disk. Decoded alone, checked
    before anything is copied:
    - the job has captures and no sector decodes from this one: refused. It cannot add
      a sector to the vote, nor be shown to be of this disk, and it would go into the
      bag as this carrier's master unchecked. (A job's first capture is kept whatever
      it decodes: it is the master, and its outcome says what was read.)
    - every sector it reads well must equal the image's where the image read it well:
      refused, naming how many differ (two disks' sectors would otherwise mix)."""
    have_image = previous is not None and bool(previous.image) and \
        (job / previous.image).is_file()
    sources = session.capture_sources(job)
    if (not have_image and not sources) or \
            path.resolve() in [p.resolve() for p in sources]:
        return
    from workbench.errors import Refused
    from workbench.flux.decode import decode_capture
    from workbench.flux.layout import lay_out
    from workbench.flux.read import read_capture
    tracks = decode_capture(read_capture(path))
    slots = lay_out(tracks, cylinders).slots
    if sources and not any(slot.data is not None for slot in slots):
        raise Refused("flux.adds_nothing", path=str(path), item=job.name)
    refuse_formatted_otherwise(job, sources, path, tracks)
    if previous is None or not have_image:
        return
    bad = [(int(pos), int(pos) + int(size)) for pos, size in previous.bad_ranges]
    compared = differ = 0
    with open(job / previous.image, "rb") as fh:
        for slot in slots:
            end = slot.offset + slot.size
            if slot.data is None or end > previous.size or \
                    any(a < end and slot.offset < b for a, b in bad):
                continue
            fh.seek(slot.offset)
            compared += 1
            differ += fh.read(slot.size) != slot.data
    if differ:  # none compared (one of them read nothing well): nothing to tell them apart
        raise Refused("flux.another_disk", path=str(path), item=previous.item_id,
                      differ=differ, compared=compared)


def refuse_formatted_otherwise(job: Path, sources: list[Path], path: Path,
                               tracks: list[TrackDecode]) -> None:
    """Beside the good sectors (which a disk differing only where the first capture read
    nothing cannot fail), the flux tells how a disk was formatted: which sector IDs each
    track holds, in what order, and where they lie after the index. A capture of a disk
    formatted otherwise on most tracks is refused (flux/fingerprint.py). The earlier
    captures' decodes are the ones the job's decode uses next (flux/once.py)."""
    from workbench.errors import Refused
    from workbench.flux.decode import decode_capture
    from workbench.flux.fingerprint import same_disk
    from workbench.flux.read import read_capture
    for source in sources:
        match = same_disk(decode_capture(read_capture(source)), tracks)
        if match.formatted_otherwise:
            compared = max(match.ids[0], match.order[0], match.angles[0])
            differ = max(match.ids[1], match.order[1], match.angles[1])
            raise Refused("lead.flux_formatted_otherwise", path=str(path), item=job.name,
                          differ=differ, compared=compared)


SET_ASIDE = "set-aside"  # under flux/: a retry round of another disk, kept, never voted


def refuse_another_round(job: Path, round_: int, tracks: list[tuple[int, int]]) -> None:
    """A Greaseweazle retry round read in the drive now: before its tracks are voted
    with the earlier captures, the same tracks of both are decoded and compared
    (flux/fingerprint.py). Another disk (most good sectors of those tracks differ, or
    it was formatted otherwise) is refused, and the round's files are set aside under
    flux/set-aside/ (kept, never voted). A copy-protected sector whose good reads differ
    (one or two) is no other disk: the vote says it (disagreeing)."""
    from workbench.errors import Refused
    from workbench.flux.capture import track_name
    from workbench.flux.decode import decode_capture
    from workbench.flux.fingerprint import same_disk
    from workbench.flux.model import FluxCapture
    from workbench.flux.read import read_capture
    folder = job / FLUX_DIR
    new = [folder / track_name(c, h, round_) for c, h in tracks]
    new = [p for p in new if p.is_file()]
    old = [p for p in session.capture_sources(job) if p not in new]
    if not new or not old:
        return

    def only(capture: FluxCapture) -> FluxCapture:
        keys = set(tracks)
        return FluxCapture({k: v for k, v in capture.tracks.items() if k in keys},
                           capture.source_format)
    before = decode_capture(only(session.merge([read_capture(p) for p in old])))
    after = decode_capture(only(session.merge([read_capture(p) for p in new])))
    match = same_disk(before, after)
    compared, differ = match.data
    if not (match.formatted_otherwise or (differ >= 3 and differ * 2 > compared)):
        return
    aside = folder / SET_ASIDE / f"round{round_}"
    aside.mkdir(parents=True, exist_ok=True)
    for path in new:
        path.rename(aside / path.name)
    fsync_dir(aside)
    fsync_dir(folder)
    raise Refused("lead.flux_round_other_disk", item=job.name, round=round_,
                  folder=str(aside), differ=differ, compared=compared)


def import_pairs(path: Path, job: Path) -> tuple[Path, list[tuple[Path, Path]]]:
    """Where a capture made elsewhere (an .scp file, a KryoFlux folder) goes in the job
    folder (flux/import/NAME) and each of its files with its target: the files not
    there already with the same bytes. Names are made safe as the identification makes
    a disk's file names safe (control characters escaped, no '/'): they end up in the
    job record, the bag's manifest and the ledger."""
    path = path.resolve()
    if not path.exists():
        raise BadInput("flux.no_capture", path=str(path))
    folder = job / FLUX_DIR / IMPORT_DIR
    if folder.resolve() in (path, *path.parents):
        return folder, []
    sources = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not sources:
        raise BadInput("flux.no_capture", path=str(path))
    target_dir = folder / safe_component(path.name)[0] if path.is_dir() else folder
    pairs = [(src, target_dir / safe_component(src.name)[0]) for src in sources]
    if any(t.is_file() and not _same_bytes(s, t) for s, t in pairs):
        # a capture of this name is in the job with other bytes (another reading, saved
        # under gw's or the tool's default name): both are kept, never one over the other
        if path.is_dir():
            target_dir = _free_name(target_dir)
            pairs = [(s, target_dir / t.name) for s, t in pairs]
        else:
            pairs = [(s, _free_name(t)) for s, t in pairs]
    return target_dir, [(s, t) for s, t in pairs
                        if not (t.is_file() and _same_bytes(s, t))]


def _free_name(target: Path) -> Path:
    """NAME~2.scp, NAME~3.scp ... (or a folder NAME~2): the first name not in use."""
    n = 2
    while True:
        name = f"{target.stem}~{n}{target.suffix}" if target.suffix else f"{target.name}~{n}"
        free = target.with_name(name)
        if not free.exists() and not free.with_name(".part-" + name).exists():
            return free
        n += 1


def bring_in(target_dir: Path, pairs: list[tuple[Path, Path]]) -> None:
    """The capture's files copied in (import_pairs), all or none. A folder new to the
    job is copied under a hidden name (.part-NAME, never read as a capture) and renamed
    when whole, so a kill mid-copy leaves no half set to decode; a full disk leaves no
    half capture (flux_space.copy_in) and no folder made for it."""
    folder = job_folder = target_dir
    if target_dir.name != IMPORT_DIR and not target_dir.exists():
        folder = target_dir.with_name(".part-" + target_dir.name)
        shutil.rmtree(folder, ignore_errors=True)  # a copy a killed run left: ours
        pairs = [(s, folder / t.name) for s, t in pairs]
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        copy_in(pairs, named=job_folder)
        if folder != job_folder:
            fsync_dir(folder)
            folder.rename(job_folder)
    except BaseException:
        for path in made:  # innermost first; only ours, only when empty
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    fsync_dir(job_folder.parent)


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and _digest(a, "sha256") == _digest(b, "sha256")


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
