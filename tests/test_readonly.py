"""The source kept read-only at the block layer (BLKROSET) and the medium's write-protect
state, on loop devices (CI runs as root)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import MEDIA
from tests.test_block_devices import loop_device
from workbench.imaging import readonly
from workbench.imaging.engine import image, preflight_checks
from workbench.imaging.record import JobRecord, Run

SCHEMA = json.loads((Path(readonly.__file__).parent / "job.schema.json").read_text())
needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("losetup") is None,
                                reason="loop devices need root and losetup (util-linux)")


def _floppy(tmp_path: Path) -> Path:
    backing = tmp_path / "floppy.img"
    shutil.copy(MEDIA / "fd35-2hd-good.img", backing)
    return backing


def _write_fails_with_eperm(dev: str) -> None:
    """The one place the source is opened for writing: to prove the kernel refuses."""
    fd = os.open(dev, os.O_WRONLY | os.O_CLOEXEC)
    try:
        with pytest.raises(OSError) as err:
            os.pwrite(fd, b"\xff" * 512, 0)
        assert err.value.errno == errno.EPERM
    finally:
        os.close(fd)


def _ro(dev: str) -> bool:
    fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return readonly.blk_ro_get(fd)
    finally:
        os.close(fd)


def test_every_pre_flight_line_has_its_words_in_both_languages():
    from workbench.i18n import catalog
    for lang in ("en", "ja"):
        for key in readonly.INFO_KEYS:
            text = catalog(lang)[f"preflight.{key}.ok"]
            assert "{path}" in text, (lang, key)


def test_mode_sense_headers_give_the_wp_bit():
    assert readonly.mode_sense_wp(bytes([0x0B, 0x00, 0x80, 0x00]), ten=False) is True
    assert readonly.mode_sense_wp(bytes([0x0B, 0x00, 0x00, 0x00]), ten=False) is False
    assert readonly.mode_sense_wp(bytes([0, 0x0E, 0, 0x80, 0, 0, 0, 0]), ten=True) is True
    assert readonly.mode_sense_wp(bytes([0, 0x0E, 0x80, 0x00]), ten=True) is False
    assert readonly.mode_sense_wp(b"\x03", ten=False) is None
    assert readonly.cdb_mode_sense6()[0] == 0x1A and readonly.cdb_mode_sense10()[0] == 0x5A


@needs_root
def test_blkroset_makes_writes_fail_with_eperm_and_restore_clears_it(tmp_path):
    backing = _floppy(tmp_path)
    before = backing.read_bytes()
    with loop_device(backing) as dev:
        fd = os.open(dev, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
        try:
            prot = readonly.guard_fd(fd, dev, os.fstat(fd).st_rdev, "restore")
            assert prot.read_only_before is False and prot.set_by_workbench
            assert prot.read_only_during is True and prot.error == ""
            assert prot.write_protect["state"] == "no"  # read before the flag was set
            _write_fails_with_eperm(dev)
            readonly.release_fd(fd, prot)
            assert prot.after == "restored"
        finally:
            os.close(fd)
        assert _ro(dev) is False
        assert readonly.sysfs_read_only(os.stat(dev).st_rdev) is False
    assert backing.read_bytes() == before


@needs_root
def test_keep_leaves_the_device_read_only(tmp_path):
    with loop_device(_floppy(tmp_path)) as dev:
        fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
        try:
            prot = readonly.guard_fd(fd, dev, os.fstat(fd).st_rdev, "keep")
            readonly.release_fd(fd, prot)
            assert prot.after == "kept"
            assert _ro(dev) is True
            _write_fails_with_eperm(dev)
        finally:
            readonly.blk_ro_set(fd, False)  # the test's own clean-up before detaching
            os.close(fd)


@needs_root
def test_off_sets_nothing(tmp_path):
    with loop_device(_floppy(tmp_path)) as dev:
        fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
        try:
            prot = readonly.guard_fd(fd, dev, os.fstat(fd).st_rdev, "off")
            assert not prot.set_by_workbench and prot.read_only_during is False
            readonly.release_fd(fd, prot)
            assert prot.after == ""
        finally:
            os.close(fd)


@needs_root
def test_a_read_only_loop_device_reads_as_write_protected(tmp_path):
    with loop_device(_floppy(tmp_path), read_only=True) as dev:
        rdev = os.stat(dev).st_rdev
        state = readonly.write_protect_state(dev, rdev)
        assert state["state"] == "yes" and state["sysfs_ro"] is True
        assert state["loop_read_only"] is True  # the device's own word, not sysfs's
        assert state["mode_sense_wp"] is None  # a loop device takes no SG_IO
        fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
        try:
            prot = readonly.guard_fd(fd, dev, rdev, "restore")
            assert prot.read_only_before is True and not prot.set_by_workbench
            readonly.release_fd(fd, prot)
            assert prot.after == "" and _ro(dev) is True  # nothing of ours to undo
        finally:
            os.close(fd)


@needs_root
@pytest.mark.parametrize("policy, after, ro_after", [("restore", "restored", False),
                                                     ("keep", "kept", True)])
def test_imaging_records_the_protection_and_premis_names_it(profiles, settings, tmp_path,
                                                            policy, after, ro_after):
    settings = replace(settings, block_read_only=policy)
    with loop_device(_floppy(tmp_path)) as dev:
        checks = preflight_checks(dev, profiles["fd35-2hd"], "RO-1",
                                  replace(settings, paths=replace(
                                      settings.paths, staging=tmp_path / "staging")))
        keys = [c.key for c in checks]
        assert all(c.note for c in checks if c.key.startswith(("wp_", "ro_")))
        assert "wp_no" in keys and f"ro_will_{policy}" in keys
        assert "BLKROSET" in next(c for c in checks if c.key.startswith("ro_")).message()
        try:
            rec = image(dev, profiles["fd35-2hd"], "RO-1", settings, out_dir=tmp_path / "job")
            assert _ro(dev) is ro_after
        finally:
            fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
            readonly.blk_ro_set(fd, False)
            os.close(fd)
    assert rec.outcome == "success"
    saved = json.loads((tmp_path / "job" / "job.json").read_text())
    jsonschema.validate(saved, SCHEMA)
    prot = saved["runs"][-1]["protection"]
    assert prot["set_by_workbench"] and prot["read_only_during"] and prot["after"] == after
    assert prot["write_protect"]["state"] == "no"
    from workbench.station.result import record_lines
    shown = record_lines(JobRecord.load(tmp_path / "job") or rec)[-1]
    assert shown.startswith("Source: read-only at the block layer while imaged (BLKROSET)")
    assert ("cleared afterwards" if policy == "restore" else "kept read-only") in shown
    note = readonly.runs_note(JobRecord.load(tmp_path / "job").runs)
    assert "BLKROSET" in note and ("cleared" if policy == "restore" else "kept") in note

    from workbench.package.carrier import _premis
    report = {"summary": {"files": 0, "unidentified": []}}
    xml = _premis(rec, b"", json.dumps(report).encode(), "2026-11-26T00:00:00Z").decode()
    assert "set read-only (BLKROSET)" in xml and "medium write-protected: no" in xml


def test_files_and_virtual_drives_get_no_block_protection(profiles, settings, tmp_path):
    rec = image(MEDIA / "fd35-2hd-good.img", profiles["fd35-2hd"], "FILE-1", settings,
                out_dir=tmp_path / "job")
    assert rec.runs[-1].protection == {}
    assert readonly.runs_note([Run(started="x")]) == ""


def test_a_run_without_root_says_why_nothing_was_set():
    note = readonly.protection_note({"policy": "restore", "set_by_workbench": False,
                                     "read_only_before": False,
                                     "error": "BLKROSET: Permission denied (needs root)",
                                     "write_protect": {"state": "unknown"}})
    assert "not set read-only: BLKROSET: Permission denied" in note
    assert "medium write-protected: unknown" in note


def test_mode_sense_wins_over_sysfs_where_the_device_answers(monkeypatch, tmp_path):
    """A SCSI device (USB floppy, MO drive) answers MODE SENSE: its WP bit is the
    medium's own state, whatever a read-only setting makes sysfs say."""
    from workbench.optical import drive

    class FakeDrive:
        def __init__(self, path: str) -> None:
            self.asked: list[bytes] = []

        def __enter__(self) -> FakeDrive:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def _sg(self, cdb: bytes, length: int, name: str) -> bytes:
            assert cdb[0] == 0x1A and name == "MODE SENSE"  # (6) first, read-only
            return bytes([0x0B, 0x00, 0x80, 0x00])

    monkeypatch.setattr(drive, "DriveReader", FakeDrive)
    sysfs = tmp_path / "8:16"
    sysfs.mkdir()
    (sysfs / "ro").write_text("0\n")
    monkeypatch.setattr(readonly, "SYS_DEV_BLOCK", tmp_path)
    state = readonly.write_protect_state("/dev/fake", os.makedev(8, 16))
    assert state == {"state": "yes", "basis": "SCSI MODE SENSE WP bit",
                     "mode_sense_wp": True, "sysfs_ro": False, "loop_read_only": None}


