"""Virus scanning with ClamAV over the files streamed from an image and its boot sectors,
with a signature database made here (never the station's: CI has none, and freshclam
needs the network). The EICAR test string is assembled at run time so that no file of
the repository carries it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.identify.engine import identify_image
from workbench.scan.clamav import find_clamscan
from workbench.scan.virus import VirusScan

EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS" + "-TEST-FILE!$H+H*"
         ).encode()
BOOT_MARK = b"WB-TEST-BOOT-VIRUS"
BOOT_AT = 0x3E  # the FAT12 boot code, just past the BIOS parameter block
needs_clamscan = pytest.mark.skipif(shutil.which("clamscan") is None,
                                    reason="clamscan is not installed (Debian: clamav)")


def signature_db(tmp: Path) -> Path:
    """A ClamAV database of two body signatures: the EICAR string anywhere in a file,
    and a mark at the boot code's offset of a boot sector."""
    db = tmp / "sigdb"
    db.mkdir()
    (db / "workbench-test.ndb").write_text(
        f"Workbench.Test.EICAR:0:*:{EICAR.hex()}\n"
        f"Workbench.Test.BootSector:0:{BOOT_AT}:{BOOT_MARK.hex()}\n")
    return db


def scanning(settings: Settings, db: Path) -> Settings:
    return replace(settings, virus_database=str(db))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def fat_floppy(tmp: Path, boot_virus: bool = True) -> Path:
    """A 1.44 MB FAT12 floppy (mkfs.fat, mtools): EICAR at the root, inside a ZIP and in
    a folder, clean files beside them, the boot-sector mark in its boot code."""
    img = tmp / "floppy.img"
    subprocess.run([_tool("mkfs.fat"), "-C", str(img), "1440"], check=True,
                   capture_output=True)
    src = tmp / "src"
    src.mkdir()
    (src / "EICAR.COM").write_bytes(EICAR)
    (src / "README.TXT").write_bytes(b"a clean text file\r\n" * 50)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner/test.com", EICAR)
    (src / "INNER.ZIP").write_bytes(buf.getvalue())
    (src / "GAME.EXE").write_bytes(b"MZ" + bytes(4000) + EICAR + bytes(100))
    mcopy = _tool("mcopy")
    subprocess.run([_tool("mmd"), "-i", str(img), "::/DOCS"], check=True, capture_output=True)
    for name in ("EICAR.COM", "README.TXT", "INNER.ZIP"):
        subprocess.run([mcopy, "-i", str(img), str(src / name), "::/"], check=True,
                       capture_output=True)
    subprocess.run([mcopy, "-i", str(img), str(src / "GAME.EXE"), "::/DOCS/"], check=True,
                   capture_output=True)
    if boot_virus:
        with open(img, "r+b") as fh:
            fh.seek(BOOT_AT)
            fh.write(BOOT_MARK)
    return img


def iso_volume(tmp: Path) -> Path:
    """An ISO 9660 volume (genisoimage, Rock Ridge and Joliet): EICAR in a folder."""
    src = tmp / "isosrc"
    (src / "tools").mkdir(parents=True)
    (src / "tools" / "eicar.com").write_bytes(EICAR)
    (src / "readme.txt").write_bytes(b"clean\n" * 100)
    out = tmp / "disc.iso"
    subprocess.run([_tool("genisoimage"), "-quiet", "-R", "-J", "-V", "SCANTEST", "-o",
                    str(out), str(src)], check=True, capture_output=True)
    return out


def _by_path(report) -> dict[str, str]:
    return {f.path: f.virus for f in report.files}


