"""Any bag validated as RFC 8493 (and BagIt 0.93-0.97) says, on the bags
scripts/build_bag_cases.py builds: our verdict on every case, bagit-python's (an
independent validator) on every case, and nothing outside a bag ever opened."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from workbench import PROJECT_ROOT
from workbench.i18n import catalog
from workbench.package.rfc8493 import check
from workbench.package.validate import bagit_python, describe

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
import build_bag_cases as cases

BY_NAME = {c.name: c for c in cases.CASES}
_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], str | bytes):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # records only while a test sets _OPENED


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return cases.build(tmp_path_factory.mktemp("bags"))


@pytest.mark.parametrize("name", list(BY_NAME))
def test_our_verdict(built, name):
    case = BY_NAME[name]
    report = check(built[name])
    words = [describe(p) for p in report.problems]
    assert report.verdict == case.expect, words
    assert bool(report.warnings) == case.warns, words
    assert set(case.codes) <= {p.code for p in report.problems}, words
    assert all(not w.startswith("bagcheck.") for w in words)  # every problem has words


@pytest.mark.parametrize("name", [n for n, c in BY_NAME.items() if c.bagit_python != "skip"])
def test_bagit_python_verdict(built, name):
    """Where bagit-python 1.9 differs from us, the case says so and why (case.note)."""
    case = BY_NAME[name]
    expected = case.bagit_python or ("valid" if case.expect == "valid" else "invalid")
    assert ("invalid" if bagit_python(built[name]) else "valid") == expected


def test_cases_cover_what_the_issue_names():
    names = " ".join(BY_NAME)
    for part in ("v0.97", "v1.0", "utf16", "no-bag-info", "leading-dot-slash", "percent",
                 "fetch-hole", "payload-dotdot", "payload-absolute", "tagmanifest-absolute",
                 "hidden", "normalisation", "case", "bagit-python-made"):
        assert part in names, part
    verdicts = {c.expect for c in cases.CASES}
    assert verdicts == {"valid", "invalid", "incomplete"}


def test_nothing_outside_a_bag_is_opened(built):
    """RFC 8493 7.2: a path leading out of the bag is refused as text, a link out of the
    bag is not followed; the outside file exists, so reading it would have succeeded."""
    global _OPENED
    hostile = [n for n in BY_NAME if "outside" in n or "dotdot" in n or "absolute" in n
               or "tilde" in n or "drive" in n or "link" in n]
    assert len(hostile) >= 7
    for name in hostile:
        bag = os.path.realpath(built[name])
        _OPENED = []
        try:
            report = check(built[name])
        finally:
            opened, _OPENED = _OPENED, None
        assert report.verdict == "invalid"
        assert any(p.endswith("bagit.txt") for p in opened)  # the hook sees our opens
        outside = [p for p in opened if not os.path.realpath(p).startswith(bag + os.sep)]
        assert outside == [], name


def test_a_fetch_hole_is_incomplete_not_missing(built):
    report = check(built["v1.0-fetch-hole"])
    assert report.to_fetch == ["data/hello.txt"] and not report.problems


def test_percent_encoded_names_reach_the_right_files(built):
    bag = built["v1.0-percent-encoded-names"]
    manifest = (bag / "manifest-sha512.txt").read_text()
    assert "data/100%25.txt" in manifest and "data/line%0Afeed" in manifest
    assert (bag / "data" / "line\nfeed").is_file() and (bag / "data" / "%41.txt").is_file()
    assert check(bag).verdict == "valid"


def test_fast_check_reads_no_payload(built):
    global _OPENED
    bag = built["v1.0-corrupt-payload"]
    _OPENED = []
    try:
        report = check(bag, fast=True)
    finally:
        opened, _OPENED = _OPENED, None
    assert report.verdict == "complete"  # same size, so only a full check finds it
    assert not [p for p in opened if "/data/" in p]
    assert check(bag).verdict == "invalid"


def test_every_problem_code_has_words_in_both_languages():
    codes: set[str] = set()
    for module in ("bagtext", "rfc8493", "validate"):
        text = (PROJECT_ROOT / "workbench" / "package" / f"{module}.py").read_text()
        codes |= set(re.findall(r'Problem\(\s*"([a-z_0-9]+)"', text))
    assert len(codes) > 40
    for lang in ("en", "ja"):
        assert sorted(c for c in codes if f"bagcheck.{c}" not in catalog(lang)) == []
