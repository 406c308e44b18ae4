"""A run killed (SIGKILL) while it held BLKROSET: the next run of the job, another job on
the same device, or `workbench setup --clear-read-only` takes the flag back; a flag on a
re-attached device is never taken as the workbench's. Loop devices (CI runs as root)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jsonschema

from tests.conftest import PROJECT_ROOT
from tests.test_block_devices import loop_device
from tests.test_readonly import SCHEMA, _floppy, _ro, needs_root
from workbench.imaging import readonly, readonly_left
from workbench.imaging.engine import image, preflight_checks

# imaging in a child process that SIGKILLs itself at the first progress report: the flag
# is set and the run recorded, and nothing after it (release, the list) happens
KILLED = """
import os, signal, sys
from dataclasses import replace
from pathlib import Path
from workbench.config import Settings
from workbench.imaging.engine import image
from workbench.profiles import load_profiles
profile = load_profiles(Path(sys.argv[3]) / "profiles")["fd35-2hd"]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
image(sys.argv[1], profile, sys.argv[2], replace(Settings(), free_space_margin=0),
      out_dir=Path(sys.argv[2]), progress=die)
"""


def _kill_mid_imaging(dev: str, item: str, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "WORKBENCH_LANG": "en"}
    env.pop("WORKBENCH_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", KILLED, dev, item, str(PROJECT_ROOT)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert _ro(dev) is True  # left set, as a killed run leaves it


def _clear(dev: str) -> None:
    fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
    try:
        readonly.blk_ro_set(fd, False)
    finally:
        os.close(fd)


@needs_root
def test_the_resumed_run_takes_back_the_flag_a_killed_run_left(profiles, settings,
                                                               tmp_path):
    with loop_device(_floppy(tmp_path)) as dev:
        try:
            _kill_mid_imaging(dev, "KILL-1", tmp_path)
            first = json.loads((tmp_path / "KILL-1" / "job.json").read_text())
            left = first["runs"][-1]["protection"]
            assert left["set_by_workbench"] and left["after"] == ""
            assert left["diskseq"] == readonly.diskseq(os.stat(dev).st_rdev)
            checks = preflight_checks(dev, profiles["fd35-2hd"], "KILL-1",
                                      replace(settings, paths=replace(
                                          settings.paths, staging=tmp_path)))
            assert "ro_left_restore" in [c.key for c in checks]
            rec = image(dev, profiles["fd35-2hd"], "KILL-1", settings,
                        out_dir=tmp_path / "KILL-1")
            assert _ro(dev) is False  # cleared: the device is writable again
        finally:
            _clear(dev)
    assert rec.outcome == "success"
    saved = json.loads((tmp_path / "KILL-1" / "job.json").read_text())
    jsonschema.validate(saved, SCHEMA)
    prot = saved["runs"][-1]["protection"]
    assert prot["read_only_before"] and prot["set_by_workbench"] and prot["taken_back"]
    assert prot["after"] == "restored"
    # the flag was the workbench's, so the medium's own state is not known from sysfs
    assert prot["write_protect"]["state"] == "no"  # a loop device answers for itself
    from workbench.imaging.record import JobRecord
    from workbench.station.result import record_lines
    shown = record_lines(JobRecord.load(tmp_path / "KILL-1") or rec)[-1]
    assert "taken back" in shown and "cleared afterwards" in shown
    assert readonly_left.held_path(settings).exists()
    assert json.loads(readonly_left.held_path(settings).read_text()) == []


@needs_root
def test_keep_takes_the_flag_back_and_keeps_it(profiles, settings, tmp_path):
    with loop_device(_floppy(tmp_path)) as dev:
        try:
            _kill_mid_imaging(dev, "KILL-2", tmp_path)
            rec = image(dev, profiles["fd35-2hd"], "KILL-2",
                        replace(settings, block_read_only="keep"), out_dir=tmp_path / "KILL-2")
            assert _ro(dev) is True
        finally:
            _clear(dev)
    prot = rec.runs[-1].protection
    assert prot["taken_back"] and prot["after"] == "kept"


@needs_root
def test_another_job_on_the_same_device_takes_it_back_from_the_station_list(
        profiles, settings, tmp_path):
    with loop_device(_floppy(tmp_path)) as dev:
        try:
            _kill_mid_imaging(dev, "KILL-3", tmp_path)
            held = json.loads(readonly_left.held_path(settings).read_text())
            assert [e["item"] for e in held] == ["KILL-3"]
            rec = image(dev, profiles["fd35-2hd"], "OTHER-3", settings,
                        out_dir=tmp_path / "OTHER-3")
            assert _ro(dev) is False
        finally:
            _clear(dev)
    assert rec.runs[-1].protection["taken_back"]
    assert json.loads(readonly_left.held_path(settings).read_text()) == []


@needs_root
def test_clear_read_only_clears_a_left_flag_and_a_set_by_someone_else_stays(
        profiles, settings, tmp_path):
    with loop_device(_floppy(tmp_path)) as dev:
        try:
            _kill_mid_imaging(dev, "KILL-4", tmp_path)
            lines = readonly_left.clear_left(settings)
            assert _ro(dev) is False and "cleared" in lines[0] and "KILL-4" in lines[0]
            assert readonly_left.clear_left(settings) == [
                "No block-level read-only flag left set by the workbench."]
            # a flag someone else set (blockdev --setro) is never the workbench's
            subprocess.run(["blockdev", "--setro", dev], check=True)
            rec = image(dev, profiles["fd35-2hd"], "KILL-4", settings,
                        out_dir=tmp_path / "KILL-4")
            assert _ro(dev) is True
            assert not rec.runs[-1].protection["set_by_workbench"]
            assert rec.runs[-1].protection["write_protect"]["state"] == "no"
        finally:
            _clear(dev)


@needs_root
def test_a_re_attached_device_is_a_new_disk_whose_flag_is_not_ours(settings, tmp_path):
    backing = _floppy(tmp_path)
    with loop_device(backing) as dev:
        _kill_mid_imaging(dev, "KILL-5", tmp_path)
    try:  # detached: a loop node keeps its flag, under a new attachment number
        with loop_device(backing) as dev2:
            try:
                rdev = os.stat(dev2).st_rdev
                assert not readonly_left.left_by_workbench(settings, tmp_path / "KILL-5",
                                                           dev2, rdev)
                lines = readonly_left.clear_left(settings)
                assert "re-attached" in lines[0] and "KILL-5" in lines[0]
                assert json.loads(readonly_left.held_path(settings).read_text()) == []
            finally:
                _clear(dev2)
    finally:
        _clear(dev)  # leave no flag on a free loop node for the next user


def test_a_record_from_before_the_list_is_taken_on_its_word_a_new_one_needs_the_list(
        settings, tmp_path):
    """A job record written before the station kept its list (no diskseq in it, as the
    tryout's U-kill2) says alone that its killed run set the flag; a newer record needs
    the list too, so a flag cleared since and set again by someone else is not ours."""
    from workbench.imaging.record import JobRecord, Run
    legacy = {"policy": "restore", "block_device": True, "read_only_before": False,
              "set_by_workbench": True, "read_only_during": True, "error": "",
              "after": "", "write_protect": {"state": "no"}}
    for protection, listed, ours in ((legacy, False, True),
                                     ({**legacy, "diskseq": 7}, False, False),
                                     ({**legacy, "diskseq": 7}, True, True),
                                     ({**legacy, "after": "restored"}, False, False)):
        job = tmp_path / f"job-{len(protection)}-{listed}-{protection['after']}"
        record = JobRecord("L-1", "usb", "usb", "station-1", "org", "", "test",
                           source="/dev/fake")
        record.runs.append(Run(started="2026-11-26T00:00:00Z", protection=protection))
        job.mkdir()
        record.save(job)
        held = readonly_left.held_path(settings)
        held.parent.mkdir(parents=True, exist_ok=True)
        held.write_text(json.dumps([{"device": "/dev/fake", "rdev": 1, "diskseq": None,
                                     "item": "L-1"}] if listed else []))
        assert readonly_left.left_by_workbench(settings, job, "/dev/fake", 1) is ours, \
            (protection, listed)
        assert not readonly_left.left_by_workbench(settings, job, "/dev/other", 2)