@needs_clamscan
def test_files_inside_a_fat_floppy_and_its_boot_sector_are_scanned(settings, tmp_path):
    img = fat_floppy(tmp_path)
    before = hashlib.sha256(img.read_bytes()).hexdigest()
    scan = VirusScan.for_settings(scanning(settings, signature_db(tmp_path)))
    assert scan.active, scan.why_not
    report = identify_image(img, settings, scanner=scan)
    result = report.virus_scan
    assert result["status"] == "scanned", result
    assert result["clamscan_runs"] == 1  # one database load for the whole image
    assert result["boot_sectors_scanned"] == 1 and result["files_scanned"] == 4
    viruses = _by_path(report)
    assert "Workbench.Test.EICAR" in viruses["/EICAR.COM"]
    assert "Workbench.Test.EICAR" in viruses["/INNER.ZIP"]  # ClamAV looks inside the ZIP
    assert "Workbench.Test.EICAR" in viruses["/DOCS/GAME.EXE"]
    assert viruses["/README.TXT"] == ""
    found = {f["path"]: f["signature"] for f in result["infected"]}
    assert "Workbench.Test.BootSector" in found["[boot sector]"]
    assert set(found) == {"[boot sector]", "/EICAR.COM", "/INNER.ZIP", "/DOCS/GAME.EXE"}
    assert "workbench-test.ndb sha256" in result["signatures"]
    assert result["engine_version"][0].isdigit()
    # flagged in the report, never altered: the image is as it was
    assert hashlib.sha256(img.read_bytes()).hexdigest() == before
    assert {i["path"] for i in report.summary()["infected"]} == \
        {"/EICAR.COM", "/INNER.ZIP", "/DOCS/GAME.EXE"}
    out = io.StringIO()
    from workbench.identify.report import write_csv
    write_csv(report, out, bom=False)
    rows = {r["PATH"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert "Workbench.Test.EICAR" in rows["/EICAR.COM"]["VIRUS"]
    assert rows["/README.TXT"]["VIRUS"] == ""


@needs_clamscan
def test_a_clean_boot_sector_is_not_flagged(settings, tmp_path):
    img = fat_floppy(tmp_path, boot_virus=False)
    report = identify_image(img, settings, scanner=VirusScan.for_settings(
        scanning(settings, signature_db(tmp_path))))
    assert "[boot sector]" not in {f["path"] for f in report.virus_scan["infected"]}
    assert report.virus_scan["boot_sectors_scanned"] == 1


@needs_clamscan
def test_files_inside_an_iso_volume_are_scanned(settings, tmp_path):
    iso = iso_volume(tmp_path)
    report = identify_image(iso, settings, scanner=VirusScan.for_settings(
        scanning(settings, signature_db(tmp_path))))
    result = report.virus_scan
    assert result["status"] == "scanned"
    infected = [f for f in result["infected"] if f["path"] != "[boot sector]"]
    assert [f["path"] for f in infected] == ["/tools/eicar.com"]
    assert _by_path(report)["/readme.txt"] == ""


@needs_clamscan
def test_small_batches_give_the_same_verdicts(settings, tmp_path):
    img = fat_floppy(tmp_path)
    scan = VirusScan.for_settings(scanning(settings, signature_db(tmp_path)))
    scan.batch_files = 2
    report = identify_image(img, settings, scanner=scan)
    assert report.virus_scan["clamscan_runs"] == 3  # 4 files and a boot sector, 2 a run
    assert len(report.virus_scan["infected"]) == 4


def test_without_clamscan_the_report_says_not_scanned(settings, tmp_path):
    img = fat_floppy(tmp_path)
    scan = VirusScan.for_settings(replace(settings, virus_command="no-such-clamscan-here",
                                          virus_database=str(signature_db(tmp_path))))
    report = identify_image(img, settings, scanner=scan)
    result = report.virus_scan
    assert result["status"] == "not_scanned"
    assert "no-such-clamscan-here is not installed" in result["reason"]
    assert all(f.virus == "not scanned" for f in report.files if f.link is None)


@needs_clamscan
def test_without_a_database_or_when_turned_off_nothing_passes_as_clean(settings, tmp_path):
    engine, why = find_clamscan("clamscan", str(tmp_path / "empty"))
    assert engine is None and "no ClamAV signature database" in why
    off = VirusScan.for_settings(replace(settings, virus_scan=False))
    assert not off.active and "turned off" in off.why_not
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.ndb").write_text("this is no signature\n")
    report = identify_image(fat_floppy(tmp_path), settings, scanner=VirusScan.for_settings(
        scanning(settings, broken)))
    assert report.virus_scan["status"] == "not_scanned"  # clamscan refused its database
    assert report.virus_scan["files_scanned"] == 0
    assert all(f.virus == "not scanned" for f in report.files if f.link is None)


@needs_clamscan
def test_the_bag_carries_the_scan_and_premis_names_scanner_and_signatures(
        profiles, settings, tmp_path):
    from workbench.imaging.engine import image
    from workbench.package.carrier import bag_job
    from workbench.package.profile import load_bag_profile
    from workbench.package.validate import validate_bag
    img = fat_floppy(tmp_path)
    data = img.read_bytes()
    settings = replace(scanning(settings, signature_db(tmp_path)), paths=replace(
        settings.paths, bags=tmp_path / "bags", profiles=settings.paths.profiles))
    rec = image(img, profiles["fd35-2hd"], "VIRUS-1", settings, out_dir=tmp_path / "job")
    assert rec.outcome == "success"  # an infected carrier still migrates
    bag = bag_job(tmp_path / "job", settings).path
    assert (bag / "data" / "image.img").read_bytes() == data  # not altered
    scan = json.loads((bag / "metadata" / "virus-scan.json").read_text())
    assert {f["path"] for f in scan["infected"]} >= {"/EICAR.COM", "[boot sector]"}
    info = (bag / "bag-info.txt").read_text()
    assert "Virus-Scan: 4 infected" in info
    premis = (bag / "metadata" / "premis.xml").read_text()
    assert "<premis:eventType>virus check</premis:eventType>" in premis
    assert "<premis:eventOutcome>fail</premis:eventOutcome>" in premis
    assert "ClamAV clamscan" in premis and "workbench-test.ndb sha256" in premis
    assert validate_bag(bag, load_bag_profile(settings.paths.profiles)) == []
    formats = json.loads((bag / "metadata" / "formats.json").read_text())
    assert formats["virus_scan"]["status"] == "scanned"


def test_a_bag_made_without_clamav_says_not_performed(profiles, settings, tmp_path):
    from workbench.imaging.engine import image
    from workbench.package.carrier import bag_job
    img = fat_floppy(tmp_path)
    settings = replace(settings, virus_command="no-such-clamscan-here",
                       virus_database=str(signature_db(tmp_path)),
                       paths=replace(settings.paths, bags=tmp_path / "bags"))
    image(img, profiles["fd35-2hd"], "NOSCAN-1", settings, out_dir=tmp_path / "job")
    bag = bag_job(tmp_path / "job", settings).path
    assert "Virus-Scan: not scanned: no-such-clamscan-here is not installed" in \
        (bag / "bag-info.txt").read_text()
    premis = (bag / "metadata" / "premis.xml").read_text()
    assert "<premis:eventOutcome>not performed</premis:eventOutcome>" in premis
    assert json.loads((bag / "metadata" / "virus-scan.json").read_text())["status"] == \
        "not_scanned"


def test_the_words_shown_for_a_scan_and_for_none(settings):
    from workbench.station.guard_words import protection_line, virus_lines
    found = {"status": "scanned", "files_scanned": 3, "boot_sectors_scanned": 1,
             "engine_version": "1.4.6", "not_scanned": [], "listing_complete": True,
             "infected": [{"path": "/A.COM", "signature": "Sig.A"}]}
    lines = virus_lines(found)
    assert "1 INFECTED" in lines[0] and "3 files and 1 boot sectors" in lines[0]
    assert lines[1].strip() == "/A.COM: Sig.A"
    assert virus_lines({**found, "infected": []})[0].startswith("Virus scan: no virus found")
    assert "not scanned: no clamscan" in virus_lines({"status": "not_scanned",
                                                       "reason": "no clamscan"})[0]
    partly = virus_lines({**found, "status": "partly_scanned",
                          "not_scanned": [{"path": "/BIG", "reason": "too big"}]})
    assert "1 items are listed as not scanned" in partly[-1]
    assert virus_lines({}) == []
    line = protection_line({"policy": "restore", "set_by_workbench": True,
                            "after": "restored", "write_protect": {"state": "yes",
                                                                   "basis": "sysfs ro"}})
    assert "BLKROSET), cleared afterwards" in line and "write-protected (sysfs ro)" in line


@needs_clamscan
def test_workbench_identify_scans_with_the_database_the_settings_name(tmp_path):
    from tests.conftest import workbench_cmd
    img = fat_floppy(tmp_path)
    db = signature_db(tmp_path)
    (tmp_path / "workbench.toml").write_text(f'[virus_scan]\ndatabase = "{db}"\n')
    done = workbench_cmd("identify", str(img), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Virus scan: 4 INFECTED" in done.stdout
    assert "/EICAR.COM: Workbench.Test.EICAR" in done.stdout
    rows = list(csv.DictReader(io.StringIO(
        (tmp_path / "out" / "formats.csv").read_text(encoding="utf-8-sig"))))
    assert {r["PATH"] for r in rows if r["VIRUS"]} == {"/EICAR.COM", "/INNER.ZIP",
                                                        "/DOCS/GAME.EXE"}


def test_a_clamscan_run_stops_when_cancelled(tmp_path):
    """A slow scanner (a stand-in that answers --version, then waits) is stopped by the
    cancel event instead of holding identification up."""
    import os
    import threading

    from workbench.imaging.rescue import Cancelled
    fake = tmp_path / "slowscan"
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "ClamAV 9.9.9"; exit 0; }\n'
                    "exec sleep 30\n")
    fake.chmod(0o755)
    db = signature_db(tmp_path)
    engine, why = find_clamscan(str(fake), str(db))
    assert engine is not None, why
    assert engine.engine_version == "9.9.9"
    fd = os.memfd_create("t")
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    try:
        with pytest.raises(Cancelled):  # without the cancel: no Cancelled, after 30 s
            engine.scan([fd], cancel)
    finally:
        os.close(fd)


def test_identification_reads_on_while_clamscan_scans_the_last_batch(tmp_path):
    """A full batch goes to clamscan in the background: the next file is read at once,
    not after the scan; finish waits for every run and has every verdict."""
    import time

    from workbench.identify.report import FileRecord, FormatReport
    from workbench.scan.virus import VirusScan
    started, go, ended = tmp_path / "started", tmp_path / "go", tmp_path / "ended"
    fake = tmp_path / "heldscan"
    fake.write_text(
        '#!/bin/sh\n[ "$1" = --version ] && { echo "ClamAV 9.9.9"; exit 0; }\n'
        f'touch {started}; i=0\n'
        f'while [ ! -e {go} ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done\n'
        'for last; do :; done\nwhile read f; do echo "$f: OK"; done < "$last"\n'
        f'touch {ended}\n')
    fake.chmod(0o755)
    engine, why = find_clamscan(str(fake), str(signature_db(tmp_path)))
    assert engine is not None, why
    scan = VirusScan(engine, batch_files=1)
    records = [FileRecord(id=n, volume=0, path=f"/f{n}", size=4) for n in range(2)]
    first = scan.open(records[0])
    assert first is not None
    first.write(b"data")
    first.done()  # the batch is full: clamscan starts and waits for `go`
    deadline = time.monotonic() + 10
    while not started.exists():
        assert time.monotonic() < deadline, "clamscan never started"
        time.sleep(0.02)
    second = scan.open(records[1])  # read on while the first batch is scanned
    assert second is not None and not ended.exists()
    second.write(b"more")
    go.touch()
    second.done()
    result = scan.finish(FormatReport("x.img", 8, "test", files=records))
    assert (result["files_scanned"], result["clamscan_runs"]) == (2, 2)
    assert [r.virus for r in records] == ["", ""]
