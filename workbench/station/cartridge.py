"""Real cartridges at the station: format, mount and unmount through the LTFS tools
(workbench/tape/ltfs.py) when they are installed and `[tape] device` names the drive.

- A cartridge is named by its barcode: the one in its cartridge memory (MAM) when the
  drive offers it, else the one given; the two must agree.
- Formatting is refused for a cartridge that holds data: one the ledger has copies on,
  or one mkltfs finds formatted already (it is never run with --force).
- A mounted cartridge must carry the workbench label of the barcode it was mounted as,
  a pool of this station and the generation its memory says: anything else is
  unmounted again and refused (wrong cartridge, wrong pool, wrong generation).
- A read-only mount (write protected, data or index partition full: the index no
  longer fits) is said; the tape is marked full so nothing is planned onto it.
- Unmounting captures the LTFS index (ltfs -o capture_index) into
  logs/ltfs-index/BARCODE-TIME.xml (only one written by this unmount).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import BadInput, Refused
from workbench.imaging.record import utc_now
from workbench.tape import stage
from workbench.tape.catalogue import FAILED
from workbench.tape.held import mount_dead
from workbench.tape.ltfs import Ltfs, Mam, captured, newest_index, run_tool, same_cartridge
from workbench.tape.tapes import (
    LABEL,
    Tape,
    check_barcode,
    check_pool,
    label_tape,
    load_generations,
    ltfs_attr,
    read_tape,
    remove_empty_folder,
)

if TYPE_CHECKING:
    from workbench.station.core import Station


@dataclass(frozen=True)
class Mounted:
    tape: Tape
    read_only: str = ""  # also index_headroom: the index partition is under the rule
    mam: Mam | None = None
    generation_checked: bool = True  # False: no cartridge memory said the generation
    ltfs_capacity: int = 0  # the data partition's size as LTFS says it (0: not said)
    usable: int = 0  # what a cartridge of the label's generation holds, when in doubt:
    # unchecked, and LTFS says far less (another generation, or a simulator)


def _checks(station: Station, mounted: Mounted, tape: Tape, mam: Mam | None) -> Mounted:
    """What the mount says beyond the tools' own words: an index partition under the
    workbench's rule (no bag will be planned onto the tape), and whether anything
    checked the generation (LTFS 2.4 does not report the cartridge type; only the
    cartridge memory does)."""
    total = (ltfs_attr(tape.mount, "mediaDataPartitionTotalCapacity") or 0) << 20
    read_only = mounted.read_only or ("index_headroom" if tape.index_short() else "")
    checked = mam is not None and bool(mam.generation)
    usable = 0
    if not checked and total:
        generations = load_generations(station.settings.paths.profiles)
        if tape.generation in generations and \
                total < generations[tape.generation].usable // 2:
            usable = generations[tape.generation].usable
    return Mounted(tape, read_only, mam, checked, total, usable)


def drive(station: Station) -> Ltfs:
    s = station.settings
    return Ltfs(s.tape_device, s.tape_sg_device, run_tool, backend=s.tape_backend)


def _ltfs(station: Station) -> Ltfs:
    ltfs = drive(station)
    if not ltfs.available():
        raise Refused("lto.no_ltfs", device=station.settings.tape_device or "-",
                      root=str(station.settings.paths.tape))
    return ltfs


KEPT_INDEX = re.compile(r"^(.+)-\d{4}-\d\d-\d\dT\d+")  # BARCODE-<utc_now>.xml, unmount's


def _barcode(station: Station, ltfs: Ltfs, given: str) -> tuple[str, Mam | None]:
    """The cartridge's barcode: given, else from its memory. LTFS writes its 6-character
    volume serial into the memory's barcode (A00001 for A00001L8, seen in what mkltfs
    2.4.8.4 wrote): that names the same cartridge, and is widened to the barcode this
    station knows for it (its copies, or the index it kept at an unmount)."""
    mam = ltfs.read_mam()
    found = mam.barcode if mam else ""
    if mam is not None and mam.medium_type and mam.medium_type != "data":
        # said first: a cleaning cartridge's memory holds no barcode to ask about
        raise Refused("lto.not_a_data_cartridge", barcode=given or found or "-",
                      kind=mam.medium_type)
    if given and found and not same_cartridge(given, found):
        raise Refused("lto.barcode_differs", given=given, found=found)
    if not given and found:
        kept = (KEPT_INDEX.match(p.name) for p in
                (station.settings.paths.logs / "ltfs-index").glob("*.xml"))
        known = {code for _, code in station.tapes.book.current()} | {
            m.group(1) for m in kept if m}
        wider = sorted(code for code in known if code != found and
                       same_cartridge(code, found))
        if len(wider) > 1:
            raise BadInput("tapefix.serial_ambiguous", serial=found, barcodes=", ".join(wider))
        found = wider[0] if wider else found
    barcode = given or found
    if not barcode:
        raise BadInput("lto.need_barcode")
    return check_barcode(barcode), mam


def _capture(station: Station, barcode: str) -> Path:
    return station.settings.paths.logs / "ltfs-index" / f".capture-{barcode}"


def format_cartridge(station: Station, pool: str, generation: str, barcode: str = ""
                     ) -> Mounted:
    settings = station.settings
    ltfs = _ltfs(station)
    check_pool(pool, settings.tape_pools)
    generations = load_generations(settings.paths.profiles)
    if generation not in generations:
        raise BadInput("error.unknown_generation", generation=generation,
                       known=", ".join(generations))
    from workbench.station.tape_labels import check_barcode_case
    check_barcode_case(barcode)  # a new cartridge's barcode is typed as on its sticker
    barcode, mam = _barcode(station, ltfs, barcode)
    if mam is not None and mam.medium_type and mam.medium_type != "data":
        raise Refused("lto.not_a_data_cartridge", barcode=barcode, kind=mam.medium_type)
    if mam is not None and mam.generation and mam.generation != generation:
        raise Refused("lto.wrong_generation", barcode=barcode, found=mam.generation,
                      wanted=generation)
    held = [e for (_, code), e in station.tapes.book.current().items()
            if code == barcode and not (e.result == FAILED and not e.verified)]
    if held:
        raise Refused("lto.format_holds_copies", barcode=barcode, copies=len(held))
    with station.tapes.lock().acquire():
        done = ltfs.format(barcode, barcode)
        if not done.ok:
            if done.detail == "already_formatted":
                raise Refused("lto.format_has_data", barcode=barcode)
            raise _device_problem(station, done.detail) or \
                Refused("lto.format_failed", barcode=barcode, detail=done.detail)
        mounted = _mount(station, ltfs, barcode, mam)
        # the label's capacity: LTFS's own figure for the data partition where it says
        # it (a cartridge of another generation, or a partitioned one, holds that much)
        total = ltfs_attr(mounted.tape.mount, "mediaDataPartitionTotalCapacity")
        tape = label_tape(mounted.tape.mount, barcode, pool, generation,
                          (total or 0) << 20, generations, settings.tape_pools)
        from workbench.tape.held import HeldMount
        folder = HeldMount(tape)  # the label on the tape now, not at the unmount: an ltfs
        try:  # that dies first would leave a cartridge without its label
            folder.sync_index()
        finally:
            folder.close()
        return _checks(station, mounted, tape, mam)


def _mount_state(ltfs: Ltfs, path: Path) -> str:
    """absent | folder (a plain folder: nothing mounted) | mounted | dead (a FUSE mount
    whose ltfs process ended: every look at it fails, ENOTCONN)."""
    try:
        path.stat()
    except FileNotFoundError:
        return "absent"
    except OSError:
        return "dead"
    if mount_dead(path):  # stat answered from FUSE's cache; the folder cannot be opened
        return "dead"
    return "mounted" if ltfs.ismount(path) else "folder"


def _tidy(mountpoint: Path) -> None:
    """Remove the empty folder a refused, failed or ended mount leaves in the tape folder
    (rmdir: never a folder holding anything, never a mount point)."""
    remove_empty_folder(mountpoint)


def _device_problem(station: Station, detail: str) -> Refused | None:
    """A tool failed: a `[tape] device` path that does not exist is the cause to name
    (not a damaged cartridge)."""
    device = station.settings.tape_device
    if device.startswith("/") and not Path(device).exists():
        return Refused("labelfix.no_device", device=device, detail=detail)
    return None


def _mount(station: Station, ltfs: Ltfs, barcode: str, mam: Mam | None) -> Mounted:
    mountpoint = station.settings.paths.tape / barcode
    state = _mount_state(ltfs, mountpoint)
    if state == "mounted":
        raise Refused("labelfix.already_mounted", barcode=barcode, mount=str(mountpoint))
    if state == "dead":
        raise Refused("labelfix.mount_dead", barcode=barcode, mount=str(mountpoint))
    if state == "folder" and any(mountpoint.iterdir()):
        raise Refused("lto.mountpoint_busy", path=str(mountpoint))
    done = ltfs.mount(mountpoint, _capture(station, barcode))
    if not done.ok:
        _tidy(mountpoint)
        raise _device_problem(station, done.detail) or \
            Refused("lto.mount_failed", barcode=barcode, detail=done.detail)
    tape = Tape(mountpoint, barcode, "", "", 0)
    return Mounted(tape, done.read_only, mam)


def mount_cartridge(station: Station, barcode: str = "") -> Mounted:
    settings = station.settings
    ltfs = _ltfs(station)
    barcode, mam = _barcode(station, ltfs, barcode)
    with station.tapes.lock().acquire():
        mounted = _mount(station, ltfs, barcode, mam)
        mount = mounted.tape.mount
        problem: Refused | None = None
        if not (mount / LABEL).is_file():
            problem = Refused("lto.not_ours", barcode=barcode)
        else:
            tape = read_tape(mount, load_generations(settings.paths.profiles))
            if tape.barcode != barcode:
                problem = Refused("lto.label_differs", barcode=barcode, label=tape.barcode)
            elif tape.pool not in settings.tape_pools:
                problem = Refused("lto.wrong_pool", barcode=barcode, pool=tape.pool,
                                  pools=", ".join(settings.tape_pools))
            elif mam is not None and mam.generation and mam.generation != tape.generation:
                problem = Refused("lto.wrong_generation", barcode=barcode,
                                  found=mam.generation, wanted=tape.generation)
        if problem is not None:
            if ltfs.unmount(mount).ok:
                _tidy(mount)
            raise problem
        if mounted.read_only and not tape.full:
            tape.full = True  # nothing is planned onto a tape that cannot be written
        return _checks(station, mounted, tape, mam)


@dataclass
class Unmounted:
    index: Path | None  # the index ltfs wrote last, kept under logs/ltfs-index
    dead: bool  # the mount's LTFS process had ended: no index could be captured now


def unmount_cartridge(station: Station, barcode: str) -> Path | None:
    """Unmount; the index ltfs wrote last is kept (returned) under logs/ltfs-index."""
    return unmount(station, barcode).index


def unmount(station: Station, barcode: str) -> Unmounted:
    """Unmount, saying whether the mount was dead: its cartridge was written (up to the
    last index written to it, ltfs.sync after each copy) but ltfs never wrote a last
    index at this unmount, and the next mount may ask for ltfsck."""
    ltfs = _ltfs(station)
    mount = station.settings.paths.tape / check_barcode(barcode)
    state = _mount_state(ltfs, mount)
    if state == "absent":
        raise BadInput("lto.not_mounted", barcode=barcode, root=str(mount.parent))
    if state == "folder":  # a folder left behind, or a stand-in: nothing to unmount
        _tidy(mount)
        raise BadInput("labelfix.unmount_not_mounted", barcode=barcode, mount=str(mount))
    with station.tapes.lock().acquire():
        try:  # a bad label or a dead mount still unmounts: the tape's catalogue is
            # only a copy of the ledger's
            if (mount / LABEL).is_file():
                tape = read_tape(mount, load_generations(station.settings.paths.profiles))
                stage.write_tape_catalogue(tape, station.tapes.book)
        except (OSError, BadInput):
            pass
        before = captured(_capture(station, barcode))
        done = ltfs.unmount(mount)
        if not done.ok:
            raise Refused("lto.unmount_failed", barcode=barcode, detail=done.detail)
        _tidy(mount)
    index = newest_index(_capture(station, barcode), before)
    if index is None:
        return Unmounted(None, state == "dead")
    kept = station.settings.paths.logs / "ltfs-index" / \
        f"{barcode}-{utc_now().replace(':', '')}.xml"
    shutil.copy2(index, kept)
    return Unmounted(kept, False)
