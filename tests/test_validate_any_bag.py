"""`workbench validate` on bags made by others: our profile only where a bag declares it
(or --profile), a problem list and never a traceback on hostile input, exit codes."""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import workbench_cmd
from workbench import PROJECT_ROOT
from workbench.errors import ExitCode
from workbench.package.profile import load_bag_profile
from workbench.package.rfc8493 import check
from workbench.package.validate import describe, validate_any

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
import build_bag_cases as cases

PROFILE = load_bag_profile(PROJECT_ROOT / "profiles")


def bag(tmp_path: Path, name: str = "b", **spec) -> Path:
    cases.write(tmp_path / name, cases.Spec(**spec))
    return tmp_path / name


def codes(report) -> set[str]:
    return {p.code for p in report.problems}


def test_our_profile_only_for_bags_that_declare_it(tmp_path):
    plain = bag(tmp_path, "plain")
    report = validate_any(plain, PROFILE)
    assert report.verdict == "valid" and report.profile == "" and not report.problems
    forced = validate_any(plain, PROFILE, force_profile=True)
    assert forced.verdict == "invalid" and forced.profile == PROFILE.identifier
    assert {p.code for p in forced.errors} == {"profile"}
    assert any("External-Identifier" in p.detail for p in forced.errors)
    ours = bag(tmp_path, "ours", info=[("BagIt-Profile-Identifier", PROFILE.identifier)])
    declared = validate_any(ours, PROFILE)
    assert declared.profile == PROFILE.identifier and "profile" in codes(declared)
    other = bag(tmp_path, "other", info=[("BagIt-Profile-Identifier", "urn:x:other")])
    elsewhere = validate_any(other, PROFILE)
    assert elsewhere.verdict == "valid" and codes(elsewhere) == {"profile_other"}


def test_profile_on_bags_it_cannot_read_is_a_problem_not_a_crash(tmp_path):
    utf16 = bag(tmp_path, "utf16", encoding="UTF-16",
                info=[("BagIt-Profile-Identifier", PROFILE.identifier)])
    assert "profile_unreadable" in codes(validate_any(utf16, PROFILE))
    bare = bag(tmp_path, "bare", info=None)
    report = validate_any(bare, PROFILE, force_profile=True)
    assert codes(report) == {"profile_no_info"} and report.verdict == "invalid"


def test_bagit_python_second_opinion_is_a_warning_for_others_bags(tmp_path):
    """It differs from RFC 8493 on %25 (its issue 157): no error of ours, but the bag is
    "disputed", never plain valid (tools built on bagit-python refuse it)."""
    b = bag(tmp_path, files={"data/100%.txt": b"x"})
    report = validate_any(b, PROFILE)
    assert report.verdict == "disputed" and codes(report) == {"second_opinion"}
    assert not report.errors


def _garbage(rng: random.Random) -> list[bytes]:
    return [b"", b"\0" * 64, bytes(rng.randrange(256) for _ in range(300)),
            b"\xff\xfe" + bytes(rng.randrange(256) for _ in range(101)),
            b"x" * 5000, b"::::\n\t\t\n%%%%\r\r\n", "\u2028\ud7ff".encode(),
            b"0  ../../../etc/passwd\n0  data/\xff\xfe\n0 \n"]


@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16"])
def test_hostile_tag_files_give_problems_never_a_traceback(tmp_path, encoding):
    rng = random.Random(12)
    good = bag(tmp_path, "good", encoding=encoding, fetch=["https://e.org/x 6 data/hello.txt"])
    names = [p.name for p in good.iterdir() if p.is_file()]
    assert len(names) == 5
    tried = 0
    for name in names:
        for data in _garbage(rng):
            broken = tmp_path / "broken"
            shutil.rmtree(broken, ignore_errors=True)
            shutil.copytree(good, broken, symlinks=True)
            (broken / name).write_bytes(data)
            report = validate_any(broken, PROFILE, force_profile=True)
            if not name.startswith("tagmanifest"):  # no other file checks that one
                assert report.verdict == "invalid", (name, data[:20])
            assert all(describe(p) for p in report.problems)
            tried += 1
    assert tried == 40


