"""Starting worker processes from anywhere the workbench runs: a terminal UI whose
stderr has no descriptor, a CLI that a Ctrl-C or a SIGKILL may end at any moment."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

_lending = threading.Lock()  # one thread swaps sys.stderr at a time


def _has_descriptor(stream: Any) -> bool:
    try:
        return int(stream.fileno()) >= 0
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def real_stderr() -> Iterator[None]:
    """multiprocessing hands stderr's descriptor to every process it spawns; inside a
    terminal UI sys.stderr is a capture with none (-1: "bad value(s) in fds_to_keep").
    Lend the null device while a worker starts: the workers then never write into the
    screen either."""
    if _has_descriptor(sys.stderr):
        yield
        return
    with _lending, open(os.devnull, "w") as null:
        saved, sys.stderr = sys.stderr, null
        try:
            yield
        finally:
            sys.stderr = saved


def spawn_can_start() -> bool:
    """Whether worker processes can be spawned here. Not when the main module came from
    stdin or -c (spawned workers re-import it): the work then runs in this process."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or os.path.exists(path)


def _watch_parent(parent: int, interval: float = 0.2) -> None:
    """Exit as soon as the process that started this worker is gone (SIGKILL included:
    nothing in the parent runs then). A worker is re-parented when its parent dies."""
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def become_worker(parent: int | None) -> None:
    """A worker's first step: die with the parent, leave Ctrl-C to it (the parent
    cancels cleanly and stops its workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        if os.getppid() != parent:  # the parent died while this worker started
            os._exit(1)
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                         name="parent-watchdog").start()
