"""Which batch row goes to a free drive next (`queue --drives`).

Rows keep their order among rows that need the same drives, but a row waiting for a
busy drive never holds up a later row that another, free drive can read: with a CD
drive busy and a floppy drive free, the floppy row after two CD rows starts now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Row = TypeVar("Row")


@dataclass
class Waiting(Generic[Row]):
    n: int  # the row's number in the batch file (1-based)
    row: Row
    drives: list[str]  # the drives that can read it, in the batch's order


@dataclass
class RowOrder(Generic[Row]):
    waiting: list[Waiting[Row]] = field(default_factory=list)

    def add(self, n: int, row: Row, drives: list[str]) -> None:
        self.waiting.append(Waiting(n, row, list(drives)))

    def next_ready(self, is_free: Callable[[str], bool]) -> tuple[Waiting[Row], str] | None:
        """The first waiting row one of whose drives is free, with that drive, taken out
        of the waiting rows; None when every waiting row's drives are busy."""
        for i, waiting in enumerate(self.waiting):
            for drive in waiting.drives:
                if is_free(drive):
                    del self.waiting[i]
                    return waiting, drive
        return None

    def drives(self) -> list[str]:
        """Every drive some waiting row needs (the drives worth waiting for)."""
        return list(dict.fromkeys(d for w in self.waiting for d in w.drives))

    def __len__(self) -> int:
        return len(self.waiting)
