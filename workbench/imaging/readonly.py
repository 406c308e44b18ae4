"""The source made read-only at the block layer, and the medium's write-protect state.

    protection = guard_source(source, policy="restore")   # before the first read
    ... image ...
    release(source, protection)                           # "restored" or "kept"

The source is always opened O_RDONLY; BLKROSET adds the kernel's own refusal, so
nothing else on the station (an automounter replaying a journal, a stray `dd`) can write
to the carrier while it is being imaged: a write then fails with EPERM. The flag is set
only where it was not set already, and only that is undone by "restore".

The medium's write-protect state (the floppy's tab, the MO's switch, a USB stick's
switch) is read before BLKROSET, as the device reports it: the SCSI MODE SENSE WP bit
through SG_IO where the device answers it, a loop device's own read-only attach flag
(LOOP_GET_STATUS64), else /sys/dev/block/M:m/ro. That sysfs flag is get_disk_ro(): the
driver's read-only state OR the whole disk's BLKROSET flag, so once anything has set
BLKROSET (the workbench, its udev rule, an earlier "keep", `blockdev --setro`) it reads 1
whatever the medium's tab says. Only its 0 is evidence ("no"); a 1 with nothing else to
ask is "unknown: the block layer is read-only".

A run killed while it held BLKROSET leaves the flag set: the job record (and the station's
list of flags held, imaging/readonly_left.py) lets the next run take it back
(left_by_workbench) and undo it as the policy says.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# linux/fs.h: _IO(0x12, 93) and _IO(0x12, 94); both take an int
BLKROSET = 0x125D
BLKROGET = 0x125E
POLICIES = ("restore", "keep", "off")
CAP_SYS_ADMIN = 21
SYS_DEV_BLOCK = Path("/sys/dev/block")
# linux/loop.h: LOOP_GET_STATUS64, struct loop_info64 (232 bytes, lo_flags at 52)
LOOP_GET_STATUS64 = 0x4C05
LOOP_INFO64_SIZE = 232
LO_FLAGS_READ_ONLY = 1
LOOP_MAJOR = 7


def blk_ro_get(fd: int) -> bool:
    """The kernel's read-only flag of the block device (the medium's or a setting)."""
    out = fcntl.ioctl(fd, BLKROGET, struct.pack("i", 0))
    return bool(struct.unpack("i", out)[0])


def blk_ro_set(fd: int, read_only: bool) -> None:
    """Set or clear the block device's read-only flag (needs CAP_SYS_ADMIN)."""
    fcntl.ioctl(fd, BLKROSET, struct.pack("i", 1 if read_only else 0))