def test_strange_shapes_give_problems_never_a_traceback(tmp_path):
    good = bag(tmp_path, "good")
    shapes = {
        "not there": lambda b: shutil.rmtree(b),
        "a file, not a folder": lambda b: (shutil.rmtree(b), b.write_bytes(b"x")),
        "bagit.txt a folder": lambda b: ((b / "bagit.txt").unlink(), (b / "bagit.txt").mkdir()),
        "data a file": lambda b: (shutil.rmtree(b / "data"), (b / "data").write_bytes(b"")),
        "manifest a folder": lambda b: ((b / "manifest-sha512.txt").unlink(),
                                        (b / "manifest-sha512.txt").mkdir()),
        "tag manifest lists a folder": lambda b: (b / "tagmanifest-sha512.txt").write_text(
            "00  data\n00  .\n"),
        "undecodable file name": lambda b: (b / "data" / "x").with_name(
            b"\xff\xfe.bin".decode("utf-8", "surrogateescape")).write_bytes(b"1"),
    }
    for number, (what, change) in enumerate(shapes.items()):
        broken = tmp_path / f"broken{number}"
        shutil.copytree(good, broken)
        change(broken)
        report = validate_any(broken, PROFILE)
        assert report.verdict == "invalid", what
        words = [describe(p) for p in report.problems]
        assert words and all(w.isprintable() for w in words), (what, words)


def test_cli_valid_incomplete_invalid_and_no_traceback(tmp_path):
    made = tmp_path / "made"
    cases.CASES[[c.name for c in cases.CASES].index("bagit-python-made")].build(made)
    out = workbench_cmd("validate", str(made), cwd=tmp_path)
    assert out.returncode == ExitCode.SUCCESS, out.stdout + out.stderr
    assert "BagIt 0.97" in out.stdout and "is valid" in out.stdout
    hole = bag(tmp_path, "hole", absent=("data/hello.txt",),
               fetch=["https://example.org/hello.txt 6 data/hello.txt"])
    out = workbench_cmd("validate", str(hole), cwd=tmp_path)
    assert out.returncode == ExitCode.PARTIAL and "incomplete" in out.stdout
    assert "data/hello.txt" in out.stdout
    evil = bag(tmp_path, "evil", lines=cases._append("00  ../../../etc/passwd", "tagmanifest-"),
               files={"data/new\nline.txt": b"x"})
    out = workbench_cmd("validate", str(evil), cwd=tmp_path)
    assert out.returncode == ExitCode.FAILED and "outside the bag" in out.stdout
    assert "Traceback" not in out.stderr
    out = workbench_cmd("--lang", "ja", "validate", str(evil), cwd=tmp_path)
    assert out.returncode == ExitCode.FAILED and "バッグの外" in out.stdout


def test_cli_profile_flag(tmp_path):
    plain = bag(tmp_path, "plain")
    assert workbench_cmd("validate", str(plain), cwd=tmp_path).returncode == 0
    out = workbench_cmd("validate", str(plain), "--profile", cwd=tmp_path)
    assert out.returncode == ExitCode.FAILED and "urn:x-migration-workbench" in out.stdout


def test_fast_check_is_complete_not_valid(tmp_path):
    b = bag(tmp_path)
    assert check(b, fast=True).verdict == "complete" and check(b).verdict == "valid"


def test_bagit_txt_lines_in_the_wrong_order_or_with_a_blank_line(tmp_path):
    """RFC 8493 2.1.1: exactly two lines, in this order."""
    good = bag(tmp_path, "good")
    assert validate_any(good, PROFILE).verdict == "valid"
    swapped = tmp_path / "swapped"
    shutil.copytree(good, swapped)
    (swapped / "bagit.txt").write_text(
        "Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n")
    report = validate_any(swapped, PROFILE)
    assert report.verdict == "invalid" and "declaration_order" in codes(report)
    blank = tmp_path / "blank"
    shutil.copytree(good, blank)
    (blank / "bagit.txt").write_text("BagIt-Version: 1.0\n\nTag-File-Character-Encoding: UTF-8\n")
    report = validate_any(blank, PROFILE)
    assert "declaration_blank_line" in codes(report)
    assert not any(p.error for p in report.problems if p.code == "declaration_blank_line")
