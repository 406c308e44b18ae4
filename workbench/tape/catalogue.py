"""The tape catalogue: which bag is on which tape, in which pool, and whether the copy
was read back and verified. Append-only: a later entry for the same copy supersedes an
earlier one, nothing is rewritten. Stored as JSON, written atomically."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.atomic import write_atomic

WRITTEN, VERIFIED, FAILED = "written", "verified", "failed"


@dataclass(frozen=True)
class CopyEntry:
    bag: str
    barcode: str
    pool: str
    bytes: int
    files: int
    result: str  # written | verified | failed
    written: str = ""
    verified: str = ""
    detail: str = ""
    layout: str = "folder"  # folder | tar
    copy: int = 1  # the pool's position in the station's pools (1: primary copy)


class Catalogue:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[CopyEntry] = []
        if path.is_file():
            self.entries = [CopyEntry(**e) for e in json.loads(path.read_text("utf-8"))]

    def add(self, entry: CopyEntry) -> None:
        self.entries.append(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps([asdict(e) for e in self.entries],
                                           ensure_ascii=False, indent=1) + "\n")

    def current(self) -> dict[tuple[str, str], CopyEntry]:
        """The latest entry of every (bag, barcode) copy."""
        latest: dict[tuple[str, str], CopyEntry] = {}
        for e in self.entries:
            latest[(e.bag, e.barcode)] = e
        return latest

    def verified_pools(self, bag: str) -> set[str]:
        return {e.pool for (b, _), e in self.current().items()
                if b == bag and e.result == VERIFIED}

    def copies(self, bag: str) -> list[CopyEntry]:
        return [e for (b, _), e in self.current().items() if b == bag]
