"""A drive between two carriers: in an unattended disc batch the next disc must really
be another one before it is imaged under the next item ID."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from workbench.config import Settings
from workbench.errors import BadInput, Refused
from workbench.imaging.disc import same_toc
from workbench.imaging.engine import job_dir
from workbench.imaging.record import JobRecord
from workbench.imaging.rescue import Cancelled
from workbench.imaging.sources import SourceGone, open_source


def wait_for_next_disc(settings: Settings, source: str | Path, previous_item: str,
                       timeout: float, cancel: threading.Event,
                       waiting: Callable[[], None] | None = None,
                       poll: float = 2.0) -> None:
    """Return once the drive holds a disc other than previous_item's (its TOC differs),
    or a drive that tells no TOC; an empty drive is waited on. Refused when no other
    disc came within timeout seconds (the batch goes on with the next row)."""
    try:
        before = JobRecord.load(job_dir(settings, previous_item))
    except BadInput:
        return
    if before is None or not before.disc:
        return
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            with open_source(source, sector_size=2048) as now:
                if now.disc is None or not same_toc(before.disc, now.disc):
                    return
        except SourceGone:
            pass  # the tray is open or empty: the disc is being changed
        if cancel.is_set():
            raise Cancelled()
        if time.monotonic() >= deadline:
            raise Refused("refuse.no_next_disc", drive=str(source), item=previous_item,
                          seconds=round(timeout))
        if not told and waiting is not None:
            waiting()
            told = True
        cancel.wait(min(poll, max(0.0, deadline - time.monotonic())))
