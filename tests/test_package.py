"""BagIt bags of imaged carriers: valid three ways, tampering caught, crash-safe."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema

from tests.conftest import MEDIA, workbench_cmd
from workbench import PROJECT_ROOT
from workbench.config import Settings
from workbench.errors import BadInput, ExitCode
from workbench.imaging.engine import image
from workbench.package import bags as bags_module
from workbench.package.bags import (
    PayloadFile,
    TagFile,
    check_bag,
    decode_path,
    encode_path,
    read_info,
    read_manifest,
    write_bag,
)
from workbench.package.carrier import bag_job, format_report
from workbench.package.profile import load_bag_profile
from workbench.package.validate import bagit_python, validate_bag
from workbench.profiles import load_profiles

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parent / "premis-subset.xsd"))


@pytest.fixture
def station(tmp_path: Path) -> Settings:
    base = Settings()
    return replace(base, organisation="National Library", operator="Sato",
                   free_space_margin=0,
                   paths=replace(base.paths, staging=tmp_path / "staging",
                                 bags=tmp_path / "bags"))


def imaged(station: Settings, drive: str = "fd35-2hd-damaged", item: str = "FD-1") -> Path:
    profiles = load_profiles(PROJECT_ROOT / "profiles")
    image(MEDIA / f"{drive}.drive.toml", profiles["fd35-2hd" if "fd" in drive else "cd"],
          item, station)
    return station.paths.staging / item


@pytest.fixture
def bag(station: Settings) -> Path:
    return bag_job(imaged(station), station, batch="BATCH-7", bag_count="1 of 2").path


def test_bag_is_valid_three_ways_and_carries_the_known_digests(bag, station):
    profile = load_bag_profile(PROJECT_ROOT / "profiles")
    assert check_bag(bag) == [] and profile.check(bag) == [] and bagit_python(bag) == []
    job = json.loads((bag / "metadata" / "job.json").read_text())
    sha = read_manifest(bag / "manifest-sha256.txt")
    assert sha["data/image.img"] == job["digests"]["sha256"]
    assert read_manifest(bag / "manifest-md5.txt")["data/image.img"] == job["digests"]["md5"]
    info = dict(read_info(bag))
    assert info["Source-Organization"] == "National Library"
    assert info["External-Identifier"] == "FD-1" and info["Bag-Group-Identifier"] == "BATCH-7"
    assert info["Bag-Count"] == "1 of 2" and info["Imaging-Outcome"] == "partial"
    assert info["Bad-Sector-Count"] == "6" and info["Media-Type"] == "fd35-2hd"
    assert info["Payload-Oxum"] == f"{1474560 + (bag / 'data' / 'image.map').stat().st_size}.2"
    assert [k for k, _ in read_info(bag)][:4] == ["Source-Organization", "External-Identifier",
                                                 "External-Description", "Bagging-Date"]
    assert (bag / "bagit.txt").read_text() == \
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    tags = read_manifest(bag / "tagmanifest-sha256.txt")
    assert set(tags) >= {"bagit.txt", "bag-info.txt", "manifest-sha256.txt",
                         "metadata/premis.xml", "metadata/formats.csv"}
    # the image was handed over (linked, then its staging name removed: no bytes copied)
    # and the map copied: no file of the bag can be written through staging
    assert not (station.paths.staging / "FD-1" / "image.img").exists()
    assert os.stat(bag / "data" / "image.img").st_nlink == 1
    bagged = {(p.stat().st_dev, p.stat().st_ino) for p in bag.rglob("*") if p.is_file()}
    staged = {(p.stat().st_dev, p.stat().st_ino) for p in
              (station.paths.staging / "FD-1").rglob("*") if p.is_file()}
    assert bagged.isdisjoint(staged)


def test_bagit_python_never_changes_directory_while_validating(bag, monkeypatch):
    """It runs in this process (the TUI's threads share the working directory)."""
    def forbidden(path):
        raise AssertionError(f"bagit-python called chdir({path!r}) while validating")
    monkeypatch.setattr(os, "chdir", forbidden)
    assert bagit_python(bag) == [] and bagit_python(bag, fast=True) == []
    _flip(bag / "data" / "image.img", 10)
    assert bagit_python(bag) != []


def test_premis_events_are_schema_valid(bag):
    xml = (bag / "metadata" / "premis.xml").read_bytes()
    SCHEMA.validate(xml.decode())
    root = ET.fromstring(xml)
    ns = {"p": "http://www.loc.gov/premis/v3"}
    kinds = [e.text for e in root.findall("p:event/p:eventType", ns)]
    assert kinds == ["capture", "message digest calculation", "format identification",
                     "virus check", "validation", "packing"]
    agents = {a.findtext("p:agentType", namespaces=ns): a.findtext("p:agentName", namespaces=ns)
              for a in root.findall("p:agent", ns)}
    assert agents["person"] == "Sato" and "floppy" in agents["hardware"]
    assert "partial" in [e.text for e in root.findall("p:event/p:eventOutcomeInformation/"
                                                     "p:eventOutcome", ns)]


def tamper_cases(bag: Path):
    yield "altered payload byte", lambda: _flip(bag / "data" / "image.img", 1000)
    yield "missing file", lambda: (bag / "data" / "image.map").unlink()
    yield "extra file", lambda: (bag / "data" / "extra.txt").write_text("x")
    yield "edited tag file", lambda: (bag / "bag-info.txt").write_text(
        (bag / "bag-info.txt").read_text().replace("Operator: Sato", "Operator: Suzuki"))


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)  # a new inode: the staging copy is not touched


