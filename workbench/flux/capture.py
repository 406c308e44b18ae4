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

The command (gw 1.x): gw read --drive A --revs N --tracks c=C:h=H[:step=2] FILE.scp
"""

from __future__ import annotations

import contextlib
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
from workbench.errors import Refused, WorkbenchError
from workbench.profiles import FluxParams

FLUX_DIR = "flux"
PLAN_NAME = "capture.json"
GW_ENV = "WORKBENCH_GW"  # another gw program (a path), for stations that keep it elsewhere
_NAME = re.compile(r"^track(\d{2})\.(\d)(?:\.r(\d+))?\.scp$")


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

    @classmethod
    def first(cls, params: FluxParams) -> CapturePlan:
        return cls(0, params.revolutions, [(c, h) for c in range(params.cylinders)
                                           for h in range(params.heads)],
                   params.double_step, params.drive, params.format,
                   params.track_timeout_seconds)

    @classmethod
    def retry(cls, params: FluxParams, tracks: list[tuple[int, int]], round: int
              ) -> CapturePlan:
        return cls(round, params.retry_revolutions, sorted(set(tracks)), params.double_step,
                   params.drive, params.format, params.track_timeout_seconds)


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
    cmd = [gw, "read", "--drive", plan.drive, "--revs", str(plan.revolutions),
           "--tracks", spec]
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
        raise CaptureFailed("flux.gw_failed", cylinder=cyl, head=head,
                            code=done.returncode, detail=tail or "-")
    if not scp_readable(part):
        part.unlink(missing_ok=True)
        raise CaptureFailed("flux.gw_no_file", cylinder=cyl, head=head, file=str(part),
                            seconds=round(time.monotonic() - started, 1))
    with open(part, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(part, path)
    with contextlib.suppress(OSError):
        fsync_dir(path.parent)


def unfinished_plan(job_dir: Path) -> CapturePlan | None:
    """The round a crash or a cancel cut short, to resume with the same tracks."""
    plans = load_plans(job_dir)
    return plans[-1] if plans and not plans[-1].done else None


def next_round(job_dir: Path) -> int:
    plans = load_plans(job_dir)
    return plans[-1].round + 1 if plans else 0
