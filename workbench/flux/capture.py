"""Capturing flux with a Greaseweazle (`gw`), one track at a time, into the job folder.

    plan = CapturePlan.first(params)            # every track, params.revolutions
    capture(job_dir, plan, progress=cb, cancel=event)
    retry = CapturePlan.retry(params, bad_tracks, round=1)   # more revolutions

Each track goes into its own file, flux/trackCC.H.scp (a retry round N: trackCC.H.rN.scp),
written by gw under a temporary name and renamed when complete, so a file that is there
is whole. A track whose file is there and readable is not captured again: an interrupted
capture resumes. A retry never replaces a capture; the decoder votes across every file
of a track (every revolution captured is used). The plan of each round is kept in
flux/capture.json, so a resumed retry captures the same tracks.

The command (gw 1.x): gw read [--device DEV] --drive A --revs N --tracks c=C:h=H[:step=2]
FILE.scp (--device: which Greaseweazle, when a station has more than one).

A gw that fails because the disk under the job folder is full is told apart from a
drive fault (its message, or the space left): the advice is to free space, not to check
the cable.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.atomic import fsync_dir, write_atomic
from workbench.errors import Aborted, Refused, WorkbenchError
from workbench.profiles import FluxParams

FLUX_DIR = "flux"
PLAN_NAME = "capture.json"
GW_ENV = "WORKBENCH_GW"  # another gw program (a path), for stations that keep it elsewhere
_NAME = re.compile(r"^track(\d{2})\.(\d)(?:\.r(\d+))?\.scp$")
# Bytes of SCP a track's revolution takes, measured on the encoder's captures
# (16-bit cells, 2 bytes a transition): 3.5" 2DD 76 KB, 2HD 152 KB, 2ED 304 KB, PC-98
# 2HD (360 rpm) 126 KB. Estimated as 10 bytes per byte of sector data on the track (2ED:
# 369 KB), never under 160 KiB, and one revolution more than asked (gw reads past the
# index): a capture is never started that the disk cannot hold.
_MIN_TRACK_REV = 160 * 1024
_PER_DATA_BYTE = 10
_FULL_WORDS = ("No space left on device", "[Errno 28]", "[Errno 122]", "Disk quota exceeded")


class CaptureFailed(WorkbenchError):
    """gw failed or hung on a track: what was captured before is kept (resumable)."""


@dataclass(frozen=True)
class CaptureProgress:
    round: int
    done: int  # tracks finished in this round (captured or already there)
    total: int
    cylinder: int
    head: int
    skipped: bool  # the track's file was already there


@dataclass
class CapturePlan:
    round: int  # 0: the first capture; 1, 2, ...: retries
    revolutions: int
    tracks: list[tuple[int, int]]
    double_step: bool = False
    drive: str = "A"
    format: str = ""
    timeout: float = 60.0
    done: bool = False
    device: str = ""  # gw --device: one Greaseweazle of several ("": gw's own choice)

    @classmethod
    def first(cls, params: FluxParams, device: str = "") -> CapturePlan:
        return cls(0, params.revolutions, [(c, h) for c in range(params.cylinders)
                                           for h in range(params.heads)],
                   params.double_step, params.drive, params.format,
                   params.track_timeout_seconds, device=device)

    @classmethod
    def retry(cls, params: FluxParams, tracks: list[tuple[int, int]], round: int,
              device: str = "") -> CapturePlan:
        return cls(round, params.retry_revolutions, sorted(set(tracks)), params.double_step,
                   params.drive, params.format, params.track_timeout_seconds, device=device)

    def bytes_needed(self, job_dir: Path, track_data_bytes: int) -> int:
        """The space the tracks still to capture take at most (see _MIN_TRACK_REV)."""
        per_rev = max(_MIN_TRACK_REV, _PER_DATA_BYTE * track_data_bytes)
        folder = job_dir / FLUX_DIR
        todo = sum(1 for c, h in self.tracks
                   if not (folder / track_name(c, h, self.round)).is_file())
        return todo * (self.revolutions + 1) * per_rev


@dataclass
class CaptureResult:
    captured: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    cancelled: bool = False


def track_name(cylinder: int, head: int, round: int = 0) -> str:
    return f"track{cylinder:02d}.{head}" + (f".r{round}" if round else "") + ".scp"


def capture_files(job_dir: Path) -> list[Path]:
    """Every complete capture file of the job, in track then round order."""
    folder = job_dir / FLUX_DIR
    found = []
    for path in folder.iterdir() if folder.is_dir() else ():
        m = _NAME.match(path.name)
        if m:
            found.append(((int(m[1]), int(m[2]), int(m[3] or 0)), path))
    return [p for _, p in sorted(found)]


def scp_readable(path: Path) -> bool:
    """A whole SCP file: its signature, a track table that points at a track header
    ("TRK") whose revolutions lie inside the file, and its checksum when it has one."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if len(data) < 0x2B0 + 4 or data[:3] != b"SCP":
        return False
    revs, checksum = data[5], struct.unpack_from("<I", data, 12)[0]
    if checksum and sum(data[16:]) & 0xFFFFFFFF != checksum:
        return False
    offsets = [o for o in struct.unpack_from("<168I", data, 16) if o]
    if not offsets or revs < 1:
        return False
    for off in offsets:
        if data[off:off + 3] != b"TRK" or off + 4 + 12 * revs > len(data):
            return False
        for r in range(revs):
            _, count, start = struct.unpack_from("<3I", data, off + 4 + 12 * r)
            if off + start + 2 * count > len(data):
                return False
    return True