@pytest.mark.parametrize("case", ["altered payload byte", "missing file", "extra file",
                                  "edited tag file"])
def test_tampering_is_detected(bag, case, tmp_path):
    dict(tamper_cases(bag))[case]()
    profile = load_bag_profile(PROJECT_ROOT / "profiles")
    assert validate_bag(bag, profile, independent=False)
    assert bagit_python(bag) != []
    out = workbench_cmd("validate", str(bag), cwd=tmp_path)
    assert out.returncode == ExitCode.FAILED and "NOT valid" in out.stdout


def test_fast_validation_checks_completeness_without_rehash(bag, tmp_path):
    assert workbench_cmd("validate", str(bag), "--fast", cwd=tmp_path).returncode == 0
    (bag / "data" / "image.map").write_text("0x0 ? 1\n")  # smaller: Payload-Oxum differs
    out = workbench_cmd("validate", str(bag), "--fast", cwd=tmp_path)
    assert out.returncode == ExitCode.FAILED and "Payload-Oxum" in out.stdout


def test_percent_cr_lf_in_names_are_encoded(tmp_path):
    name = "100% done\r\nreport.txt"
    assert encode_path(name) == "100%25 done%0D%0Areport.txt"
    assert decode_path(encode_path(name)) == name
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    bag = write_bag(tmp_path / "b", [PayloadFile(src, name)], [TagFile("metadata/x", b"x")],
                    [("Source-Organization", "X")], ("sha256",), lambda p: check_bag(p))
    assert "data/100%25 done%0D%0Areport.txt" in (bag / "manifest-sha256.txt").read_text()
    assert check_bag(bag) == []


def test_names_equal_after_nfc_are_refused(tmp_path):
    src = tmp_path / "a"
    src.write_bytes(b"a")
    composed, decomposed = "caf\u00e9.txt", unicodedata.normalize("NFD", "caf\u00e9.txt")
    assert composed != decomposed
    with pytest.raises(BadInput) as err:
        write_bag(tmp_path / "b", [PayloadFile(src, composed), PayloadFile(src, decomposed)],
                  [], [], ("sha256",), check_bag)
    assert "NFC" in str(err.value)
    for bad in ("../escape", "/abs", "~home"):
        with pytest.raises(BadInput):
            write_bag(tmp_path / "c", [PayloadFile(src, bad)], [], [], ("sha256",), check_bag)


