"""Finding drives: block devices from sysfs, and virtual drives for training.

Everything here only reads: sysfs, the udev database, psutil's mount table.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench import DATA_ROOT
from workbench.errors import WorkbenchError
from workbench.imaging.identity import block_facts
from workbench.imaging.identity import read_text as _read
from workbench.imaging.preflight import mounted_on, system_disks
from workbench.imaging.sources import DRIVE_SUFFIX, VirtualDrive
from workbench.profiles import MediaProfile, suggest_profile

SYS_BLOCK = Path("/sys/block")
TRAINING_MEDIA = DATA_ROOT / "media"
_SKIP_PREFIXES = ("ram", "zram", "md", "dm-", "nbd")


@dataclass
class Drive:
    path: str
    name: str
    kind: str  # block | virtual
    vendor: str = ""
    model: str = ""
    serial: str = ""
    transport: str = ""
    removable: bool = False
    size: int = 0
    sector_size: int = 512
    media_present: bool = False
    mounted: bool = False
    mountpoints: list[str] = field(default_factory=list)
    system_disk: bool = False
    suggested_profile: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    problem: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def block_drives(profiles: dict[str, MediaProfile], sys_block: Path = SYS_BLOCK) -> list[Drive]:
    drives = []
    system = system_disks()
    for node in sorted(sys_block.iterdir()) if sys_block.exists() else []:
        name = node.name
        if name.startswith(_SKIP_PREFIXES):
            continue
        if name.startswith("loop") and not (node / "loop" / "backing_file").exists():
            continue  # an unused loop device
        major, minor = (int(x) for x in (_read(node / "dev") or "0:0").split(":"))
        size = int(_read(node / "size") or 0) * 512  # sysfs counts 512-byte units
        sector = int(_read(node / "queue" / "logical_block_size") or 512)
        rdev = os.makedev(major, minor)
        facts = block_facts(rdev)
        mounts = mounted_on(rdev)
        drive = Drive(
            path=f"/dev/{name}", name=name, kind="block", vendor=facts["vendor"],
            model=facts["model"], serial=facts["serial"], transport=facts["transport"],
            removable=_read(node / "removable") == "1", size=size, sector_size=sector,
            media_present=size > 0, mounted=bool(mounts), mountpoints=mounts,
            system_disk=rdev in system)
        profile = suggest_profile(profiles, size, sector, drive.transport)
        drive.suggested_profile = profile.id if profile else None
        drives.append(drive)
    return drives


def training_drives(profiles: dict[str, MediaProfile],
                    media: Path = TRAINING_MEDIA) -> list[Drive]:
    """The sample carriers in media/ as drives (*.drive.toml), for training mode."""
    drives = []
    for path in sorted(media.glob(f"*{DRIVE_SUFFIX}")):
        name = path.name.removesuffix(DRIVE_SUFFIX)
        try:
            with VirtualDrive.from_file(path) as vd:
                ident = vd.identity
                profile = (profiles.get(vd.profile_hint) or
                           suggest_profile(profiles, vd.size, vd.sector_size, ident.transport))
                drives.append(Drive(
                    path=str(path), name=name, kind="virtual", vendor=ident.vendor,
                    model=ident.model, serial=ident.serial, transport=ident.transport,
                    removable=True, size=vd.size, sector_size=vd.sector_size,
                    media_present=vd.size > 0, labels=vd.labels,
                    suggested_profile=profile.id if profile else None))
        except (WorkbenchError, OSError) as exc:
            drives.append(Drive(path=str(path), name=name, kind="virtual", problem=str(exc)))
    return drives


def list_drives(profiles: dict[str, MediaProfile], training: bool = False) -> list[Drive]:
    drives = block_drives(profiles)
    if training:
        drives = training_drives(profiles) + drives
    return drives


def carrier_drives(profiles: dict[str, MediaProfile], training: bool = False) -> list[Drive]:
    """The drives a carrier may be read from: never a disk the system runs from (the
    station board and the drive choice offer no such drive; pre-flight refuses it too)."""
    return [d for d in list_drives(profiles, training) if not d.system_disk]