def find_gw() -> str:
    """The gw program, or Refused with what to do (nothing was read or written)."""
    named = os.environ.get(GW_ENV, "")
    found = shutil.which(named or "gw")
    if not found:
        raise Refused("flux.no_gw", program=named or "gw")
    return found


def load_plans(job_dir: Path) -> list[CapturePlan]:
    path = job_dir / FLUX_DIR / PLAN_NAME
    if not path.is_file():
        return []
    try:
        rounds = json.loads(path.read_text(encoding="utf-8"))["rounds"]
        return [CapturePlan(**{**r, "tracks": [tuple(t) for t in r["tracks"]]})
                for r in rounds]
    except (ValueError, KeyError, TypeError) as exc:
        raise CaptureFailed("flux.bad_plan", file=str(path), detail=str(exc)) from exc


def save_plans(job_dir: Path, plans: list[CapturePlan]) -> None:
    write_atomic(job_dir / FLUX_DIR / PLAN_NAME, json.dumps(
        {"rounds": [asdict(p) for p in plans]}, indent=2) + "\n")


def capture(job_dir: Path, plan: CapturePlan,
            progress: Callable[[CaptureProgress], None] | None = None,
            cancel: threading.Event | None = None) -> CaptureResult:
    """Capture the plan's tracks that have no readable file yet. The plan is recorded
    first (a resumed round captures the same tracks) and marked done at the end."""
    gw = find_gw()
    folder = job_dir / FLUX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    plans = [p for p in load_plans(job_dir) if p.round != plan.round]
    plans = sorted([*plans, plan], key=lambda p: p.round)
    save_plans(job_dir, plans)
    result = CaptureResult()
    for n, (cyl, head) in enumerate(plan.tracks):
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            return result
        path = folder / track_name(cyl, head, plan.round)
        skipped = scp_readable(path)
        if skipped:
            result.skipped.append(path)
        else:
            _capture_track(gw, path, cyl, head, plan)
            result.captured.append(path)
        if progress is not None:
            progress(CaptureProgress(plan.round, n + 1, len(plan.tracks), cyl, head, skipped))
    plan.done = True
    save_plans(job_dir, plans)
    return result


def _capture_track(gw: str, path: Path, cyl: int, head: int, plan: CapturePlan) -> None:
    part = path.with_name(".part-" + path.name)  # gw picks the format by the extension
    part.unlink(missing_ok=True)
    spec = f"c={cyl}:h={head}" + (":step=2" if plan.double_step else "")
    cmd = [gw, "read", *(["--device", plan.device] if plan.device else []),
           "--drive", plan.drive, "--revs", str(plan.revolutions), "--tracks", spec]
    if plan.format:
        cmd += ["--format", plan.format, "--raw"]
    cmd.append(str(part))
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=plan.timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        part.unlink(missing_ok=True)
        raise CaptureFailed("flux.gw_timeout", cylinder=cyl, head=head,
                            seconds=round(plan.timeout)) from exc
    except OSError as exc:
        raise CaptureFailed("flux.gw_failed", cylinder=cyl, head=head, code="-",
                            detail=str(exc)) from exc
    if done.returncode != 0:
        part.unlink(missing_ok=True)
        tail = (done.stderr or done.stdout).decode("utf-8", "replace").strip()[-300:]
        if _disk_full(tail, path.parent):
            raise Aborted("flux.gw_disk_full", folder=str(path.parent), cylinder=cyl,
                          head=head)
        raise CaptureFailed("flux.gw_failed", cylinder=cyl, head=head,
                            code=done.returncode, detail=tail or "-")
    if not scp_readable(part):
        part.unlink(missing_ok=True)
        raise CaptureFailed("flux.gw_no_file", cylinder=cyl, head=head, file=str(part),
                            seconds=round(time.monotonic() - started, 1))
    try:
        with open(part, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(part, path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise Aborted("flux.gw_disk_full", folder=str(path.parent), cylinder=cyl,
                          head=head) from exc
        raise
    with contextlib.suppress(OSError):
        fsync_dir(path.parent)


def _disk_full(message: str, folder: Path) -> bool:
    """gw's failure was the job folder's disk filling up: its Python error says so, or
    less than a track's capture is left free there."""
    if any(w in message for w in _FULL_WORDS):
        return True
    try:
        return shutil.disk_usage(folder).free < _MIN_TRACK_REV
    except OSError:
        return False


def unfinished_plan(job_dir: Path) -> CapturePlan | None:
    """The round a crash or a cancel cut short, to resume with the same tracks."""
    plans = load_plans(job_dir)
    return plans[-1] if plans and not plans[-1].done else None


def next_round(job_dir: Path) -> int:
    plans = load_plans(job_dir)
    return plans[-1].round + 1 if plans else 0
