from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from workbench import PROJECT_ROOT
from workbench.config import Settings
from workbench.identify.pool import WORKERS_ENV
from workbench.imaging.pace import SPEED_ENV
from workbench.imaging.sources import Damage, DriveIdentity, VirtualDrive
from workbench.profiles import load_profiles

MEDIA = PROJECT_ROOT / "media"
IS_ROOT = os.geteuid() == 0

# Training drives read at a real drive's rate (a floppy takes ~55 s); the suite reads
# them at full speed, here and in every `python -m workbench` it starts (inherited).
# tests/test_training_speed.py sets "real" where the rate itself is tested.
os.environ[SPEED_ENV] = "fast"
# Never the station's real ClamAV signature database (loading it takes seconds per image,
# and CI has none: freshclam needs the network): tests that scan build their own and
# name it in the settings; every other format report says "not scanned" and why.
os.environ["WORKBENCH_VIRUS_DATABASE"] = "/nonexistent/workbench-test-has-no-clamav-db"
# Identification in the test's own process, with one signature load per process: a pool
# of spawned workers costs seconds of start-up per image on a 2-core machine. Tests of
# the worker pool itself ask for workers explicitly (IdentifyPool(2), workers=1).
os.environ[WORKERS_ENV] = "0"
# The runner's background tasks in its own threads, for the same reason (a worker process
# loads fido's signatures anew); tests/test_background.py runs them in processes.
os.environ["WORKBENCH_BACKGROUND"] = "thread"
# Device nodes' drive locks are per machine (/run/lock/workbench): the suite keeps its own
# so that a station running on this machine and the tests never hold each other's drives.
os.environ["WORKBENCH_MACHINE_LOCKS"] = tempfile.mkdtemp(prefix="workbench-machine-locks-")


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own empty folder with no station settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORKBENCH_CONFIG", raising=False)
    monkeypatch.delenv("WORKBENCH_LEDGER_URL", raising=False)  # no server by chance
    monkeypatch.delenv("WORKBENCH_LANG", raising=False)
    from workbench.i18n import set_language
    set_language("en")


@pytest.fixture(scope="session")
def profiles():
    return load_profiles(PROJECT_ROOT / "profiles")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), map_save_seconds=0.5, free_space_margin=0)


def pattern(size: int, seed: int = 1) -> bytes:
    """Deterministic, incompressible-looking data (every sector differs)."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 16
    return bytes(out[:size])


def digests_of(data: bytes) -> dict[str, str]:
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


def with_zeros(data: bytes, ranges: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for start, size in ranges:
        out[start:start + size] = bytes(size)
    return bytes(out)


@pytest.fixture
def make_drive(tmp_path: Path):
    """A virtual drive over given bytes with given damage."""
    counter = iter(range(1000))

    def make(data: bytes, damage: Damage | None = None, sector_size: int = 512,
             size: int = 0, serial: str = "") -> VirtualDrive:
        path = tmp_path / f"source-{next(counter)}.img"
        path.write_bytes(data)
        ident = DriveIdentity(path=str(path), model="Test drive", serial=serial or path.stem,
                              kind="virtual", transport="virtual")
        return VirtualDrive(path, damage, sector_size=sector_size, size=size, identity=ident)
    return make


def workbench_cmd(*args: str, cwd: Path | None = None, env: dict | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def workbench_run(*args: str, cwd: Path | None = None, env: dict | None = None,
                  timeout: float = 0) -> subprocess.CompletedProcess:
    """`python -m workbench ARGS` run in this process: the same main(), exit code, stdout
    and stderr, without the ~1-2 s a new interpreter takes to start. For tests that are
    not about the process (a kill, a signal, a second process at once: workbench_cmd).
    timeout is accepted so the two swap; it is not applied here."""
    from workbench.cli import main
    from workbench.i18n import set_language
    out, err = io.StringIO(), io.StringIO()
    signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: --help, a bad argument
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for number, handler in signals.items():  # main() sets Ctrl-C's handler
            signal.signal(number, handler)
        set_language("en")
    return subprocess.CompletedProcess(["workbench", *args], int(code), out.getvalue(),
                                       err.getvalue())


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it with apt)")
    return path
