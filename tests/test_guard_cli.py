"""The guard on the command line: `migrate` prints the pre-flight notes (write protection,
BLKROSET) as the station UI shows them; `setup --udev` says the right thing when the
rules folder cannot be written; the udev rule leaves the station's own disks alone;
`setup --clear-read-only`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.test_block_devices import loop_device
from tests.test_readonly import _floppy, _ro, needs_root
from workbench.cli import main
from workbench.errors import ExitCode, Refused
from workbench.station import udev


@needs_root
def test_cli_migrate_prints_the_pre_flight_notes_before_imaging(tmp_path, capsys):
    with loop_device(_floppy(tmp_path)) as dev:
        code = main(["migrate", dev, "--profile", "fd35-2hd", "--item", "CLI-RO"])
        assert _ro(dev) is False
    err = capsys.readouterr().err
    assert code == ExitCode.SUCCESS, err
    notes = [line for line in err.splitlines() if line.startswith("Pre-flight: ")]
    assert len(notes) == 2, err
    assert f"The medium in {dev} is not write-protected (loop device" in notes[0]
    assert "will be set read-only at the block layer (BLKROSET)" in notes[1]



@needs_root
def test_cli_retry_prints_the_pre_flight_notes_of_the_drive_it_reads(tmp_path, capsys):
    """retry reads a drive as migrate does: the same notes, for the recorded drive."""
    with loop_device(_floppy(tmp_path)) as dev:
        assert main(["image", dev, "--profile", "fd35-2hd", "--item", "CLI-RR"]) in (
            ExitCode.SUCCESS, ExitCode.PARTIAL)
        capsys.readouterr()
        code = main(["retry", "CLI-RR"])
        assert _ro(dev) is False
    err = capsys.readouterr().err
    assert code == ExitCode.SUCCESS, err
    notes = [line for line in err.splitlines() if line.startswith("Pre-flight: ")]
    assert len(notes) == 2, err
    assert f"The medium in {dev} is not write-protected (loop device" in notes[0]
    assert "will be set read-only at the block layer (BLKROSET)" in notes[1]

def test_cli_migrate_of_an_image_file_has_no_block_notes(tmp_path, capsys):
    from tests.conftest import MEDIA
    assert main(["migrate", str(MEDIA / "fd35-2hd-good.img"), "--profile", "fd35-2hd",
                 "--item", "CLI-F"]) == ExitCode.SUCCESS
    assert "Pre-flight: " not in capsys.readouterr().err


def test_udev_denied_as_root_does_not_say_run_as_root(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(Refused) as err:
        udev.run_setup(blocker)  # a file where the rules folder should be
    said = err.value.message()
    assert "Run it as root" not in said and "sudo" not in said
    assert str(blocker) in said and "already runs as root" in said
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(Refused) as err:
        udev.run_setup(blocker)
    assert "Run it as root (sudo workbench setup --udev)" in err.value.message()


def test_the_rule_protects_removable_media_only_and_skips_the_listed_disks():
    text = udev.rule_text("/usr/sbin/blockdev", ("ID_SERIAL=WD_Elements_25A3_575834",
                                                 "ID_FS_UUID=1234-ABCD"))
    lines = text.splitlines()
    assert not any("ID_BUS" in line for line in lines)  # a USB staging disk is not removable
    assert 'ATTRS{removable}=="1", GOTO="workbench_readonly_protect"' in lines
    assert 'KERNEL=="sr[0-9]*", GOTO="workbench_readonly_protect"' in lines
    skip = ['ENV{ID_SERIAL}=="WD_Elements_25A3_575834", GOTO="workbench_readonly_end"',
            'ENV{ID_FS_UUID}=="1234-ABCD", GOTO="workbench_readonly_end"']
    assert all(s in lines for s in skip)
    first_protect = min(i for i, line in enumerate(lines) if "readonly_protect\"" in line
                        and "GOTO" in line)
    assert all(lines.index(s) < first_protect for s in skip)  # exceptions come first
    assert "ID_SERIAL" not in udev.rule_text("/usr/sbin/blockdev")


@pytest.mark.parametrize("bad", ["ID_SERIAL", "ID_SERIAL=", "ID_SERIAL=a\"b",
                                 "ID_SERIAL=a\nRUN+=\"/bin/sh\"", "DEVNAME=sda",
                                 "ID_SERIAL=a b", "ID_SERIAL=a|b"])
def test_an_exception_that_could_break_or_widen_the_rule_is_refused(tmp_path, bad):
    from workbench.config import load_settings
    from workbench.errors import BadInput
    (tmp_path / "workbench.toml").write_text(f"[protect]\nudev_exempt = [{json.dumps(bad)}]\n")
    with pytest.raises(BadInput) as err:
        load_settings(tmp_path / "workbench.toml")
    assert "udev_exempt" in err.value.message()


def test_the_station_exceptions_reach_the_rule_that_setup_writes(tmp_path, capsys):
    (tmp_path / "workbench.toml").write_text(
        '[protect]\nudev_exempt = ["ID_SERIAL=Staging_Disk_01"]\n')
    rules = tmp_path / "rules"
    assert main(["setup", "--udev", "--rules-dir", str(rules)]) == ExitCode.SUCCESS
    text = (rules / udev.RULE_NAME).read_text()
    assert 'ENV{ID_SERIAL}=="Staging_Disk_01", GOTO="workbench_readonly_end"' in text
    assert main(["setup", "--udev", "--dry-run", "--rules-dir", str(rules)]) == 0
    out = capsys.readouterr().out
    assert "it holds this rule already" in out and "Staging_Disk_01" in out


@needs_root
def test_setup_clear_read_only_on_the_cli(tmp_path, capsys):
    from tests.test_readonly_left import _kill_mid_imaging
    with loop_device(_floppy(tmp_path)) as dev:
        try:
            _kill_mid_imaging(dev, "CLR-1", tmp_path)
            assert main(["setup", "--clear-read-only"]) == ExitCode.SUCCESS
            assert _ro(dev) is False
        finally:
            subprocess.run(["blockdev", "--setrw", dev], check=False)
    out = capsys.readouterr().out
    assert f"{dev}: cleared the read-only flag a killed run of CLR-1 left set." in out


def test_rule_dir_default_is_udevs_own():
    assert Path("/etc/udev/rules.d") == udev.RULES_DIR