CRASH_WHILE_BAGGING = """
import os, signal, sys
from dataclasses import replace
from pathlib import Path
root, staging, bags, job = sys.argv[1:]
sys.path.insert(0, root)
from workbench.config import Settings
import workbench.package.carrier as carrier

def die(*args, **kwargs):  # every file is written; killed before the rename
    os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":  # fido's worker processes re-import this script
    carrier.validate_bag = die
    base = Settings()
    carrier.bag_job(Path(job), replace(base, paths=replace(base.paths, staging=Path(staging),
                                                          bags=Path(bags))))
"""


def test_a_crash_while_bagging_resumes(station, tmp_path):
    job = imaged(station)
    script = tmp_path / "crash.py"
    script.write_text(CRASH_WHILE_BAGGING)
    done = subprocess.run([sys.executable, str(script), str(PROJECT_ROOT),
                           str(station.paths.staging), str(station.paths.bags), str(job)],
                          cwd=tmp_path)
    assert done.returncode == -signal.SIGKILL
    partial = station.paths.bags / ".FD-1.partial"
    assert partial.is_dir() and not (station.paths.bags / "FD-1").exists()
    result = bag_job(job, station)
    assert result.created and not partial.exists()
    assert validate_bag(result.path, load_bag_profile(PROJECT_ROOT / "profiles")) == []
    again = bag_job(job, station)  # idempotent: the finished bag is checked and returned
    assert not again.created and again.path == result.path


def test_across_file_systems_the_image_is_copied_and_checked(station, monkeypatch):
    job = imaged(station)

    def no_link(*a, **k):
        raise OSError(errno.EXDEV, "cross-device link")
    monkeypatch.setattr(bags_module.os, "link", no_link)
    result = bag_job(job, station)
    assert os.stat(result.path / "data" / "image.img").st_ino != \
        os.stat(job / "image.img").st_ino
    assert check_bag(result.path) == []
    # a staging image that changed after imaging is caught by the inline hash
    other = imaged(station, item="FD-2")
    _flip(other / "image.img", 5000)
    with pytest.raises(BadInput) as err:
        bag_job(other, station)
    assert "has changed" in str(err.value)
    assert not (station.paths.bags / "FD-2").exists()
    assert not (station.paths.bags / ".FD-2.partial").exists()


def test_failed_attempts_are_not_bagged(station):
    job = imaged(station, drive="fd35-2hd-truncating", item="FD-9")
    with pytest.raises(BadInput) as err:
        bag_job(job, station)
    assert "failed" in str(err.value)


def test_profile_catches_missing_fields(bag):
    info = (bag / "bag-info.txt").read_text().replace("Station: station-1\n", "")
    (bag / "bag-info.txt").write_text(info)
    problems = load_bag_profile(PROJECT_ROOT / "profiles").check(bag)
    assert "bag-info.txt lacks Station" in problems


def test_cli_bag_then_validate(station, tmp_path):
    job = imaged(station)
    (tmp_path / "workbench.toml").write_text(
        f'[paths]\nstaging = "{station.paths.staging}"\nbags = "{station.paths.bags}"\n')
    out = workbench_cmd("bag", str(job), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "bag written" in out.stdout
    assert workbench_cmd("validate", str(station.paths.bags / "FD-1"),
                         cwd=tmp_path).returncode == 0


def test_a_stop_reaches_verification_and_bagging_and_leaves_nothing_half_made(station):
    """A background accept stopped at shutdown: verification stops between blocks and
    bagging between files, with no partial bag left; accepting again makes the bag."""
    import threading

    from workbench.errors import Aborted
    from workbench.imaging.record import JobRecord
    from workbench.station.result import verify_image
    job = imaged(station)
    record = JobRecord.load(job)
    assert record is not None
    stop = threading.Event()
    stop.set()
    with pytest.raises(Aborted):
        verify_image(job, record, stop)
    assert verify_image(job, record, threading.Event())[0]
    format_report(job, record, station)  # identified: the stop meets the bag's writing
    with pytest.raises(Aborted):
        bag_job(job, station, cancel=stop)
    bags = station.paths.bags
    assert not bags.exists() or not [p.name for p in bags.iterdir()]
    assert bag_job(job, station).path.is_dir()
