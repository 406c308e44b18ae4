"""Pre-flight: refuse before anything is read or written when imaging would be unsafe.

Each check gives a result (shown by the TUI, printed by the CLI); refusals become
Refused errors with a message that says what to do.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from workbench.errors import BadInput, Refused
from workbench.i18n import human_bytes, t
from workbench.imaging.sources import DeviceSource, Source, VirtualDrive

_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SYSTEM_MOUNTS = ("/", "/boot", "/boot/efi", "/usr", "/var", "/home")


def check_item_id(item_id: str) -> str:
    """Item ids become folder names: letters, digits, . _ - only, no leading dot."""
    item_id = unicodedata.normalize("NFC", item_id.strip())
    if not _ITEM_ID.match(item_id) or ".." in item_id:
        raise BadInput("error.bad_item_id", item=repr(item_id))
    return item_id


@dataclass
class Check:
    key: str
    ok: bool
    params: dict[str, object] = field(default_factory=dict)
    note: bool = False  # a fact shown, never a reason to refuse (write protection)

    def message(self, lang: str | None = None) -> str:
        state = "ok" if self.ok else "refused"
        return t(f"preflight.{self.key}.{state}", lang=lang, **self.params)


def _sysfs(rdev: int) -> Path | None:
    path = Path(f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}")
    return path.resolve() if path.exists() else None


def whole_disk(rdev: int) -> int:
    """The device number of the disk that holds rdev (rdev itself for a whole disk)."""
    node = _sysfs(rdev)
    if node is None or not (node / "partition").exists():
        return rdev
    major, minor = (node.parent / "dev").read_text().strip().split(":")
    return os.makedev(int(major), int(minor))


def _rdev_of(path: str) -> int | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_rdev if st.st_rdev else None


def mounted_on(disk: int) -> list[str]:
    """Mount points of any file system on disk or one of its partitions, and swap."""
    points = []
    for part in psutil.disk_partitions(all=True):
        rdev = _rdev_of(part.device) if part.device.startswith("/") else None
        if rdev is not None and whole_disk(rdev) == disk:
            points.append(part.mountpoint)
    try:
        with open("/proc/swaps") as fh:
            for line in fh.readlines()[1:]:
                rdev = _rdev_of(line.split()[0])
                if rdev is not None and whole_disk(rdev) == disk:
                    points.append("[swap]")
    except OSError:
        pass
    return points


def system_disks() -> set[int]:
    disks = set()
    for point in SYSTEM_MOUNTS:
        try:
            dev = os.stat(point).st_dev
        except OSError:
            continue
        if _sysfs(dev) is not None:
            disks.add(whole_disk(dev))
    return disks


def _backing_file(source: Source) -> Path | None:
    if isinstance(source, VirtualDrive):
        return Path(source.path)
    if isinstance(source, DeviceSource) and not source.is_block:
        return Path(source.path)
    return None


def _existing(path: Path) -> Path:
    """path, or its nearest existing parent (the job folder is made only after pre-flight)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _device_checks(path: str, rdev: int) -> list[Check]:
    disk = whole_disk(rdev)
    mounts = mounted_on(disk)
    return [Check("not_system_disk", disk not in system_disks(), {"path": path}),
            Check("not_mounted", not mounts, {"path": path, "mounts": ", ".join(mounts)})]


def before_open(source_path: str | os.PathLike[str]) -> list[Check]:
    """The checks made before the source is opened and before any folder is made: a block
    device that is the system disk or has a mounted file system (or swap) is refused as
    such, not as a permission or busy error from opening it. Other sources: no checks."""
    path = str(source_path)
    try:
        st = os.stat(path)
    except OSError:
        return []  # opening it says what is wrong (missing, no permission)
    if not stat.S_ISBLK(st.st_mode):
        return []
    return _device_checks(path, st.st_rdev)


def refuse_before_open(source_path: str | os.PathLike[str]) -> None:
    """Refused (exit 6) when before_open finds a problem; nothing has been made yet."""
    enforce(before_open(source_path))


def run_checks(source: Source, out_dir: Path, outputs: list[Path], needed: int,
               margin: int) -> list[Check]:
    checks: list[Check] = []
    out_dir = _existing(out_dir)
    if isinstance(source, DeviceSource) and source.is_block:
        disk = whole_disk(source.rdev)
        checks += _device_checks(source.path, source.rdev)
        out_disk = whole_disk(os.stat(out_dir).st_dev)
        checks.append(Check("output_outside_source", out_disk != disk,
                            {"path": source.path, "out": str(out_dir)}))
    else:
        backing = _backing_file(source)
        inside = backing is not None and any(
            o.exists() and o.samefile(backing) for o in outputs)
        checks.append(Check("output_outside_source", not inside,
                            {"path": source.path, "out": str(out_dir)}))
    free = psutil.disk_usage(str(out_dir)).free
    checks.append(Check("free_space", free >= needed + margin,
                        {"needed": human_bytes(needed + margin), "free": human_bytes(free),
                         "out": str(out_dir)}))
    return checks


def enforce(checks: list[Check]) -> None:
    for check in checks:
        if not check.ok:
            raise Refused(f"preflight.{check.key}.refused", **check.params)