def can_set_read_only() -> bool:
    """Whether this process holds CAP_SYS_ADMIN, which BLKROSET needs."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


# -- the medium's write-protect state --------------------------------------------------

def sysfs_read_only(rdev: int, root: Path | None = None) -> bool | None:
    """/sys/dev/block/M:m/ro: 1 when the device (or a read-only setting) is read-only."""
    try:
        node = (root or SYS_DEV_BLOCK) / f"{os.major(rdev)}:{os.minor(rdev)}"
        text = (node / "ro").read_text().strip()
    except OSError:
        return None
    return text == "1" if text in ("0", "1") else None


def mode_sense_wp(header: bytes, ten: bool) -> bool | None:
    """The WP bit (bit 7 of the device-specific parameter) of a MODE SENSE header:
    byte 2 of MODE SENSE(6)'s, byte 3 of MODE SENSE(10)'s."""
    at = 3 if ten else 2
    return bool(header[at] & 0x80) if len(header) > at else None


def cdb_mode_sense6(length: int = 192) -> bytes:
    return bytes([0x1A, 0x08, 0x3F, 0, length & 0xFF, 0])  # DBD, all pages, current


def cdb_mode_sense10(length: int = 192) -> bytes:
    return bytes([0x5A, 0x08, 0x3F, 0, 0, 0, 0, length >> 8 & 0xFF, length & 0xFF, 0])


def scsi_write_protect(path: str) -> bool | None:
    """The medium's WP bit by MODE SENSE through SG_IO (the optical drive code's SG_IO,
    opened read-only): None where the device does not take SG_IO (a loop device, NVMe)
    or answers neither MODE SENSE(6) nor (10)."""
    from workbench.optical.drive import DriveReader
    try:
        reader = DriveReader(path)
    except Exception:
        return None
    with reader:
        for cdb, ten in ((cdb_mode_sense6(), False), (cdb_mode_sense10(), True)):
            try:
                # DriveReader._sg: one SCSI command with sense decoding and a retry on
                # UNIT ATTENTION; MODE SENSE reads and changes nothing
                header = reader._sg(cdb, 192, "MODE SENSE")
            except Exception:
                continue
            wp = mode_sense_wp(header, ten)
            if wp is not None:
                return wp
    return None


def loop_flags_read_only(lo_flags: int) -> bool:
    return bool(lo_flags & LO_FLAGS_READ_ONLY)


def loop_read_only(path: str, rdev: int) -> bool | None:
    """A loop device's own read-only state (attached with `losetup -r`, or its backing
    file opened read-only) from LOOP_GET_STATUS64: the device's report, apart from any
    BLKROSET flag. None for other devices or an unattached loop."""
    if os.major(rdev) != LOOP_MAJOR:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = fcntl.ioctl(fd, LOOP_GET_STATUS64, bytes(LOOP_INFO64_SIZE))
    except OSError:
        return None
    finally:
        os.close(fd)
    return loop_flags_read_only(struct.unpack_from("I", info, 52)[0])


def diskseq(rdev: int, root: Path | None = None) -> int | None:
    """/sys/dev/block/M:m/diskseq: the kernel's number for this attachment of the disk (a
    new one at every plug-in or loop attach): tells a flag this attachment got from one it
    could not have (None before Linux 5.15)."""
    try:
        text = ((root or SYS_DEV_BLOCK) / f"{os.major(rdev)}:{os.minor(rdev)}"
                / "diskseq").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


SYSFS_NO = "sysfs ro 0: neither the driver nor a setting makes it read-only"
SYSFS_BLOCKED = ("sysfs ro 1 shows the block layer read-only (BLKROSET, a udev rule or the "
                 "driver) and the device reports nothing of its own")


def write_protect_state(path: str, rdev: int) -> dict[str, Any]:
    """What the device says of the medium's write protection: state yes | no | unknown,
    the basis it was read from, and each raw fact. A sysfs ro of 1 is no evidence of the
    medium's tab (any BLKROSET sets it), so it gives "unknown" unless MODE SENSE or the
    loop device's own flag answers."""
    scsi = scsi_write_protect(path)
    loop = loop_read_only(path, rdev)
    ro = sysfs_read_only(rdev)
    if scsi is not None:
        state, basis = ("yes" if scsi else "no"), "SCSI MODE SENSE WP bit"
    elif loop is not None:
        state, basis = ("yes" if loop else "no"), "loop device attach flag (LOOP_GET_STATUS64)"
    elif ro is False:
        state, basis = "no", SYSFS_NO
    elif ro:
        state, basis = "unknown", SYSFS_BLOCKED
    else:
        state, basis = "unknown", "not reported by the device"
    return {"state": state, "basis": basis, "mode_sense_wp": scsi, "sysfs_ro": ro,
            "loop_read_only": loop}


# -- BLKROSET around imaging -----------------------------------------------------------

@dataclass
class Protection:
    """What was done to keep the source read-only: recorded in the run and in PREMIS."""

    policy: str  # restore | keep | off
    block_device: bool
    read_only_before: bool | None = None  # BLKROGET before anything was set
    set_by_workbench: bool = False  # BLKROSET 1 was issued (and took)
    read_only_during: bool | None = None  # BLKROGET after setting: what imaging ran under
    error: str = ""  # why it could not be set
    after: str = ""  # restored | kept | "" (nothing was set)
    write_protect: dict[str, Any] = field(default_factory=dict)
    diskseq: int | None = None  # the attachment the flag was set on (sysfs diskseq)
    taken_back: bool = False  # the flag was left set by a killed run and is ours again

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "block_device": self.block_device,
                "read_only_before": self.read_only_before,
                "set_by_workbench": self.set_by_workbench,
                "read_only_during": self.read_only_during, "error": self.error,
                "after": self.after, "write_protect": dict(self.write_protect),
                "diskseq": self.diskseq, "taken_back": self.taken_back}


def guard_fd(fd: int, path: str, rdev: int, policy: str, left_by_workbench: bool = False,
             before_set: Callable[[], None] | None = None) -> Protection:
    """Read the write-protect state, then set BLKROSET on fd (open read-only) unless the
    device is read-only already or the policy is off. left_by_workbench: a flag found set
    is the one a killed run of the workbench left (the caller knows from the job record):
    it is taken back and undone at release as the policy says (off and restore clear it).
    before_set: called just before BLKROSET (to note the flag as held first)."""
    if policy not in POLICIES:
        raise ValueError(f"block read-only policy {policy!r}: one of {', '.join(POLICIES)}")
    prot = Protection(policy, True, write_protect=write_protect_state(path, rdev),
                      diskseq=diskseq(rdev))
    try:
        prot.read_only_before = blk_ro_get(fd)
    except OSError as exc:
        prot.error = f"BLKROGET: {exc.strerror}"
        return prot
    if prot.read_only_before and left_by_workbench:
        prot.set_by_workbench = prot.taken_back = True
    elif policy != "off" and not prot.read_only_before:
        try:
            if before_set is not None:
                before_set()
            blk_ro_set(fd, True)
            prot.set_by_workbench = True
        except OSError as exc:
            prot.error = f"BLKROSET: {exc.strerror}" + (
                " (needs root: CAP_SYS_ADMIN)" if exc.errno in (1, 13) else "")
    try:
        prot.read_only_during = blk_ro_get(fd)
    except OSError:
        prot.read_only_during = None
    return prot


