"""Executable formats and the system they target, from a file's first bytes.

    executable("SETUP.EXE", head) -> {"format": "NE", "platform": "win16", ...} | None

MZ (plain: MS-DOS), NE (target OS byte: Windows or OS/2), PE (machine and subsystem),
LE/LX (Windows VxD, OS/2, DOS extenders), COM by name, X68000 .X ("HU"), PEF (classic
Mac Code Fragment Manager containers in data forks), ELF. Only headers inside `head` are
read: a header pointed to beyond it is reported as such, never guessed.
"""

from __future__ import annotations

import struct
from typing import Any

# NE header byte 0x36: the operating system the module was linked for
_NE_OS = {1: ("os2", "OS/2"), 2: ("win16", "Windows"), 3: ("dos", "European MS-DOS 4.x"),
          4: ("win16", "Windows 386"), 5: ("", "Borland Operating System Services")}
# LE/LX header word 0x0A
_LE_OS = {1: ("os2", "OS/2"), 2: ("win16", "Windows"), 3: ("dos", "MS-DOS 4.x"),
          4: ("win32", "Windows 386 (VxD)")}
_PE_MACHINE = {0x14C: "i386", 0x8664: "x86-64", 0x200: "IA-64", 0x1C0: "ARM",
               0x1C2: "ARM Thumb", 0x1C4: "ARMv7 Thumb-2", 0xAA64: "ARM64",
               0x166: "MIPS R4000", 0x169: "MIPS WCE v2", 0x184: "Alpha AXP",
               0x1F0: "PowerPC", 0x1F1: "PowerPC FP", 0x1A2: "SH3", 0x1A6: "SH4",
               0x268: "Motorola 68000", 0xEBC: "EFI byte code"}
_PE_SUBSYSTEM = {1: "native", 2: "Windows GUI", 3: "Windows console", 5: "OS/2 console",
                 7: "POSIX console", 8: "native Windows 9x driver", 9: "Windows CE GUI",
                 10: "EFI application", 11: "EFI boot service driver",
                 12: "EFI runtime driver", 13: "EFI ROM", 14: "Xbox",
                 16: "Windows boot application"}
_ELF_MACHINE = {2: "SPARC", 3: "i386", 4: "m68k", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64",
                40: "ARM", 62: "x86-64", 183: "AArch64", 243: "RISC-V"}
# Stub strings of DOS extenders that run LE programs under MS-DOS
_DOS_EXTENDERS = (b"DOS/4G", b"DOS4GW", b"PMODE/W", b"CauseWay", b"DOS/32A", b"DOS32A")


def _u16(data: bytes, at: int, fmt: str = "<H") -> int:
    return int(struct.unpack_from(fmt, data, at)[0])


def _u32(data: bytes, at: int, fmt: str = "<I") -> int:
    return int(struct.unpack_from(fmt, data, at)[0])


def executable(name: str, head: bytes) -> dict[str, Any] | None:
    """The executable format of a file named `name` whose first bytes are `head`, or None
    when it is not one. Keys: format, platform (a key of emulators.json, "" when unknown),
    target (readable), and format-specific facts (machine, subsystem, min_os, dll)."""
    if head[:2] in (b"MZ", b"ZM"):
        return _mz(head)
    lower = name.lower()
    if head[:2] == b"HU" and lower.endswith(".x") and len(head) >= 64:
        return {"format": "X68000 X", "platform": "x68000", "target": "Human68k (X68000)"}
    if head[:8] == b"Joy!peff" and len(head) >= 12:
        arch = head[8:12]
        if arch == b"pwpc":
            return {"format": "PEF", "platform": "macppc", "machine": "PowerPC",
                    "target": "classic Mac OS, PowerPC (Code Fragment Manager)"}
        if arch == b"m68k":
            return {"format": "PEF", "platform": "mac68k", "machine": "m68k",
                    "target": "classic Mac OS, 68k (CFM-68K)"}
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        fmt = "<H" if head[5] == 1 else ">H"
        machine = _u16(head, 18, fmt)
        return {"format": "ELF", "platform": "unix",
                "machine": _ELF_MACHINE.get(machine, f"0x{machine:x}"),
                "target": "Unix-like (Linux, BSD ...)"}
    if lower.endswith(".com") and head:
        # no header at all: a memory image loaded at 0x100, at most 64 KiB minus the PSP
        return {"format": "COM", "platform": "dos", "target": "MS-DOS (COM program)",
                "note": "" if len(head) <= 0xFF00 else "larger than a COM program can be"}
    return None


def _mz(head: bytes) -> dict[str, Any]:
    info: dict[str, Any] = {"format": "MZ", "platform": "dos", "target": "MS-DOS"}
    if len(head) < 0x40:
        return info
    new = _u32(head, 0x3C)
    if new < 0x40 or new + 4 > len(head):
        # plain MZ (older linkers leave 0x3C as code); a header past `head` stays unread
        if 0x40 <= new < (1 << 24) and _u16(head, 0x18) >= 0x40 and new + 4 > len(head):
            info["note"] = "new-executable header offset lies beyond the bytes read"
        return info
    sig = head[new:new + 2]
    if head[new:new + 4] == b"PE\0\0":
        return _pe(head, new) or info
    if sig == b"NE" and new + 0x40 <= len(head):
        return _ne(head, new)
    if sig in (b"LE", b"LX") and new + 0x14 <= len(head):
        return _le(head, new, sig.decode())
    return info


