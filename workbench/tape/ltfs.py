"""Real LTFS cartridges: mkltfs, ltfs (FUSE) and the cartridge memory (MAM) read with
sg_read_attr (sg3-utils). Each tool's output is parsed from its message IDs (LTFS prints
"LTFSnnnnnX text", X being I, W, E or D; an optional thread id comes first), so a
translated or newer build still reads the same.

Without the tools (or without a device in the settings) folders under the tape folder
stand in for tapes, as before: nothing here is needed for that.

Tried against: the message catalogues and option lists of LTFS 2.4 (LinearTapeFileSystem
reference implementation, messages/bin_mkltfs, bin_ltfs, libltfs) and sg3-utils 1.4x
sg_read_attr; no physical drive was available to this build, see tests/ltfs_outputs/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# MAM "Medium density code" (attribute 0x0405) of LTO generations (SSC / LTO CM spec)
DENSITY = {0x58: "LTO-5", 0x5A: "LTO-6", 0x5C: "LTO-7", 0x5D: "LTO-7",  # 0x5D: LTO-7 M8
           0x5E: "LTO-8", 0x60: "LTO-9"}
MEDIUM_TYPE = {0x00: "data", 0x01: "cleaning", 0x80: "WORM"}
_MESSAGE = re.compile(r"(?:^|\s)LTFS(\d{5})([IWED])\s+(.*)$")
_ATTRIBUTE = re.compile(r"^\s+([^:]+?):\s?(.*?)\s*$")


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str  # stdout and stderr together, as the tools mix them


Runner = Callable[[list[str], float], Completed]


def run_tool(argv: list[str], timeout: float) -> Completed:
    """Run a tool with a deadline; a tool that cannot start is exit 127."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=False, errors="replace")
    except FileNotFoundError as exc:
        return Completed(127, str(exc))
    except subprocess.TimeoutExpired:
        return Completed(124, f"{argv[0]}: no answer within {timeout:.0f} s")
    return Completed(done.returncode, done.stdout + done.stderr)


@dataclass(frozen=True)
class Message:
    number: int
    level: str  # I W E D
    text: str


def messages(output: str) -> list[Message]:
    out = []
    for line in output.splitlines():
        m = _MESSAGE.search(line)
        if m:
            out.append(Message(int(m.group(1)), m.group(2), m.group(3).strip()))
    return out


def errors_of(output: str) -> str:
    found = [f"LTFS{m.number}{m.level} {m.text}" for m in messages(output) if m.level == "E"]
    if found:
        return "; ".join(found)
    lines = output.strip().splitlines()
    return lines[-1] if lines else ""


@dataclass(frozen=True)
class Mam:
    """What the cartridge memory says (attributes the drive offered)."""
    barcode: str = ""
    serial: str = ""  # medium serial number
    generation: str = ""  # from the medium density code
    medium_type: str = ""  # data | cleaning | WORM
    attributes: dict[str, str] = field(default_factory=dict)


def parse_mam(output: str) -> Mam:
    """sg_read_attr's attribute values ("  Name: value" lines)."""
    attrs: dict[str, str] = {}
    for line in output.splitlines():
        m = _ATTRIBUTE.match(line)
        if m:
            attrs[m.group(1).strip()] = m.group(2).strip()

    def code(name: str) -> int | None:
        try:
            return int(attrs.get(name, ""), 0)
        except ValueError:
            return None

    density, kind = code("Medium density code"), code("Medium type")
    return Mam(attrs.get("Barcode", ""), attrs.get("Medium serial number", ""),
               DENSITY.get(density, "") if density is not None else "",
               MEDIUM_TYPE.get(kind, f"0x{kind:x}") if kind is not None else "", attrs)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str = ""
    read_only: str = ""  # why a mount is read-only: write_protected | data_full | index_full
    uuid: str = ""


def tape_serial(barcode: str) -> str:
    """mkltfs wants 6 capital letters or digits: the barcode's volume serial (A00001L8
    -> A00001)."""
    serial = re.sub(r"[^A-Z0-9]", "", barcode.upper())[:6]
    return serial.ljust(6, "0")


class Ltfs:
    def __init__(self, device: str, sg_device: str = "", runner: Runner = run_tool,
                 which: Callable[[str], str | None] = shutil.which) -> None:
        self.device, self.sg_device, self.run, self.which = device, sg_device, runner, which

    def available(self) -> bool:
        return bool(self.device) and all(self.which(t) for t in ("mkltfs", "ltfs"))

    def read_mam(self) -> Mam | None:
        """The cartridge memory, when sg_read_attr and a SCSI generic device are there."""
        device = self.sg_device or self.device
        if not device or not self.which("sg_read_attr"):
            return None
        done = self.run(["sg_read_attr", "--readonly", device], 60)
        return parse_mam(done.output) if done.returncode == 0 else None

    def format(self, barcode: str, volume_name: str) -> Outcome:
        """mkltfs without --force: a formatted cartridge is refused by mkltfs itself
        (LTFS15047E), never wiped."""
        done = self.run(["mkltfs", f"--device={self.device}",
                         f"--tape-serial={tape_serial(barcode)}",
                         f"--volume-name={volume_name}"], 3600)
        found = messages(done.output)
        numbers = {m.number for m in found}
        uuid = next((m.text.split()[-1].rstrip(".") for m in found if m.number == 15013), "")
        if 15047 in numbers:
            return Outcome(False, "already_formatted")
        if done.returncode == 0 and 15024 in numbers:
            return Outcome(True, "", uuid=uuid)
        return Outcome(False, errors_of(done.output) or f"mkltfs exit {done.returncode}")

    def mount(self, mountpoint: Path, capture: Path) -> Outcome:
        """ltfs mounts and returns (FUSE); the index is captured into capture each time
        it is written (-o capture_index), the last one at unmount."""
        capture.mkdir(parents=True, exist_ok=True)
        mountpoint.mkdir(parents=True, exist_ok=True)
        done = self.run(["ltfs", "-o", f"devname={self.device}", "-o",
                         f"capture_index={capture}", "-o", "sync_type=unmount",
                         str(mountpoint)], 900)
        numbers = {m.number for m in messages(done.output)}
        if done.returncode != 0 or 14013 in numbers or 14111 not in numbers:
            return Outcome(False, errors_of(done.output) or f"ltfs exit {done.returncode}")
        read_only = "write_protected" if 14019 in numbers else "data_full" if \
            14071 in numbers or 14074 in numbers else "index_full" if 14073 in numbers else ""
        return Outcome(True, read_only=read_only)

    def unmount(self, mountpoint: Path) -> Outcome:
        tool = "fusermount3" if self.which("fusermount3") else "fusermount"
        done = self.run([tool, "-u", str(mountpoint)], 3600)
        if done.returncode != 0:
            return Outcome(False, done.output.strip() or f"{tool} exit {done.returncode}")
        return Outcome(True)


def newest_index(capture: Path) -> Path | None:
    """The last index ltfs captured (it names them by volume UUID and generation)."""
    found = [p for p in capture.glob("*.xml") if p.is_file()] if capture.is_dir() else []
    return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name)) if found else None
