"""The runner's background work in processes of its own (workbench.station.background):
carriers verified, identified, bagged and staged away from the screen and the drives; a
worker that dies mid-bag loses nothing; a stop reaches the process."""

from __future__ import annotations

import os
import time

import pytest

from tests.test_runner import slow_floppy
from workbench.errors import BadInput
from workbench.station import State, Station
from workbench.station.background import (
    DONE,
    FAILED,
    STAGING,
    Worker,
    in_processes,
)
from workbench.station.runner import Job, StationRunner


@pytest.fixture
def processes(monkeypatch):
    monkeypatch.setenv("WORKBENCH_BACKGROUND", "process")


def imaged(settings, tmp_path, item: str) -> None:
    """A floppy imaged, not yet identified nor accepted."""
    drive = slow_floppy(tmp_path, f"drive-{item}", 0.0)
    with Station(settings) as station:
        result = station.image(drive, station.profiles["fd35-2hd"], item)
    assert result.state is State.IMAGED


def test_the_mode_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("WORKBENCH_BACKGROUND", "thread")
    assert not in_processes()
    monkeypatch.setenv("WORKBENCH_BACKGROUND", "process")
    assert in_processes()
    monkeypatch.setenv("WORKBENCH_BACKGROUND", "fork")
    with pytest.raises(BadInput) as err:
        in_processes()
    assert "WORKBENCH_BACKGROUND" in str(err.value)


def test_a_runner_bags_and_stages_in_worker_processes(tmp_path, settings, processes):
    runner = StationRunner(settings, accept_workers=1)
    try:
        drive = slow_floppy(tmp_path, "d0", 0.0)
        runner.start(Job("BG-1", drive, "fd35-2hd"))
        assert runner.wait_idle(120)
        view = runner.carrier("BG-1")
        assert view is not None and view.status == DONE, view
        assert view.state == "bagged" and view.result is not None
        steps = [s[0] for s in view.steps]  # what the worker did
        assert steps[:3] == ["verification", "identification", "packaging"], steps
        workers = runner._background_workers
        assert any(w._process is not None and w._process.pid != os.getpid()
                   for w in workers)  # the bag was made in another process
    finally:
        assert runner.shutdown(deadline=30)
    with Station(settings) as station:
        assert station.state("BG-1").state is State.BAGGED
    assert not any(w._process for w in workers)  # shut down: no worker left behind


def test_a_worker_killed_mid_accept_loses_nothing_and_the_next_accept_finishes(
        tmp_path, settings):
    imaged(settings, tmp_path, "BG-KILL")
    worker = Worker(settings, separate=True)
    try:
        conn = worker._child()
        conn.send(("accept", "BG-KILL", None))
        time.sleep(0.3)  # the worker has the task (started, or still loading)
        assert worker._process is not None
        worker._process.kill()
        outcome = worker._answer(conn, "BG-KILL")
        assert outcome.status == FAILED
        assert "ended before it answered" in outcome.error
        with Station(settings) as station:  # the carrier is where it was, or further
            assert station.state("BG-KILL").state in (State.IMAGED, State.BAGGED)
        again = worker.run("accept", "BG-KILL", None)  # a new worker process
        assert again.status == STAGING and again.state == "bagged", again
        assert again.then_tape
    finally:
        worker.close(10)
    with Station(settings) as station:
        assert station.state("BG-KILL").state is State.BAGGED


def test_a_stop_reaches_the_worker_process_and_close_ends_it(tmp_path, settings):
    imaged(settings, tmp_path, "BG-STOP")
    worker = Worker(settings, separate=True)
    try:
        worker.stop()  # before the task: the process starts with its stop set
        outcome = worker.run("accept", "BG-STOP", None)
        assert outcome.status == FAILED and outcome.result is None, outcome
        process = worker._process
        assert process is not None and process.is_alive()
    finally:
        worker.close(10)
    assert not process.is_alive()
    with Station(settings) as station:  # the stopped accept left it to be accepted again
        assert station.state("BG-STOP").state is State.IMAGED


def test_the_thread_mode_does_the_same_work(tmp_path, settings):
    imaged(settings, tmp_path, "BG-T")
    worker = Worker(settings, separate=False)
    try:
        outcome = worker.run("accept", "BG-T", None)
        assert outcome.status == STAGING and outcome.state == "bagged"
        assert worker._process is None
    finally:
        worker.close()