def test_sysfs_ro_1_alone_is_no_evidence_of_the_medium(monkeypatch, tmp_path):
    """sysfs ro is get_disk_ro(): any BLKROSET sets it, so with nothing else answering
    a 1 is "unknown: the block layer is read-only", never "write-protected"."""
    sysfs = tmp_path / "8:16"
    sysfs.mkdir()
    monkeypatch.setattr(readonly, "SYS_DEV_BLOCK", tmp_path)
    (sysfs / "ro").write_text("1\n")
    state = readonly.write_protect_state("/dev/fake", os.makedev(8, 16))
    assert state["state"] == "unknown" and state["sysfs_ro"] is True
    assert readonly.wp_key(state) == "wp_blocked"
    from workbench.station.guard_words import protection_line
    line = protection_line({"policy": "restore", "read_only_before": True,
                            "write_protect": state})
    assert "write-protected (" not in line and "unknown" in line
    (sysfs / "ro").write_text("0\n")
    state = readonly.write_protect_state("/dev/fake", os.makedev(8, 16))
    assert state["state"] == "no" and readonly.wp_key(state) == "wp_no"


@needs_root
def test_the_kernel_shows_blkroset_in_sysfs_ro_and_the_state_says_so(tmp_path,
                                                                     monkeypatch):
    """Checked on the kernel: BLKROSET on the whole disk makes /sys/block/X/ro read 1,
    so after a `keep` run or the udev rule sysfs cannot speak for the medium."""
    with loop_device(_floppy(tmp_path)) as dev:
        rdev = os.stat(dev).st_rdev
        fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
        try:
            assert readonly.sysfs_read_only(rdev) is False
            readonly.blk_ro_set(fd, True)
            assert readonly.sysfs_read_only(rdev) is True  # the kernel's get_disk_ro()
            # the loop device still answers for itself: attached read-write
            assert readonly.loop_read_only(dev, rdev) is False
            assert readonly.write_protect_state(dev, rdev)["state"] == "no"
            # a device that reports nothing of its own: sysfs alone gives "unknown"
            monkeypatch.setattr(readonly, "loop_read_only", lambda path, rdev: None)
            state = readonly.write_protect_state(dev, rdev)
            assert state["state"] == "unknown" and readonly.wp_key(state) == "wp_blocked"
            checks = readonly.preflight_checks(
                type("Src", (), {"is_block": True, "path": dev, "rdev": rdev})(), "restore")
            assert [c.key for c in checks] == ["wp_blocked", "ro_already"]
            assert "check its tab or switch by eye" in checks[0].message()
        finally:
            readonly.blk_ro_set(fd, False)
            os.close(fd)
