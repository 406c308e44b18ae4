"""SIGKILL at 0.1 s steps through imaging, each time resuming the same job: the image and
digests equal an uninterrupted run's (issue 10: the map is safe at any moment)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import MEDIA, workbench_cmd


def slow_drive(tmp_path: Path, slow: bool = True, name: str = "slow") -> Path:
    """The damaged training disk with every read slowed: imaging takes a few seconds.
    slow=False: the same bytes and bad patch at full speed."""
    drive = tmp_path / f"{name}.drive.toml"
    drive.write_text(f'image = "{MEDIA / "fd35-2hd-damaged.img"}"\n'
                     + ('[[slow]]\nstart = 0\nsize = 1474560\nseconds = 0.03\n' if slow
                        else '') + '[[bad]]\nstart = 20480\nsize = 1536\n')
    return drive


def image_cmd(drive: Path) -> list[str]:
    return [sys.executable, "-m", "workbench", "image", str(drive), "--profile", "fd35-2hd",
            "--item", "K-1", "--retries", "1"]


def test_sigkill_at_tenth_second_steps_then_resume_gives_the_same_image(tmp_path):
    drive = slow_drive(tmp_path)
    reference = tmp_path / "reference"
    reference.mkdir()
    # the same disk and bad patch without the slowing (which changes no byte): the
    # uninterrupted run's image, digests and bad ranges, without waiting ~5 s for them
    fast = slow_drive(tmp_path, slow=False, name="fast")
    assert workbench_cmd(*image_cmd(fast)[3:], cwd=reference).returncode == 3
    want = json.loads((reference / "staging" / "K-1" / "job.json").read_text())
    killed = tmp_path / "killed"
    killed.mkdir()
    kills = 0
    for step in range(1, 60):  # each run lives 0.1 s longer than the last (plus start-up)
        proc = subprocess.Popen(image_cmd(drive), cwd=killed, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=0.5 + 0.1 * step)
            break  # finished before the kill
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
        if kills >= 12:
            break
    done = workbench_cmd(*image_cmd(drive)[3:], cwd=killed)  # the same command resumes
    assert done.returncode == 3, done.stderr
    assert kills >= 5  # it really was killed, many times
    got = json.loads((killed / "staging" / "K-1" / "job.json").read_text())
    assert got["digests"] == want["digests"] and got["bad_ranges"] == want["bad_ranges"]
    image = (killed / "staging" / "K-1" / "image.img").read_bytes()
    assert hashlib.sha256(image).hexdigest() == want["digests"]["sha256"]
