"""Tapes: mounted LTFS volumes (or any mounted folder standing in for one), each with a
small label file that names its barcode, pool and generation."""

from __future__ import annotations

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
        return sum(p.stat().st_size for p in self.mount.rglob("*")
                   if p.is_file() and p.name != LABEL)

    def room(self, headroom: float) -> int:
        """Bytes the planner may still put on this tape."""
        if self.full:
            return 0
        by_plan = int(self.capacity * (1 - headroom)) - self.used()
        return max(0, min(by_plan, psutil.disk_usage(str(self.mount)).free))

    def save_label(self) -> None:
        write_atomic(self.mount / LABEL,
                     f'barcode = "{self.barcode}"\npool = "{self.pool}"\n'
                     f'generation = "{self.generation}"\ncapacity = {self.capacity}\n'
                     f'full = {"true" if self.full else "false"}\n')


def read_tape(mount: Path, generations: dict[str, Generation]) -> Tape:
    data = check_table(load_toml(mount / LABEL), LABEL_SPEC, mount / LABEL)
    if data["generation"] not in generations:
        raise ConfigError("error.bad_value", file=str(mount / LABEL), key="generation",
                          value=repr(data["generation"]), allowed=", ".join(generations))
    capacity = data["capacity"] or generations[data["generation"]].usable
    return Tape(mount, data["barcode"], data["pool"], data["generation"], capacity,
                data["full"])


def find_tapes(root: Path, generations: dict[str, Generation]) -> list[Tape]:
    """Every labelled tape mounted under root (one folder per tape)."""
    if not root.is_dir():
        return []
    return [read_tape(p, generations) for p in sorted(root.iterdir())
            if (p / LABEL).is_file()]


def label_tape(mount: Path, barcode: str, pool: str, generation: str, capacity: int,
               generations: dict[str, Generation]) -> Tape:
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
