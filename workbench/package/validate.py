"""Validating a bag: RFC 8493, our BagIt profile, and bagit-python as an independent
second opinion.

bagit-python changes the working directory in make_bag() and Bag.save(), never in
Bag.validate() (1.9.0; a test makes any chdir during validation fail), and with
processes=1 it starts no processes. So it runs in this process, one validation at a
time under a lock, with its log messages captured as the problem list.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from workbench.package.bags import check_bag
from workbench.package.profile import BagProfile

_LOCK = threading.Lock()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def bagit_python(bag: Path, fast: bool = False) -> list[str]:
    import bagit

    handler = _Collect()
    log = logging.getLogger("bagit")
    with _LOCK:
        log.addHandler(handler)
        try:
            bagit.Bag(str(bag)).validate(processes=1, fast=fast)
            return []
        except bagit.BagValidationError as exc:
            details = [str(d) for d in getattr(exc, "details", [])] or [str(exc)]
            return [f"bagit-python: {d}" for d in details[:20]]
        except bagit.BagError as exc:
            return [f"bagit-python: {exc}"]
        finally:
            log.removeHandler(handler)


def validate_bag(bag: Path, profile: BagProfile, fast: bool = False,
                 independent: bool = True) -> list[str]:
    """Every problem with bag (empty: valid). fast: completeness and Payload-Oxum only,
    no payload re-hash (tag manifests are always checked)."""
    if not (bag / "bagit.txt").is_file():
        return [f"{bag} is not a bag (no bagit.txt)"]
    problems = check_bag(bag, fast=fast)
    problems += profile.check(bag)
    if independent and not problems:
        problems += bagit_python(bag, fast=fast)
    return problems