def _ne(head: bytes, at: int) -> dict[str, Any]:
    os_byte = head[at + 0x36]
    flags = _u16(head, at + 0x0C)
    minor, major = head[at + 0x3E], head[at + 0x3F]
    platform, target = _NE_OS.get(os_byte, ("win16" if major else "",
                                            "unknown (target OS byte 0)"))
    info: dict[str, Any] = {"format": "NE", "platform": platform, "target": target,
                            "dll": bool(flags & 0x8000), "os_byte": os_byte}
    if platform == "win16" and major:
        info["min_os"] = f"Windows {major}.{minor:02d}" if minor >= 10 else \
            f"Windows {major}.{minor}"
    return info


def _le(head: bytes, at: int, sig: str) -> dict[str, Any]:
    byte_order = head[at + 2]
    fmt16, fmt32 = (">H", ">I") if byte_order else ("<H", "<I")
    cpu, os_type = _u16(head, at + 8, fmt16), _u16(head, at + 0x0A, fmt16)
    flags = _u32(head, at + 0x10, fmt32)
    stub = head[0x40:at]
    info: dict[str, Any] = {"format": sig, "machine": {1: "80286", 2: "80386", 3: "80486"}
                            .get(cpu, f"cpu {cpu}"), "dll": (flags & 0x38000) == 0x8000}
    extender = next((e.decode() for e in _DOS_EXTENDERS if e in stub), "")
    if extender:
        info.update(platform="dos", target=f"MS-DOS with the {extender} extender")
    else:
        platform, target = _LE_OS.get(os_type, ("", f"unknown (OS type {os_type})"))
        info.update(platform=platform, target=target)
    if (flags & 0x38000) == 0x28000:
        info["driver"] = "virtual device driver"
    return info


def _pe(head: bytes, at: int) -> dict[str, Any] | None:
    coff = at + 4
    if coff + 20 > len(head):
        return None
    machine = _u16(head, coff)
    opt_size, characteristics = _u16(head, coff + 16), _u16(head, coff + 18)
    opt = coff + 20
    info: dict[str, Any] = {"format": "PE", "machine": _PE_MACHINE.get(machine,
                                                                       f"0x{machine:x}"),
                            "dll": bool(characteristics & 0x2000)}
    if opt_size < 72 or opt + 72 > len(head):
        info.update(platform="", target="Windows (optional header not read)")
        return info
    magic = _u16(head, opt)
    info["format"] = {0x10B: "PE32", 0x20B: "PE32+"}.get(magic, "PE")
    major, minor = _u16(head, opt + 48), _u16(head, opt + 50)
    subsystem = _u16(head, opt + 68)
    info["subsystem"] = _PE_SUBSYSTEM.get(subsystem, f"subsystem {subsystem}")
    info["subsystem_version"] = f"{major}.{minor:02d}"
    dirs = opt + (96 if magic == 0x10B else 112)
    if dirs + 15 * 8 <= len(head) and opt_size >= dirs - opt + 15 * 8 \
            and _u32(head, dirs + 14 * 8) != 0:
        info["dotnet"] = True  # a CLR header: .NET, needs the runtime, not a CPU
    if subsystem in (10, 11, 12, 13):
        info.update(platform="efi", target="UEFI firmware")
    elif subsystem == 5:
        info.update(platform="os2", target="OS/2 (PE)")
    elif machine == 0x14C or info.get("dotnet"):
        info.update(platform="win32", target="Windows (32-bit)",
                    min_os=_windows_version(major, minor, subsystem))
    elif machine == 0x8664:
        info.update(platform="win64", target="Windows (64-bit)",
                    min_os=_windows_version(major, minor, subsystem))
    elif subsystem == 9:
        info.update(platform="", target=f"Windows CE ({info['machine']})")
    else:
        info.update(platform="", target=f"Windows NT on {info['machine']}")
    return info


def _windows_version(major: int, minor: int, subsystem: int) -> str:
    if subsystem == 1:
        return "Windows NT (native)"
    if (major, minor) < (4, 0):
        return f"Windows NT {major}.{minor} or Win32s on Windows 3.1"
    return {(4, 0): "Windows 95 / NT 4.0", (4, 10): "Windows 98", (4, 90): "Windows Me",
            (5, 0): "Windows 2000", (5, 1): "Windows XP", (5, 2): "Windows XP x64 / 2003",
            (6, 0): "Windows Vista", (6, 1): "Windows 7", (6, 2): "Windows 8",
            (6, 3): "Windows 8.1", (10, 0): "Windows 10"}.get(
        (major, minor), f"Windows (subsystem {major}.{minor:02d})")
