"""Which BLKROSET flags are the workbench's own, so a run killed while it held one (SIGKILL,
power loss) does not leave the device read-only for good.

Two records say so. The job's record: its last run noted `set_by_workbench` and never
reached `after` (restored or kept), so the flag on the same device is that run's. The
station's list of flags held (logs/readonly-held.json): written before BLKROSET and cleared
after release, it names the device, its device number and its attachment (sysfs
diskseq); it also covers a flag whose job is never resumed, and it says whether the flag
was cleared since (by clear_left or another job's run), so a flag set again later by
someone else is not taken for the workbench's. A flag matches only on the same
attachment (same diskseq, where the kernel has one): a re-plugged disk has a new one, and
any flag on it then is not ours (a udev rule's, the technician's).

    with guarded(source, settings, out_dir, item_id) as protection: ...   # engine.image
    clear_left(settings)        # `workbench setup --clear-read-only`: words, one a line
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.atomic import write_atomic
from workbench.config import Settings
from workbench.imaging import readonly
from workbench.imaging.record import JobRecord

HELD_NAME = "readonly-held.json"


def held_path(settings: Settings) -> Path:
    return settings.paths.logs / HELD_NAME


def _read(path: Path) -> list[dict[str, Any]]:
    """The list as it is (written atomically: no lock needed to read it); [] if none."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


@contextlib.contextmanager
def _held(settings: Settings) -> Iterator[list[dict[str, Any]]]:
    """The list of flags held, under an exclusive lock; written back (atomically) after."""
    path = held_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = _read(path)
        before = json.dumps(entries)
        yield entries
        if json.dumps(entries) != before:
            write_atomic(path, json.dumps(entries, indent=1) + "\n")


def _same(entry: dict[str, Any], device: str, rdev: int, seq: int | None) -> bool:
    return entry.get("device") == device and entry.get("rdev") == rdev \
        and entry.get("diskseq") == seq


def hold(settings: Settings, device: str, rdev: int, item_id: str) -> None:
    seq = readonly.diskseq(rdev)
    with _held(settings) as entries:
        if not any(_same(e, device, rdev, seq) for e in entries):
            entries.append({"device": device, "rdev": rdev, "diskseq": seq,
                            "item": item_id})


def let_go(settings: Settings, device: str, rdev: int) -> None:
    with _held(settings) as entries:
        entries[:] = [e for e in entries
                      if not (e.get("device") == device and e.get("rdev") == rdev)]


def left_by_run(record: JobRecord | None, device: str, seq: int | None) -> dict[str, Any]:
    """The protection of the job's last guarded run if it set the flag on this device and
    was killed before release (its `after` is empty), on this attachment where both
    know it; else {}."""
    if record is None or record.source != device:
        return {}
    runs = [r for r in record.runs if r.protection]
    if not runs:
        return {}
    last = runs[-1].protection
    if not last.get("set_by_workbench") or last.get("after"):
        return {}
    recorded = last.get("diskseq")
    return last if recorded is None or seq is None or recorded == seq else {}


def left_by_workbench(settings: Settings, out_dir: Path, device: str, rdev: int) -> bool:
    """Is the flag on this device one a killed run of the workbench left? The job record
    says its run set it; the station's list says nothing cleared it since (clear_left,
    another job's run taking it back): a flag set again later is someone else's. A record
    from before the list was kept (no diskseq in it) is taken on its own word."""
    seq = readonly.diskseq(rdev)
    if any(_same(e, device, rdev, seq) for e in _read(held_path(settings))):
        return True
    try:
        record = JobRecord.load(out_dir)
    except Exception:  # an unreadable record is the engine's to report, not ours
        record = None
    return "diskseq" not in left_by_run(record, device, seq) and \
        bool(left_by_run(record, device, seq))


@contextlib.contextmanager
def guarded(source: Any, settings: Settings, out_dir: Path, item_id: str
            ) -> Iterator[readonly.Protection | None]:
    """BLKROSET around imaging as [protect] block_read_only says, a flag a killed run left
    taken back, and the station's list of flags held kept up to date."""
    if not getattr(source, "is_block", False) or source.fileno() < 0:
        yield None
        return
    device, rdev = source.path, source.rdev

    def note_held() -> None:
        with contextlib.suppress(OSError):
            hold(settings, device, rdev, item_id)

    protection = readonly.guard_source(
        source, settings.block_read_only,
        left_by_workbench(settings, out_dir, device, rdev), note_held)
    try:
        yield protection
    finally:
        readonly.release(source, protection)
        # held no longer: cleared, or kept as the policy says; a flag that would not
        # clear stays on the list for clear_left
        if protection is not None and not protection.error.startswith("restoring") and \
                (protection.set_by_workbench or protection.error.startswith("BLKROSET")):
            with contextlib.suppress(OSError):
                let_go(settings, device, rdev)


def clear_left(settings: Settings) -> list[str]:
    """Clear each flag on the station's list that a killed run left: on the same device
    and attachment it is cleared (BLKROSET 0); a device gone or re-attached has lost it,
    and any flag there now is not the workbench's, so it is only dropped from the list."""
    from workbench.i18n import t
    lines: list[str] = []
    with _held(settings) as entries:
        for entry in list(entries):
            device, item = str(entry.get("device", "")), str(entry.get("item", ""))
            try:
                rdev = os.stat(device).st_rdev
            except OSError:
                rdev = -1
            if rdev != entry.get("rdev") or readonly.diskseq(rdev) != entry.get("diskseq"):
                lines.append(t("readonly_left.gone", device=device, item=item))
                entries.remove(entry)
                continue
            try:
                fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
                try:
                    if readonly.blk_ro_get(fd):
                        readonly.blk_ro_set(fd, False)
                finally:
                    os.close(fd)
            except OSError as exc:
                lines.append(t("readonly_left.failed", device=device, item=item,
                               error=exc.strerror or str(exc)))
                continue
            lines.append(t("readonly_left.cleared", device=device, item=item))
            entries.remove(entry)
    return lines or [t("readonly_left.none")]
