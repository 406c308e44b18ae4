"""Emulation readiness: which machine a carrier was made for, whether it boots, what
starts it, and which emulators could run it.

The identification engine hands every file's record and first bytes to an
EnvironmentObserver while it reads them (no extra reads), then asks for the environment:

    observer.file(record, head)            # per file, as the engine reads it
    env = observer.environment(image, volumes)

The environment (the format report's `environment` field) holds the boot records
(emulation_boot.py), executables with their target system (emulation_exe.py),
autorun.inf entries, installers, the system files found, a ranked list of platforms with
the evidence for each, and the suggested emulators (emulators.json).
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from workbench.identify import emulation_mac as mac
from workbench.identify.emulation_boot import NEEDS, VolumeLike, boot_records
from workbench.identify.emulation_exe import executable
from workbench.identify.model import Image
from workbench.identify.report import FileRecord

INSTALLERS = frozenset({"SETUP.EXE", "INSTALL.EXE", "SETUP.BAT", "INSTALL.BAT", "SETUP.COM",
                        "INSTALL.COM", "INSTALL.X", "SETUP.X", "INSTALL"})
# Root-directory files that make a volume a system disk (upper case)
SYSTEM_FILES = {"IO.SYS": "MS-DOS", "MSDOS.SYS": "MS-DOS", "IBMBIO.COM": "PC DOS",
                "IBMDOS.COM": "PC DOS", "KERNEL.SYS": "FreeDOS", "COMMAND.COM": "DOS shell",
                "WINBOOT.SYS": "Windows 95", "NTLDR": "Windows NT", "BOOTMGR": "Windows Vista+",
                "HUMAN.SYS": "Human68k", "COMMAND.X": "Human68k shell",
                "CONFIG.SYS": "DOS configuration", "AUTOEXEC.BAT": "DOS start-up"}
_SOFTWARE = {"MS-DOS": "dos", "PC DOS": "dos", "FreeDOS": "dos", "Windows 95": "dos",
             "Windows NT": "win32", "Windows Vista+": "win32", "SYSLINUX": "unix"}
MAX_AUTORUN = 64 * 1024


@cache
def catalogue() -> dict[str, Any]:
    with open(Path(__file__).with_name("emulators.json"), encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent or "/", name


class EnvironmentObserver:
    """Collects, per file, what matters for emulation; cheap enough for every file."""

    def __init__(self) -> None:
        self.executables: list[dict[str, Any]] = []
        self.autoruns: list[dict[str, Any]] = []
        self.installers: list[dict[str, Any]] = []
        self.system: dict[int, dict[str, str]] = {}  # volume -> root NAME -> path
        self.mac_folders: dict[tuple[int, str], set[str]] = {}  # (volume, folder) -> names
        self.mac_apps: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def file(self, rec: FileRecord, head: bytes) -> None:
        try:
            self._file(rec, head)
        except (struct.error, IndexError, ValueError) as exc:  # never stop the listing
            self.errors.append(f"{rec.path}: {type(exc).__name__}: {exc}")

    def _file(self, rec: FileRecord, head: bytes) -> None:
        parent, name = _split(rec.path)
        upper = name.upper()
        exe = executable(name, head) if rec.size else None
        if exe is not None:
            self.executables.append({"file": rec.id, "volume": rec.volume,
                                     "path": rec.path, **exe})
        if parent == "/" and upper in SYSTEM_FILES:
            self.system.setdefault(rec.volume, {})[upper] = rec.path
        if upper == "WIN.COM" and parent.count("/") <= 1:
            self.system.setdefault(rec.volume, {})["WIN.COM"] = rec.path
        if upper in INSTALLERS:
            self.installers.append({"file": rec.id, "volume": rec.volume, "path": rec.path,
                                    "executable": exe})
        if upper == "AUTORUN.INF" and parent == "/":
            self.autoruns.append({"volume": rec.volume, "path": rec.path,
                                  **parse_autorun(head[:MAX_AUTORUN])})
        if name in ("System", "Finder"):
            self.mac_folders.setdefault((rec.volume, parent), set()).add(name)
        if head[:4] in mac.MAGICS:
            self._appledouble(rec, parent, name, head)

    def _appledouble(self, rec: FileRecord, parent: str, name: str, head: bytes) -> None:
        """Finder info from an AppleDouble/AppleSingle header: file type and creator; for
        an application, its CPU from the resource types."""
        info = mac.finder_info(head)
        if info is None:
            return
        kind, creator = info
        real = name[2:] if name.startswith("._") else name
        if kind == "APPL":
            self.mac_apps.append({"volume": rec.volume, "path": f"{parent.rstrip('/')}/{real}",
                                  "creator": creator,
                                  "platform": mac.cpu(mac.resource_types(head))})
        if (kind, creator) in (("zsys", "MACS"), ("ZSYS", "MACS")):
            self.mac_folders.setdefault((rec.volume, parent), set()).add("System")
        if (kind, creator) == ("FNDR", "MACS"):
            self.mac_folders.setdefault((rec.volume, parent), set()).add("Finder")

    def environment(self, image: Image, volumes: Sequence[VolumeLike]) -> dict[str, Any]:
        boots = boot_records(image, volumes)
        for record in boots:
            self._decide(record, volumes)
        for record in boots:  # an MBR boots when the active partition's boot sector does
            if record["kind"] == "mbr" and record.get("active_volumes"):
                vbr = [b for b in boots if b["kind"] in ("fat-boot-sector", "ntfs-boot-sector")
                       and b["volume"] in record["active_volumes"]]
                if vbr:
                    record["bootable"], record["platform"] = vbr[0]["bootable"], ""
        for run in self.autoruns:
            target = self._find(run["volume"], run.get("open") or run.get("shellexecute", ""))
            if target is not None:
                run["target"] = {k: target[k] for k in ("path", "format", "platform", "target")}
        platforms = self._platforms(boots)
        known = [r["bootable"] for r in boots]
        bootable = True if True in known else (None if None in known else False)
        system_folders = [{"volume": v, "path": p} for (v, p), names in
                          sorted(self.mac_folders.items()) if {"System", "Finder"} <= names]
        return {
            "bootable": bootable,
            "platform": platforms[0]["platform"] if platforms else "",
            "platforms": platforms,
            "emulators": _suggest(platforms),
            "boot": boots,
            "autorun": self.autoruns,
            "installers": self.installers,
            "system_files": {str(v): sorted(files) for v, files in sorted(self.system.items())},
            "mac_system_folders": system_folders,
            "mac_applications": self.mac_apps,
            "executables": self.executables,
            "executable_counts": dict(Counter(e["platform"] or "unknown"
                                              for e in self.executables).most_common()),
            "errors": self.errors,
        }

    def _find(self, volume: int, command: str) -> dict[str, Any] | None:
        """The executable an autorun open= line starts (its first word, relative to the
        volume root, case-insensitive as on FAT and ISO 9660)."""
        program = command.strip().strip('"').split(" ", 1)[0].replace("\\", "/").lstrip("/")
        if not program:
            return None
        wanted = "/" + program.upper()
        return next((e for e in self.executables if e["volume"] == volume
                     and e["path"].upper() in (wanted, wanted.split(";")[0])), None)

    def _decide(self, record: dict[str, Any], volumes: Sequence[VolumeLike]) -> None:
        """Settle `bootable` where the boot code is there and the files decide."""
        kind, volume = record["kind"], record.get("volume")
        files = self.system.get(volume, {}) if volume is not None else {}
        if kind in ("fat-boot-sector", "ntfs-boot-sector"):
            loads = record.get("loads", [])
            present = [s for s in loads if any(f in files for f in NEEDS.get(s, ()))]
            if present:
                record.update(bootable=True, system=present[0])
            elif loads and record["bootable"] is None:
                record.update(bootable=False, reason="the boot code loads "
                              + " / ".join(NEEDS.get(loads[0], (loads[0],)))
                              + ", which is not in the root directory")
            elif record["bootable"] is None and record["platform"] == "pc98" and (
                    "IO.SYS" in files or "MSDOS.SYS" in files):
                record.update(bootable=True, system="MS-DOS")
        elif kind in ("human68k-boot-sector", "x68000-scsi"):
            if any("HUMAN.SYS" in f for f in self.system.values()):
                record.update(bootable=True, system="Human68k")
        elif kind == "mac-boot-blocks":
            folder = next((p for (v, p), names in self.mac_folders.items()
                           if v == volume and {"System", "Finder"} <= names), None)
            if folder and record["boot_blocks"]:
                record.update(bootable=True, system_folder=folder)
            elif folder:
                record.update(bootable=False, system_folder=folder,
                              reason="a System Folder but no boot blocks")
            elif record["boot_blocks"] and record["blessed_folder_id"]:
                record["reason"] = "blessed folder without files named System and Finder"
            elif record["bootable"] is None:
                record.update(bootable=False, reason="no System Folder with System and Finder")
        elif kind == "mbr" and record["bootable"] is None:
            starts = {p["start"] for p in record["partitions"] if p["active"]}
            active = [v.index for v in volumes if v.offset // 512 in starts]
            record["active_volumes"] = active

    def _platforms(self, boots: list[dict[str, Any]]) -> list[dict[str, Any]]:
        scores: Counter[str] = Counter()
        evidence: dict[str, list[str]] = {}

        def add(platform: str, points: int, why: str) -> None:
            if platform:
                scores[platform] += points
                evidence.setdefault(platform, []).append(why)

        for r in boots:
            if r["bootable"] is False or not r["platform"]:
                continue
            platform = r["platform"]
            system = r.get("system") or ""
            if platform == "pc" and system in _SOFTWARE:
                platform = _SOFTWARE[system]
            inner = r.get("image_boot_sector") or {}
            if platform == "pc" and inner.get("loads"):
                platform = _SOFTWARE.get(inner["loads"][0], "pc")
            if r["bootable"] is None and r["kind"] in ("fat-boot-sector", "ntfs-boot-sector") \
                    and platform == "pc" and not r.get("loads"):
                continue  # boot code that loads nothing known: says nothing of a platform
            add(platform, 100 if r["bootable"] else 40,
                f"boot: {r['evidence']}" + (f" ({system})" if system else ""))
        for run in self.autoruns:
            target = run.get("target")
            if target and target["platform"]:
                add(target["platform"], 30, f"autorun.inf starts {target['path']}")
        for inst in self.installers:
            exe = inst["executable"]
            if exe and exe["platform"]:
                add(exe["platform"], 30, f"installer {inst['path']} ({exe['format']})")
        counts = Counter(e["platform"] for e in self.executables if e["platform"])
        for platform, n in counts.items():
            add(platform, min(25, 5 * n), f"{n} executable(s) for {platform}")
        apps = Counter(a["platform"] or "mac" for a in self.mac_apps)
        for platform, n in apps.items():
            add(platform, min(25, 5 * n), f"{n} Macintosh application(s) (Finder type APPL)")
        cpus = [p for p in ("mac68k", "macppc") if p in scores]
        if "mac" in scores and len(cpus) == 1:  # the Mac's CPU, from its applications
            scores[cpus[0]] += scores.pop("mac")
            evidence[cpus[0]] = evidence.pop("mac") + evidence[cpus[0]]
        names = catalogue()["platforms"]
        return [{"platform": p, "name": names.get(p, {}).get("name", p), "score": s,
                 "evidence": evidence[p]} for p, s in scores.most_common()]


def _suggest(platforms: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Emulators for the best-scoring platforms (those within half the top score)."""
    data = catalogue()
    out: list[dict[str, str]] = []
    top = platforms[0]["score"] if platforms else 0
    for p in platforms:
        if p["score"] * 2 < top:
            break
        info = data["platforms"].get(p["platform"], {})
        for key in info.get("emulators", []):
            if all(e["id"] != key for e in out):
                emulator = data["emulators"][key]
                out.append({"id": key, "name": emulator["name"], "platform": p["platform"],
                            "machines": emulator["machines"]})
    return out


def parse_autorun(data: bytes) -> dict[str, str]:
    """The [autorun] section of an autorun.inf: open, shellexecute, icon, label. Japanese
    discs write it in Shift_JIS (cp932), others in the ANSI code page."""
    for codec in ("utf-8-sig", "cp932", "cp1252"):
        try:
            text = data.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("latin-1")
    out: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip() if not line.lstrip().startswith(";") else ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
        elif section == "autorun" and "=" in line:
            key, _, value = line.partition("=")
            key = key.strip().lower()
            if key in ("open", "shellexecute", "icon", "label", "action") and key not in out:
                out[key] = value.strip()
    return out
