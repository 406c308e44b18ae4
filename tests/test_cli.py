"""The headless commands: exit codes, JSON output, SIGKILL and resume, training mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import MEDIA, digests_of, pattern, workbench_cmd, workbench_run
from workbench.errors import ExitCode
from workbench.imaging.mapfile import RescueMap

FD = 1474560


def drive_file(folder: Path, data: bytes, extra: str = "") -> Path:
    (folder / "carrier.img").write_bytes(data)
    path = folder / "carrier.drive.toml"
    path.write_text(f'image = "carrier.img"\nmodel = "CLI drive"\n{extra}')
    return path


def test_exit_codes(tmp_path: Path):
    good = workbench_run("image", str(MEDIA / "fd35-2hd-good.drive.toml"), "--profile",
                         "fd35-2hd", "--item", "FD-1", cwd=tmp_path)
    assert good.returncode == ExitCode.SUCCESS, good.stderr
    assert "success" in good.stdout and "sha256" in good.stdout
    bad = workbench_run("image", str(MEDIA / "fd35-2hd-damaged.drive.toml"), "--profile",
                        "fd35-2hd", "--item", "FD-2", cwd=tmp_path)
    assert bad.returncode == ExitCode.PARTIAL and "6 bad sectors" in bad.stdout
    trunc = workbench_run("image", str(MEDIA / "cd-truncated.drive.toml"), "--profile", "cd",
                          "--item", "CD-1", cwd=tmp_path)
    assert trunc.returncode == ExitCode.FAILED and "truncated" in trunc.stdout
    unknown = workbench_run("image", str(MEDIA / "cd-sample.drive.toml"), "--profile", "cdr",
                            "--item", "CD-2", cwd=tmp_path)
    assert unknown.returncode == ExitCode.BAD_INPUT and "Known profiles" in unknown.stderr
    hostile = workbench_run("image", str(MEDIA / "cd-sample.drive.toml"), "--profile", "cd",
                            "--item", "../../etc", cwd=tmp_path)
    assert hostile.returncode == ExitCode.BAD_INPUT and "Item ID" in hostile.stderr
    missing = workbench_run("image", "/dev/nonexistent", "--profile", "cd", "--item", "X",
                            cwd=tmp_path)
    assert missing.returncode == ExitCode.BAD_INPUT and "workbench drives" in missing.stderr
    assert (tmp_path / "staging" / "FD-1" / "image.img").exists()


def test_json_output_and_japanese(tmp_path: Path):
    out = workbench_run("--lang", "ja", "image", str(MEDIA / "fd35-2hd-damaged.drive.toml"),
                        "--profile", "fd35-2hd", "--item", "FD-2", "--json", cwd=tmp_path)
    rec = json.loads(out.stdout)
    assert rec["outcome"] == "partial" and rec["bad_sector_count"] == 6
    ja = workbench_run("--lang", "ja", "image", str(MEDIA / "fd35-2hd-damaged.drive.toml"),
                       "--profile", "fd35-2hd", "--item", "FD-2", cwd=tmp_path)
    assert "一部成功" in ja.stdout and "不良セクタ" in ja.stdout
    # $WORKBENCH_LANG wins over the station's setting; --lang wins over both
    (tmp_path / "workbench.toml").write_text('[station]\nlanguage = "en"\n')
    env = workbench_run("pending", cwd=tmp_path, env={"WORKBENCH_LANG": "ja"})
    assert env.stdout == workbench_run("--lang", "ja", "pending", cwd=tmp_path).stdout
    assert env.stdout != workbench_run("pending", cwd=tmp_path).stdout
    assert workbench_run("--lang", "en", "pending", cwd=tmp_path,
                         env={"WORKBENCH_LANG": "ja"}).stdout == workbench_run(
        "pending", cwd=tmp_path).stdout


def test_sigkill_then_resume_gives_identical_image_and_digests(tmp_path: Path):
    data = pattern(FD, seed=9)
    (tmp_path / "workbench.toml").write_text("[imaging]\nmap_save_seconds = 0.5\n")
    # slow everywhere so the kill lands mid-copy; one bad patch for the later phases
    drive = drive_file(tmp_path, data, "[[slow]]\nstart = 0\nsize = 1474560\nseconds = 0.02\n"
                       "[[bad]]\nstart = 400000\nsize = 1024\n")
    args = [sys.executable, "-m", "workbench", "image", str(drive), "--profile", "fd35-2hd",
            "--item", "KILL-1"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    map_path = tmp_path / "staging" / "KILL-1" / "image.map"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if map_path.exists() and RescueMap.load(map_path).total("+") > FD // 4:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = RescueMap.load(map_path)
    assert 0 < killed.total("+") < FD  # really interrupted mid-way
    record = json.loads((map_path.parent / "job.json").read_text())
    assert record["outcome"] == "running" and record["digests"] == {}
    resumed = workbench_cmd("image", str(drive), "--profile", "fd35-2hd", "--item", "KILL-1",
                            "--json", cwd=tmp_path)
    assert resumed.returncode == ExitCode.PARTIAL, resumed.stderr
    after = json.loads(resumed.stdout)
    whole = workbench_cmd("image", str(drive), "--profile", "fd35-2hd", "--item", "WHOLE-1",
                          "--json", cwd=tmp_path)
    reference = json.loads(whole.stdout)
    assert after["digests"] == reference["digests"]
    expected = bytearray(data)
    expected[399872:401408] = bytes(1536)  # the 1024 bad bytes, in whole sectors
    assert after["digests"] == digests_of(bytes(expected))
    assert (map_path.parent / "image.img").read_bytes() == \
        (tmp_path / "staging" / "WHOLE-1" / "image.img").read_bytes()
    assert len(after["runs"]) == 2 and after["runs"][0]["outcome"] == "running"
    # the resumed run did not read again what the killed run had saved as finished
    assert after["runs"][1]["bytes_read_from_medium"] <= FD - killed.total("+") + 4096


def test_training_images_every_sample_carrier(tmp_path: Path):
    out = workbench_cmd("training", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    staging = tmp_path / "training" / "staging"
    outcomes = {p.name: json.loads((p / "job.json").read_text())["outcome"]
                for p in staging.iterdir()}
    assert outcomes == {"TRAIN-fd35-2hd-good": "success", "TRAIN-fd35-2hd-damaged": "partial",
                        "TRAIN-fd35-2hd-truncating": "failed", "TRAIN-cd-sample": "success",
                        "TRAIN-cd-truncated": "failed", "TRAIN-usb-sample": "success",
                        # the training discs, read as discs (TOC, sessions, audio tracks)
                        "TRAIN-audio": "success", "TRAIN-mixed": "success",
                        "TRAIN-enhanced": "success", "TRAIN-two-session": "success"}
    enhanced = json.loads((staging / "TRAIN-enhanced" / "job.json").read_text())
    assert enhanced["disc"]["disc_class"] == "enhanced_cd"
    assert [t["number"] for t in enhanced["tracks"]] == [1, 2]  # audio, read raw
    assert not (tmp_path / "staging").exists()  # training is kept apart
    drives = json.loads(workbench_cmd("--training", "drives", "--json", cwd=tmp_path).stdout)
    virtual = {d["name"]: d for d in drives if d["kind"] == "virtual"}
    assert virtual["fd35-2hd-damaged"]["suggested_profile"] == "fd35-2hd"
    assert virtual["usb-sample"]["suggested_profile"] == "usb"
    assert virtual["cd-sample"]["suggested_profile"] == "cd"


def test_an_argument_of_undecodable_bytes_is_refused_before_anything(tmp_path: Path,
                                                                      capsys):
    """A source whose name holds bytes that are not UTF-8 (a folder from another
    system): refused by name (exit 2) before anything is read or written; it used to
    end in a traceback from the job record, the ledger or PREMIS."""
    from workbench.cli import main
    folder = os.fsdecode(bytes(tmp_path) + b"/src\xff\x01")
    os.makedirs(folder)
    source = os.path.join(folder, "fd.img")
    Path(source).write_bytes((MEDIA / "fd35-2hd-good.img").read_bytes())
    assert main(["image", source, "--profile", "fd35-2hd", "--item", "NU-1"]) \
        == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "\\udcff" in err
    assert not (tmp_path / "staging").exists() and not (tmp_path / "logs").exists()