def release_fd(fd: int, prot: Protection) -> None:
    """After imaging: undo what guard_fd set (restore), or leave it (keep)."""
    if not prot.set_by_workbench:
        return
    if prot.policy == "keep":
        prot.after = "kept"
        return
    try:
        blk_ro_set(fd, False)
        prot.after = "restored"
    except OSError as exc:
        prot.after, prot.error = "kept", f"restoring: BLKROSET: {exc.strerror}"


def guard_source(source: Any, policy: str, left_by_workbench: bool = False,
                 before_set: Callable[[], None] | None = None) -> Protection | None:
    """guard_fd on an opened block-device source (DeviceSource); None for files and
    virtual drives, which have no block layer to protect."""
    if not getattr(source, "is_block", False) or source.fileno() < 0:
        return None
    return guard_fd(source.fileno(), source.path, source.rdev, policy, left_by_workbench,
                    before_set)


def release(source: Any, prot: Protection | None) -> None:
    if prot is not None and source.fileno() >= 0:
        release_fd(source.fileno(), prot)


def preview(path: str, rdev: int, policy: str) -> dict[str, Any]:
    """For pre-flight, before imaging: the write-protect state and what imaging will do
    (nothing is set here)."""
    facts: dict[str, Any] = {"write_protect": write_protect_state(path, rdev),
                             "policy": policy, "can_set": can_set_read_only()}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        facts["read_only_now"] = None
        return facts
    try:
        facts["read_only_now"] = blk_ro_get(fd)
    except OSError:
        facts["read_only_now"] = None
    finally:
        os.close(fd)
    return facts


def preflight_checks(source: Any, policy: str, left_by_workbench: bool = False) -> list[Any]:
    """Pre-flight lines for a block-device source: the medium's write-protect state and
    what imaging will do at the block layer. They inform and never refuse (the source is
    opened read-only whatever they say). left_by_workbench: as guard_fd's."""
    from workbench.imaging.preflight import Check
    if not getattr(source, "is_block", False):
        return []
    facts = preview(source.path, source.rdev, policy)
    path, wp = source.path, facts["write_protect"]
    if facts["read_only_now"] and left_by_workbench:
        block = "ro_left_keep" if policy == "keep" else "ro_left_restore"
    elif facts["read_only_now"]:
        block = "ro_already"
    elif policy == "off":
        block = "ro_off"
    elif not facts["can_set"]:
        block = "ro_cannot"
    else:
        block = f"ro_will_{policy}"
    # informative lines: only their .ok texts exist (INFO_KEYS), they never refuse
    return [Check(wp_key(wp), True, {"path": path, "basis": wp["basis"]}, note=True),
            Check(block, True, {"path": path}, note=True)]


def wp_key(wp: dict[str, Any]) -> str:
    """wp_yes | wp_no | wp_unknown, or wp_blocked: unknown because the block layer is
    read-only (and so sysfs says nothing of the medium)."""
    state = wp.get("state", "unknown")
    return "wp_blocked" if state == "unknown" and wp.get("sysfs_ro") else f"wp_{state}"


INFO_KEYS = ("wp_blocked", "wp_yes", "wp_no", "wp_unknown", "ro_already", "ro_off", "ro_cannot",
             "ro_will_restore", "ro_will_keep", "ro_left_restore", "ro_left_keep")


def protection_note(protection: dict[str, Any]) -> str:
    """A run's protection in English words (PREMIS, reports)."""
    if not protection:
        return ""
    wp = protection.get("write_protect") or {}
    words = f"medium write-protected: {wp.get('state', 'unknown')}"
    if wp.get("basis"):
        words += f" ({wp['basis']})"
    if protection.get("set_by_workbench"):
        block = ("block device set read-only (BLKROSET) while imaged, "
                 + ("taken back from an interrupted run, " if protection.get("taken_back")
                    else "")
                 + {"restored": "cleared afterwards", "kept": "kept read-only afterwards"}
                 .get(protection.get("after", ""), "still set when recorded"))
    elif protection.get("read_only_before"):
        block = "block device read-only before imaging (BLKROGET)"
    elif protection.get("policy") == "off":
        block = "block-level read-only off in the station settings"
    else:
        block = "block device not set read-only: " + (protection.get("error") or "unknown")
    return f"{block}; {words}"


def runs_note(runs: list[Any]) -> str:
    """"; " and the protection of each run that recorded one (PREMIS capture event)."""
    notes = [f"run {n}: {protection_note(run.protection)}"
             for n, run in enumerate(runs, 1) if getattr(run, "protection", None)]
    return "; " + "; ".join(notes) if notes else ""
