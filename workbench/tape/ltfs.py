"""Real LTFS cartridges: mkltfs, ltfs (FUSE) and the cartridge memory (MAM) read with
sg_read_attr (sg3-utils). Each tool's output is parsed from its message IDs (LTFS prints
"LTFSnnnnnX text", X being I, W, E or D; ltfs puts a thread id first, mkltfs does not),
so a translated or newer build still reads the same.

Without the tools (or without a device in the settings) folders under the tape folder
stand in for tapes, as before: nothing here is needed for that.

Tried against: LTFS 2.4.8.4 (Prelim), the reference implementation
(github.com/LinearTapeFileSystem/ltfs, commit 7c01479), built here and run on its
file-backed tape simulator (`--backend=file`, `-o tape_backend=file`); the recorded
outputs are in tests/ltfs_outputs/ (record.sh makes them again). What that run showed:
- `-o capture_index` is a flag: the index is written at unmount into `-o
  work_directory` as BARCODE.schema (the 6-character tape serial). `capture_index=DIR`
  is passed on to FUSE, which refuses it after LTFS said 14111I, and ltfs still exits 0:
  a mount is only believed when the mount point is one.
- fusermount -u returns before ltfs has written the index to tape and captured it: the
  unmount waits (with a deadline) for that ltfs process to end.
- every run on the file backend says LTFS30061E (unlock before load): an error before
  the cartridge loaded (11332I) is not the cause of a failure.
No physical drive was available: the sg_read_attr outputs tested are the real tool's
(sg3-utils 1.46, `--in`) decoding built responses (tests/ltfs_outputs/mam/SOURCES.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
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


LOADED = 11332  # "Load successful": errors said before it are not why a run failed


def errors_of(output: str) -> str:
    said = messages(output)
    loaded = max((i for i, m in enumerate(said) if m.number == LOADED), default=-1)
    found = [f"LTFS{m.number}{m.level} {m.text}" for m in said[loaded + 1:] if m.level == "E"]
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
    barcode: str = ""  # the cartridge memory's barcode, as ltfs said it at mount (17227I)


def tape_serial(barcode: str) -> str:
    """mkltfs wants 6 capital letters or digits: the barcode's volume serial (A00001L8
    -> A00001)."""
    serial = re.sub(r"[^A-Z0-9]", "", barcode.upper())[:6]
    return serial.ljust(6, "0")


def same_cartridge(barcode: str, mam_barcode: str) -> bool:
    """A barcode and the one in a cartridge's memory name the same cartridge: equal, or
    the memory holds the 6-character volume serial LTFS writes there (A00001 for
    A00001L8)."""
    found = mam_barcode.strip()
    return barcode == found or (len(found) == 6 and tape_serial(barcode) == found
                                and barcode.startswith(found))


def ltfs_running(mountpoint: Path) -> bool:
    """Is an ltfs process serving this mount point still there (writing its index)?"""
    wanted = {str(mountpoint), str(mountpoint.resolve())}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        args = [a.decode(errors="replace") for a in argv if a]
        if args and Path(args[0]).name == "ltfs" and wanted & set(args[1:]):
            return True
    return False


_BARCODE = re.compile(r"^Tape attribute: Barcode = (.*?)\s*\.$")


class Ltfs:
    def __init__(self, device: str, sg_device: str = "", runner: Runner = run_tool,
                 which: Callable[[str], str | None] = shutil.which, backend: str = "",
                 ismount: Callable[[Path], bool] = os.path.ismount,
                 running: Callable[[Path], bool] = ltfs_running) -> None:
        self.device, self.sg_device, self.run, self.which = device, sg_device, runner, which
        self.backend = backend  # the LTFS tape backend ("": its default, sg; file: simulator)
        self.ismount, self.running = ismount, running

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
        backend = [f"--backend={self.backend}"] if self.backend else []
        done = self.run(["mkltfs", f"--device={self.device}", *backend,
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
        """ltfs mounts and returns (FUSE); the index is captured into capture at unmount
        (-o capture_index with -o work_directory)."""
        capture.mkdir(parents=True, exist_ok=True)
        mountpoint.mkdir(parents=True, exist_ok=True)
        backend = ["-o", f"tape_backend={self.backend}"] if self.backend else []
        done = self.run(["ltfs", "-o", f"devname={self.device}", *backend,
                         "-o", "capture_index", "-o", f"work_directory={capture}",
                         "-o", "sync_type=unmount", str(mountpoint)], 900)
        said = messages(done.output)
        numbers = {m.number for m in said}
        fuse = [line for line in done.output.splitlines() if line.startswith("fuse:")]
        if done.returncode != 0 or 14013 in numbers or 14111 not in numbers or fuse \
                or 14123 in numbers or not self.ismount(mountpoint):
            # 14111I then a FUSE refusal (14123W) still exits 0: no mount without one
            detail = "; ".join(fuse) or errors_of(done.output)
            return Outcome(False, detail or f"ltfs exit {done.returncode}: not mounted")
        read_only = "write_protected" if 14019 in numbers else "data_full" if \
            14071 in numbers or 14074 in numbers else "index_full" if 14073 in numbers else ""
        barcode = next((b.group(1) for m in said if m.number == 17227
                        for b in [_BARCODE.match(m.text)] if b), "")
        return Outcome(True, read_only=read_only, barcode=barcode)

    def unmount(self, mountpoint: Path, deadline: float = 3600) -> Outcome:
        """fusermount -u, then wait for ltfs to write the index and end: only then is
        the cartridge written and the captured index the last one."""
        tool = "fusermount3" if self.which("fusermount3") else "fusermount"
        done = self.run([tool, "-u", str(mountpoint)], deadline)
        if done.returncode != 0:
            return Outcome(False, done.output.strip() or f"{tool} exit {done.returncode}")
        until = time.monotonic() + deadline
        while self.running(mountpoint):
            if time.monotonic() > until:
                return Outcome(False, f"ltfs still writing after {deadline:.0f} s")
            time.sleep(0.1)
        return Outcome(True)


Captured = dict[str, tuple[int, int]]  # index file name -> (mtime ns, size)


def captured(capture: Path) -> Captured:
    """The index files in a capture folder now (BARCODE.schema; other builds name them by
    volume UUID, or .xml)."""
    if not capture.is_dir():
        return {}
    found = {}
    for p in capture.iterdir():
        if p.suffix in (".schema", ".xml") and p.is_file():
            st = p.stat()
            found[p.name] = (st.st_mtime_ns, st.st_size)
    return found


def newest_index(capture: Path, before: Captured | None = None) -> Path | None:
    """The last index ltfs captured, of those written since `before` was taken (a file
    new or changed since: file times are coarser than the clock, so no time compare)."""
    now = captured(capture)
    fresh = [n for n, seen in now.items() if before is None or before.get(n) != seen]
    return capture / max(fresh, key=lambda n: (now[n][0], n)) if fresh else None
