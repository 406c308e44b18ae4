"""Autoloaders: what puts the next disc into the drive and takes it out again.

    loader.prepare()        once when a batch starts (a robot's "pre-batch" calibration)
    loader.load() -> bool   the next disc from the input stack into the drive;
                            False: the input stack is empty (the batch is over)
    loader.unload(item)     the disc in the drive to the done bin
    loader.reject(item)     the disc in the drive to the reject bin

CommandAutoloader runs the station's [autoloader] commands: the contract with a robot's
tools (Acronova Nimbie through nimbie-py or the dBpoweramp Nimbie driver's Load/Unload/
Reject programs, Acronova or Rimage SDK wrappers, a script of one's own) is written in
docs of that class. ManualAutoloader is a person at a plain drive. The simulated robot
of training is in sim.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from typing import Protocol

from workbench.config import AutoloaderSettings, Settings
from workbench.errors import ConfigError, ExitCode, WorkbenchError
from workbench.station.autoload.tray import Tray, wait_for_medium

OUTPUT_KEPT = 400  # characters of a failing command's output in its message


class AutoloaderFailed(WorkbenchError):
    """The robot did not do what it was asked: the batch stops where it is (the disc
    stays where it is, the batch's journal says where), to be run again once fixed."""

    exit_code = ExitCode.ABORTED


class Autoloader(Protocol):
    name: str

    def prepare(self) -> None: ...

    def load(self) -> bool: ...

    def unload(self, item: str) -> None: ...

    def reject(self, item: str) -> None: ...


class CommandAutoloader:
    """A robot driven by commands set in the station settings:

        [autoloader]
        load = "nimbie-load --drive {drive}"
        unload = "nimbie-unload --drive {drive}"
        reject = "nimbie-reject --drive {drive}"
        status = ""                 # optional, asked before each load
        prepare = ""                # optional, once per batch
        empty_exit_codes = [3]      # `load`/`status` exit codes meaning "stack empty"
        empty_output = "NoDiskError|No disc"   # or output meaning the same
        command_timeout_seconds = 180

    A command line is split as a shell would split it, but no shell runs it; {drive},
    {item} and {batch} are filled in ({{ and }} for literal braces). Exit 0: done. An
    exit code in empty_exit_codes, or output matching empty_output, from `load` or
    `status`: the input stack is empty. Anything else, or no answer in time: the robot
    failed (AutoloaderFailed). A command runs in its own session, so a Ctrl-C of the
    batch never stops a robot mid-move: the batch stops once the move is done.

    An Acronova Nimbie NB21 through nimbie-py (a USB library: Nimbie().load_next_disk(),
    accept_current_disk(), reject_current_disk(); an empty queue raises NoDiskError,
    status code AT+S14) takes three one-line wrappers, e.g.
        load = "python3 -c 'from driver import Nimbie; Nimbie().load_next_disk()'"
        empty_output = "NoDiskError"
    and the same for unload (accept_current_disk) and reject (reject_current_disk).
    Tools that open the tray themselves (nimbie-py, dBpoweramp's Nimbie driver) work
    with open_tray = true as well: the tray is simply open already."""

    name = "configured"

    def __init__(self, settings: AutoloaderSettings, drive: str, batch: str) -> None:
        for which in ("load", "unload", "reject"):
            if not getattr(settings, which).strip():
                raise ConfigError("autoload.no_command", command=which)
        self.settings, self.drive, self.batch = settings, drive, batch
        self.empty = re.compile(settings.empty_output) if settings.empty_output else None

    def argv(self, which: str, item: str = "") -> list[str]:
        line = getattr(self.settings, which)
        try:
            return [arg.format(drive=self.drive, item=item, batch=self.batch)
                    for arg in shlex.split(line)]
        except (ValueError, KeyError, IndexError) as exc:
            raise ConfigError("autoload.bad_command", command=which, line=line,
                              detail=str(exc)) from None

    def run(self, which: str, item: str = "") -> tuple[int, str]:
        argv = self.argv(which, item)
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    start_new_session=True)
        except OSError as exc:
            raise AutoloaderFailed("autoload.command_failed", command=which,
                                   line=shlex.join(argv), code="-",
                                   output=exc.strerror or str(exc)) from None
        try:
            out, _ = proc.communicate(timeout=self.settings.command_timeout_seconds)
        except subprocess.TimeoutExpired:
            # the whole session: a tool's own children would hold the output open
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AutoloaderFailed("autoload.command_timeout", command=which,
                                   line=shlex.join(argv),
                                   seconds=round(self.settings.command_timeout_seconds)
                                   ) from None
        return proc.returncode, out or ""

    def _says_empty(self, code: int, out: str) -> bool:
        return code in self.settings.empty_exit_codes or (
            self.empty is not None and self.empty.search(out) is not None)

    def _check(self, which: str, code: int, out: str, item: str = "") -> None:
        if code != 0:
            raise AutoloaderFailed("autoload.command_failed", command=which,
                                   line=shlex.join(self.argv(which, item)), code=code,
                                   output=out.strip()[-OUTPUT_KEPT:] or "-")

    def prepare(self) -> None:
        if self.settings.prepare.strip():
            self._check("prepare", *self.run("prepare"))

    def load(self) -> bool:
        if self.settings.status.strip():
            code, out = self.run("status")
            if self._says_empty(code, out):
                return False
            self._check("status", code, out)
        code, out = self.run("load")
        if self._says_empty(code, out):
            return False
        self._check("load", code, out)
        return True

    def unload(self, item: str) -> None:
        self._check("unload", *self.run("unload", item), item=item)

    def reject(self, item: str) -> None:
        self._check("reject", *self.run("reject", item), item=item)


class ManualAutoloader:
    """A plain drive, a person as the robot: the next disc is the one put into the drive
    within the station's next_disc_wait_seconds (none: the stack is empty); done and
    rejected discs are ejected (the batch opens the tray) for the person to sort."""

    name = "manual"

    def __init__(self, settings: Settings, tray: Tray, cancel: threading.Event,
                 poll: float = 1.0) -> None:
        self.seconds, self.tray, self.cancel = settings.next_disc_wait_seconds, tray, cancel
        self.poll = poll
        self.taken_out = False  # a disc was done: the drive must be empty before the next

    def prepare(self) -> None:
        pass

    def load(self) -> bool:
        """The next disc: after a disc was done, the drive is seen empty first (a drive
        that cannot open its tray, a floppy or USB drive, still holds the last one)."""
        deadline = time.monotonic() + self.seconds
        while self.taken_out and self.tray.medium_present():
            left = deadline - time.monotonic()
            if left <= 0 or self.cancel.is_set():
                return False
            self.cancel.wait(min(self.poll, left))
        self.taken_out = False
        return wait_for_medium(self.tray, max(0.0, deadline - time.monotonic()),
                               self.cancel, self.poll)

    def unload(self, item: str) -> None:
        self.tray.eject()
        self.taken_out = True

    def reject(self, item: str) -> None:
        self.unload(item)
