"""Who reads a carrier: a block device's vendor, model, serial, firmware and transport,
from sysfs and the udev database (read only). The same facts serve the drive list
(workbench.devices) and every job record, bag and PREMIS agent."""

from __future__ import annotations

import os
from pathlib import Path

SYS_DEV_BLOCK = Path("/sys/dev/block")
UDEV_DATA = Path("/run/udev/data")


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def udev_properties(major: int, minor: int, data: Path = UDEV_DATA) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in read_text(data / f"b{major}:{minor}").splitlines():
        if line.startswith("E:") and "=" in line:
            key, _, value = line[2:].partition("=")
            props[key] = value
    return props


def transport_of(node: Path, name: str) -> str:
    real = str(node.resolve())
    for marker, transport in (("/usb", "usb"), ("/nvme", "nvme"), ("/ata", "ata"),
                              ("/virtio", "virtio"), ("/mmc", "mmc")):
        if marker in real:
            return transport
    if name.startswith("loop"):
        return "loop"
    return "scsi" if (node / "device").exists() else ""


def block_facts(rdev: int, sys_dev_block: Path = SYS_DEV_BLOCK) -> dict[str, str]:
    """vendor, model, serial, firmware and transport of the disk holding rdev (a
    partition's facts are its disk's); empty strings where the system says nothing."""
    node = (sys_dev_block / f"{os.major(rdev)}:{os.minor(rdev)}").resolve()
    if (node / "partition").exists():
        node = node.parent
    name = node.name
    major, minor = (int(x) for x in (read_text(node / "dev") or "0:0").split(":"))
    udev = udev_properties(major, minor)
    transport = transport_of(node, name)
    facts = {
        "vendor": read_text(node / "device" / "vendor") or udev.get("ID_VENDOR", ""),
        "model": read_text(node / "device" / "model") or udev.get("ID_MODEL", ""),
        "serial": udev.get("ID_SERIAL_SHORT") or read_text(node / "device" / "serial"),
        "firmware": read_text(node / "device" / "rev") or udev.get("ID_REVISION", ""),
        "transport": udev.get("ID_BUS", "") if transport == "scsi" and udev.get("ID_BUS")
        else transport,
    }
    if name.startswith("loop"):  # a loop device: its backing file says what it is
        facts["model"] = read_text(node / "loop" / "backing_file")
    return facts
