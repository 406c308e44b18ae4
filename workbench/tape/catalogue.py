"""The tape catalogue: which bag is on which tape, in which pool, and whether the copy
was read back and verified. Append-only: a later entry for the same copy supersedes an
earlier one, nothing is rewritten.

The tape engine records copies in any CopyBook. At a station the book is the ledger
(workbench.station); the JSON Catalogue here is the form of its exports (one beside the
ledger, one on each tape so a tape can be read on its own) and a book for the engine's
own tests."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

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


class CopyBook(Protocol):
    """Where the tape engine records copies and reads their current state."""

    def add(self, entry: CopyEntry) -> None: ...

    def current(self) -> dict[tuple[str, str], CopyEntry]: ...

    def history(self, bag: str) -> list[CopyEntry]: ...


def latest(entries: list[CopyEntry]) -> dict[tuple[str, str], CopyEntry]:
    """The latest entry of every (bag, barcode) copy, entries in the order they happened."""
    out: dict[tuple[str, str], CopyEntry] = {}
    for e in entries:
        out[(e.bag, e.barcode)] = e
    return out


def to_json(entries: list[CopyEntry]) -> str:
    return json.dumps([asdict(e) for e in entries], ensure_ascii=False, indent=1) + "\n"


def read_entries(path: Path) -> list[CopyEntry]:
    """A catalogue file's entries; IntegrityFailure (exit 4) when it is damaged."""
    from workbench.errors import IntegrityFailure
    try:
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data, list):
            raise TypeError("not a list of entries")
        return [CopyEntry(**e) for e in data]
    except (ValueError, TypeError) as exc:
        raise IntegrityFailure("error.catalogue_corrupt", file=str(path),
                               detail=str(exc)) from exc


class Catalogue:
    """A JSON file of entries: an export of the ledger, or a stand-alone book."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[CopyEntry] = []
        if path.is_file():
            self.entries = read_entries(path)

    def add(self, entry: CopyEntry) -> None:
        self.entries.append(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, to_json(self.entries))

    def current(self) -> dict[tuple[str, str], CopyEntry]:
        return latest(self.entries)

    def history(self, bag: str) -> list[CopyEntry]:
        return [e for e in self.entries if e.bag == bag]

    def verified_pools(self, bag: str) -> set[str]:
        return {e.pool for (b, _), e in self.current().items()
                if b == bag and e.result == VERIFIED}

    def copies(self, bag: str) -> list[CopyEntry]:
        return [e for (b, _), e in self.current().items() if b == bag]
