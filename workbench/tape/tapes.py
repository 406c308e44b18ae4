"""Tapes: mounted LTFS volumes (or any mounted folder standing in for one), each with a
small label file that names its barcode, pool and generation."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import psutil

from workbench.atomic import write_atomic
from workbench.errors import BadInput, ConfigError
from workbench.schema import Field, check_table, load_toml

LABEL = ".workbench-tape.toml"
LABEL_SPEC = {
    "barcode": Field(str, required=True),
    "pool": Field(str, required=True),
    "generation": Field(str, default="LTO-8"),
    "capacity": Field(int, default=0, check=lambda v: None if v >= 0 else ">= 0"),
    "full": Field(bool, default=False),
}


@dataclass(frozen=True)
class Generation:
    name: str
    usable: int  # bytes on LTFS
    speed: int  # bytes/s


def load_generations(profiles: Path) -> dict[str, Generation]:
    path = profiles / "tape" / "lto.toml"
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return {name: Generation(name, int(v["usable_tb"] * 1e12), int(v["speed_mb_s"] * 1e6))
            for name, v in data.items()}


@dataclass
class Tape:
    mount: Path
    barcode: str
    pool: str
    generation: str
    capacity: int  # usable bytes (the label's, else the generation's)
    full: bool = False

    def used(self) -> int:
        """Bytes on the tape. On LTFS the mount says it (its data partition's capacity
        less its free space: no walk of millions of files); a folder standing in is
        summed by bag, each finished bag's total kept while it is unchanged."""
        total = ltfs_attr(self.mount, "mediaDataPartitionTotalCapacity")
        free = ltfs_space(self.mount, "Data")
        if total is not None and free is not None:
            return max(0, total - free) << 20
        return folder_used(self.mount)

    def writable(self) -> bool:
        """Mounted for writing (a tape mounted read-only, write-protected or with a full
        index partition takes no more bags, though it is not full)."""
        return os.access(self.mount, os.W_OK)

    def index_short(self) -> bool:
        """On LTFS: the index partition has less free space than the workbench keeps
        (INDEX_MIN_MIB), so no more bags go on, whatever the data partition has."""
        index = ltfs_space(self.mount, "Index")
        return index is not None and index < INDEX_MIN_MIB

    def room(self, headroom: float) -> int:
        """Bytes the planner may still put on this tape. On LTFS the mount says what is
        left of both partitions: a nearly full index partition (the index would not
        fit: every file written adds to it) leaves no room, whatever the data
        partition has."""
        if self.full or not self.writable() or self.index_short():
            return 0
        by_plan = int(self.capacity * (1 - headroom)) - self.used()
        free = psutil.disk_usage(str(self.mount)).free
        data = ltfs_space(self.mount, "Data")
        if data is not None:
            free = min(free, data << 20)
        return max(0, min(by_plan, free))

    def save_label(self) -> None:
        # json.dumps of a str is a valid TOML basic string, whatever the characters
        write_atomic(self.mount / LABEL,
                     f'barcode = {json.dumps(self.barcode)}\npool = {json.dumps(self.pool)}\n'
                     f'generation = {json.dumps(self.generation)}\n'
                     f'capacity = {self.capacity}\n'
                     f'full = {"true" if self.full else "false"}\n')


INDEX_MIN_MIB = 64  # an LTFS index partition with less free space takes no more bags


def ltfs_attr(mount: Path, name: str) -> int | None:
    """An LTFS mount's numeric virtual extended attribute ltfs.NAME; None when the mount
    does not say (a folder standing in)."""
    for prefix in ("user.", ""):
        try:
            return int(os.getxattr(mount, f"{prefix}ltfs.{name}").decode("ascii").strip())
        except (OSError, ValueError):
            continue
    return None


def ltfs_space(mount: Path, partition: str) -> int | None:
    """Free MiB of an LTFS partition ("Index" or "Data") as the mount's virtual extended
    attribute says it; None when the mount does not say (a folder standing in)."""
    return ltfs_attr(mount, f"media{partition}PartitionAvailableSpace")


# A finished bag on a tape is never changed in place (written as .NAME.partial, renamed
# when whole; a rewrite removes it first): its size is kept while the folder's identity
# and times are the same, so a screen refreshed every few seconds, or every bag of a
# write, does not walk thousands of files again. Partial folders are always summed.
_SIZES: dict[tuple[str, int, int], tuple[int, int, int]] = {}


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def folder_used(mount: Path) -> int:
    """Bytes under a folder standing in for a tape (its label not counted)."""
    total = 0
    for entry in os.scandir(mount):
        if entry.name == LABEL:
            continue
        st = entry.stat(follow_symlinks=False)
        if not entry.is_dir(follow_symlinks=False):
            total += st.st_size
            continue
        if entry.name.endswith(".partial"):
            total += _tree_size(Path(entry.path))
            continue
        key = (entry.path, st.st_dev, st.st_ino)
        known = _SIZES.get(key)
        if known is None or known[:2] != (st.st_mtime_ns, st.st_ctime_ns):
            known = (st.st_mtime_ns, st.st_ctime_ns, _tree_size(Path(entry.path)))
            _SIZES[key] = known
        total += known[2]
    return total


BARCODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
POOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def check_barcode(barcode: str) -> str:
    """Barcodes name files on tapes and in logs: letters, digits, '-', '_' (up to 32)."""
    if not BARCODE.match(barcode):
        raise BadInput("error.bad_barcode", barcode=repr(barcode))
    return barcode


def check_pool(pool: str, pools: tuple[str, ...] | None = None) -> str:
    if not POOL.match(pool) or (pools is not None and pool not in pools):
        raise BadInput("error.bad_pool", pool=repr(pool),
                       pools=", ".join(pools) if pools else "letters, digits, '-', '_'")
    return pool


_LABEL_LINE = re.compile(r'^\s*(\w+)\s*=\s*(?:"(.*)"|(\S+))\s*$')


def _lenient_label(path: Path) -> dict[str, object]:
    """A label an earlier version wrote without escaping (a quote in the barcode): one
    `key = "value"` per line, the value up to the last quote."""
    data: dict[str, object] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _LABEL_LINE.match(line)
        if m is None:
            continue
        key, quoted, bare = m.groups()
        if quoted is not None:
            data[key] = quoted
        elif bare in ("true", "false"):
            data[key] = bare == "true"
        elif bare.isdigit():
            data[key] = int(bare)
    return data


def remove_empty_folder(path: Path) -> None:
    """rmdir: gone only when empty and not a mount point (anything else stays)."""
    with contextlib.suppress(OSError):
        path.rmdir()


def still_mounted(tape: Tape) -> bool:
    """The tape is still there under its mount, with its own label (not unmounted,
    pulled or swapped for another cartridge since it was found)."""
    try:
        return read_tape(tape.mount, {tape.generation: Generation(tape.generation, 0, 0)}
                         ).barcode == tape.barcode
    except (OSError, ConfigError, BadInput):
        return False


def read_tape(mount: Path, generations: dict[str, Generation]) -> Tape:
    try:
        raw = load_toml(mount / LABEL)
    except ConfigError:
        raw = _lenient_label(mount / LABEL)
        if not {"barcode", "pool"} <= set(raw):
            raise
    data = check_table(raw, LABEL_SPEC, mount / LABEL)
    if data["generation"] not in generations:
        raise ConfigError("error.bad_value", file=str(mount / LABEL), key="generation",
                          value=repr(data["generation"]), allowed=", ".join(generations))
    capacity = data["capacity"] or generations[data["generation"]].usable
    return Tape(mount, data["barcode"], data["pool"], data["generation"], capacity,
                data["full"])


@dataclass(frozen=True)
class Unreadable:
    """A folder under the tape folder that is a tape the station cannot use: its label
    cannot be read (damaged, an unknown generation), or its mount is dead (the LTFS
    process ended: every read says ENOTCONN)."""
    mount: Path
    reason: str  # the error, in the station's language
    dead: bool = False  # the mount itself cannot be read (not its label)


def scan_tapes(root: Path, generations: dict[str, Generation]
               ) -> tuple[list[Tape], list[Unreadable]]:
    """Every labelled tape mounted under root (one folder per tape), and the tapes there
    that cannot be used: one bad label or dead mount costs that tape only."""
    if not root.is_dir():
        return [], []
    tapes: list[Tape] = []
    bad: list[Unreadable] = []
    for p in sorted(root.iterdir()):
        try:
            if not (p / LABEL).is_file():
                continue
        except OSError as exc:  # a dead FUSE mount: ENOTCONN on any look at it
            bad.append(Unreadable(p, exc.strerror or str(exc), dead=True))
            continue
        try:
            tapes.append(read_tape(p, generations))
        except (ConfigError, BadInput) as exc:
            bad.append(Unreadable(p, exc.message()))
        except OSError as exc:
            bad.append(Unreadable(p, exc.strerror or str(exc), dead=True))
    return tapes, bad


def find_tapes(root: Path, generations: dict[str, Generation]) -> list[Tape]:
    """Every labelled tape mounted under root that can be used (scan_tapes says the
    others)."""
    return scan_tapes(root, generations)[0]


def label_tape(mount: Path, barcode: str, pool: str, generation: str, capacity: int,
               generations: dict[str, Generation], pools: tuple[str, ...] | None = None
               ) -> Tape:
    """pools: the station's pools (a tape in any other pool would never be written)."""
    check_barcode(barcode)
    check_pool(pool, pools)
    if mount.exists() and not mount.is_dir():
        raise BadInput("error.not_a_folder", path=str(mount), detail="a file, not a folder")
    if generation not in generations:
        raise BadInput("error.unknown_generation", generation=generation,
                       known=", ".join(generations))
    if (mount / LABEL).exists():
        raise BadInput("error.tape_labelled", mount=str(mount))
    mount.mkdir(parents=True, exist_ok=True)
    tape = Tape(mount, barcode, pool, generation, capacity or generations[generation].usable)
    tape.save_label()
    return tape


def ltfs_problems(names: list[str]) -> list[str]:
    """Names LTFS cannot hold: not NFC, over 255 bytes, or with ':' (or NUL)."""
    problems = []
    for name in names:
        for part in name.split("/"):
            if unicodedata.normalize("NFC", part) != part:
                problems.append(f"{name}: not in Unicode NFC form")
            if len(part.encode("utf-8")) > 255:
                problems.append(f"{name}: a name is longer than 255 bytes")
            if ":" in part or "\0" in part:
                problems.append(f"{name}: ':' is not allowed on LTFS")
    return problems
