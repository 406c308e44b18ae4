"""Validating a bag: RFC 8493 for any bag (workbench.package.rfc8493), our BagIt profile
for the bags that declare it (or when asked), and bagit-python as an independent second
opinion.

bagit-python changes the working directory in make_bag() and Bag.save(), never in
Bag.validate() (1.9.0; a test makes any chdir during validation fail), and with
processes=1 it starts no processes. So it runs in this process, one validation at a
time under a lock, with its log messages captured as the problem list.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from workbench.package.bagtext import Problem, describe, printable
from workbench.package.profile import BagProfile
from workbench.package.rfc8493 import BagReport, check

__all__ = ["bagit_python", "describe", "printable", "validate_any", "validate_bag"]
_LOCK = threading.Lock()
PROFILE_LABEL = "BagIt-Profile-Identifier"


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
        except Exception as exc:  # its own crash on a strange bag is an opinion too
            return [f"bagit-python: {type(exc).__name__}: {exc}"]
        finally:
            log.removeHandler(handler)


def declares(report: BagReport, profile: BagProfile) -> bool:
    return profile.identifier in report.info_values(PROFILE_LABEL)


def declared_sibling(report: BagReport, profile: BagProfile | None) -> BagProfile | None:
    """The station's profile the bag declares, when it is not the one given: the other
    profiles beside it (profiles/bagit/*.json: an ingest's bag declares the ingest
    profile, not the carrier one). Else the one given."""
    if profile is None or declares(report, profile):
        return profile
    declared = set(report.info_values(PROFILE_LABEL))
    for path in sorted(profile.source.parent.glob("*.json")):
        if path == profile.source:
            continue
        try:
            other = BagProfile(json.loads(path.read_text("utf-8")), path)
            if other.identifier in declared:
                return other
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a profile: the given one stays
    return profile


def _apply_profile(report: BagReport, profile: BagProfile) -> None:
    """profile.check reads bag-info.txt as UTF-8: only asked when that holds."""
    if not (report.bag / "bag-info.txt").is_file():
        report.problems.append(Problem("profile_no_info", profile.identifier))
        return
    if (report.encoding or "").replace("-", "").lower() != "utf8":
        report.problems.append(Problem("profile_unreadable", profile.identifier,
                                       report.encoding or ""))
        return
    try:
        found = profile.check(report.bag)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
        report.problems.append(Problem("profile_unreadable", profile.identifier, str(exc)))
        return
    report.problems += [Problem("profile", profile.identifier, p) for p in found]


def validate_any(bag: Path, profile: BagProfile | None, force_profile: bool = False,
                 fast: bool = False, independent: bool = True) -> BagReport:
    """Any bag: RFC 8493; our profile when the bag declares it (or force_profile); then,
    when we find no error, bagit-python's opinion: its problems are errors for a bag
    under our profile, warnings for others (it differs from RFC 8493 in places)."""
    report = check(Path(bag), fast=fast)
    profile = declared_sibling(report, profile)
    ours = profile is not None and (force_profile or declares(report, profile))
    if profile is not None and ours:
        report.profile = profile.identifier
        _apply_profile(report, profile)
    else:
        report.problems += [Problem("profile_other", detail=v, error=False)
                            for v in report.info_values(PROFILE_LABEL)]
    if independent and not report.errors and report.version is not None:
        report.problems += [Problem("second_opinion", detail=p, error=ours)
                            for p in bagit_python(report.bag, fast=fast)]
    return report


def validate_bag(bag: Path, profile: BagProfile, fast: bool = False,
                 independent: bool = True) -> list[str]:
    """Every error of one of our bags (empty: valid): RFC 8493, our profile always,
    bagit-python. fast: completeness and Payload-Oxum only, no payload re-hash (tag
    manifests are always checked)."""
    report = validate_any(bag, profile, force_profile=True, fast=fast,
                          independent=independent)
    problems = [describe(p) for p in report.errors]
    if report.to_fetch:
        problems.append(describe(Problem("to_fetch", detail=str(len(report.to_fetch)))))
    return problems
