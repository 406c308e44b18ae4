"""A drive an autoloader feeds is the batch's from load to unload: another process's
migrate between two discs is refused (it would image the robot's disc under another
item ID), and goes on once the batch has ended."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import MEDIA
from workbench.errors import Refused
from workbench.station import State, Station


def test_a_migrate_on_an_autoloaders_drive_is_refused(settings):
    drive = MEDIA / "fd35-2hd-good.drive.toml"
    locks = settings.paths.logs / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    batch = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from workbench.station.locks import Lock, autoload_file
        lock = Lock(autoload_file(Path({str(locks)!r}), {str(drive)!r}), "station-1",
                    "autoload", "autoload.drive_busy", drive="d")
        lock.acquire()
        print("held", flush=True)
        sys.stdin.readline()
        lock.release()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert batch.stdout is not None and batch.stdout.readline().strip() == "held"
        with Station(settings) as station:
            with pytest.raises(Refused) as refused:
                station.migrate(drive, station.profiles["fd35-2hd"], "MIG-1")
            assert str(batch.pid) in refused.value.message()
            assert station.state("MIG-1").state is State.NEW  # nothing read or recorded
    finally:
        assert batch.stdin is not None
        batch.stdin.write("\n")
        batch.stdin.flush()
        batch.wait(timeout=30)
    deadline = time.monotonic() + 10
    with Station(settings) as station:  # the batch ended: the drive is free again
        while True:
            try:
                result = station.migrate(drive, station.profiles["fd35-2hd"], "MIG-1")
                break
            except Refused:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert result.record.outcome == "success"
