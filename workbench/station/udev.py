"""The station's udev rule: removable media are read-only at the block layer the moment
they appear, and desktop automounters (udisks2 and what sits on it: GNOME, KDE) leave
them alone, as BitCurator's write-blocking rule does. Pre-flight still checks and the
imaging still sets BLKROSET; this closes the gap between plugging a carrier in and
reaching pre-flight, when an automounter could mount it and replay a journal.

    plan = udev_plan(rules_dir)        # what would be written, and where
    install(plan)                      # written atomically; udev told to reload

Undo: delete the file and run `udevadm control --reload`. To write to a removable
medium on this station (formatting a transfer stick), `blockdev --setrw DEVICE` first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workbench.atomic import write_atomic

RULES_DIR = Path("/etc/udev/rules.d")
# after 60-persistent-storage.rules (ID_BUS, ID_TYPE) and before udisks2's 80-udisks2.rules
# reads UDISKS_*: the properties are read from the finished udev database in any case
RULE_NAME = "70-workbench-readonly.rules"
BLOCKDEV = "/usr/sbin/blockdev"


def rule_text(blockdev: str = BLOCKDEV, exempt: tuple[str, ...] | list[str] = ()) -> str:
    """The rule. Media count as removable by the device's own word (the SCSI RMB bit:
    floppy, MO, card readers, most USB sticks), optical and floppy drives; never by the
    bus, so a USB-attached staging or backup disk (a fixed disk) stays writable. exempt:
    the station's own disks that still look removable ([protect] udev_exempt, KEY=VALUE
    checked by the settings), matched first."""
    skips = "".join(f'ENV{{{key}}}=="{value}", GOTO="workbench_readonly_end"\n'
                    for key, value in (item.split("=", 1) for item in exempt))
    return f"""\
# Installed by the migration workbench (`workbench setup --udev`).
# Removable media (floppy, MO, card readers, USB memory that reports itself removable,
# optical discs) are made read-only at the block layer as they appear (blockdev --setro,
# i.e. BLKROSET), and udisks (the desktop's automounter) is told not to mount or show
# them. Disks that report themselves fixed (a USB staging or backup disk) are left alone,
# and so are the station's disks listed in [protect] udev_exempt (first lines below).
# Undo: delete this file, then `udevadm control --reload`.
# Writing to a removable medium on this station: `blockdev --setrw DEVICE` first.
ACTION!="add|change", GOTO="workbench_readonly_end"
SUBSYSTEM!="block", GOTO="workbench_readonly_end"
KERNEL=="loop*|ram*|zram*|dm-*|md*|nbd*", GOTO="workbench_readonly_end"
{skips}KERNEL=="sr[0-9]*", GOTO="workbench_readonly_protect"
ATTRS{{removable}}=="1", GOTO="workbench_readonly_protect"
ENV{{ID_DRIVE_FLOPPY}}=="1", GOTO="workbench_readonly_protect"
GOTO="workbench_readonly_end"
LABEL="workbench_readonly_protect"
ENV{{UDISKS_AUTO}}="0", ENV{{UDISKS_IGNORE}}="1", ENV{{UDISKS_SYSTEM}}="1"
ENV{{UDISKS_PRESENTATION_NOPOLICY}}="1"
RUN+="{blockdev} --setro $devnode"
LABEL="workbench_readonly_end"
"""


@dataclass(frozen=True)
class UdevPlan:
    path: Path
    text: str
    exists: bool  # a file of that name is there already
    same: bool  # ... and says exactly this


@dataclass(frozen=True)
class Installed:
    path: Path
    written: bool  # False: the same rule was there already
    reload: str  # what `udevadm control --reload` said ("" when it was not run)


def udev_plan(rules_dir: Path = RULES_DIR, exempt: tuple[str, ...] = ()) -> UdevPlan:
    blockdev = shutil.which("blockdev") or BLOCKDEV
    text = rule_text(blockdev, exempt)
    path = rules_dir / RULE_NAME
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        old = None
    return UdevPlan(path, text, old is not None, old == text)


def install(plan: UdevPlan, reload: bool = True) -> Installed:
    """Write the rule atomically (temp file, fsync, rename: udev never reads half a rule),
    then ask udev to reload its rules (on the real rules folder only)."""
    written = not plan.same
    if written:
        plan.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(plan.path, plan.text)
        plan.path.chmod(0o644)
    said = ""
    udevadm = shutil.which("udevadm")
    if reload and plan.path.parent == RULES_DIR and udevadm:
        done = subprocess.run([udevadm, "control", "--reload"], capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
        said = "reloaded" if done.returncode == 0 else (done.stderr.strip() or
                                                         f"exit {done.returncode}")
    return Installed(plan.path, written, said)


def run_setup(rules_dir: Path = RULES_DIR, dry_run: bool = False,
              exempt: tuple[str, ...] = ()) -> list[str]:
    """`workbench setup --udev [--dry-run]`: what was (or would be) written, in words,
    the rule itself on a dry run. Refused (with what to do) when the folder is not
    writable: not root, or (as root) not a writable folder."""
    from workbench.errors import Refused
    from workbench.i18n import t
    plan = udev_plan(rules_dir, exempt)
    if dry_run:
        state = "same" if plan.same else "differs" if plan.exists else "new"
        return [t("udev.would", path=str(plan.path), state=t(f"udev.state_{state}")), "",
                *plan.text.splitlines()]
    try:
        done = install(plan)
    except OSError as exc:
        # as root, rights are not the reason: a file or a read-only file system is
        raise Refused("udev.denied_as_root" if os.geteuid() == 0 else "udev.denied",
                      path=str(plan.path), error=exc.strerror or str(exc)) from exc
    lines = [t("udev.written" if done.written else "udev.same", path=str(done.path))]
    if plan.path.parent != RULES_DIR:
        lines.append(t("udev.other_dir", dir=str(plan.path.parent)))
    elif done.reload and done.reload != "reloaded":
        lines.append(t("udev.not_reloaded", why=done.reload))
    elif done.reload == "reloaded":
        lines.append(t("udev.reloaded"))
    else:
        lines.append(t("udev.not_reloaded", why="udevadm not found"))
    return lines


def summary_line(rules_dir: Path = RULES_DIR, exempt: tuple[str, ...] = ()) -> str:
    """The set-up summary's line: is the rule installed, as this release writes it?"""
    from workbench.i18n import t
    plan = udev_plan(rules_dir, exempt)
    state = t("udev.line_installed", path=str(plan.path)) if plan.same else \
        t("udev.line_differs", path=str(plan.path)) if plan.exists else t("udev.line_missing")
    return t("udev.line", state=state)
