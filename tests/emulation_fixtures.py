"""Carriers made for the emulation-readiness tests: executables with hand-made headers,
a bootable DOS floppy, a PC-98 hard disk and floppy, an X68000 floppy, classic-Mac HFS
volumes and El Torito CDs (Debian tools: mkfs.fat, mtools, hfsutils, genisoimage)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from tests.fsfixtures import tool


def mz(lfanew: int = 0, reloc: int = 0x1C, size: int = 0x200, stub: bytes = b"") -> bytearray:
    h = bytearray(size)
    h[0:2] = b"MZ"
    struct.pack_into("<13H", h, 2, size % 512, (size + 511) // 512, 0, 4, 0, 0xFFFF, 0, 0xB8,
                     0, 0, 0, reloc, 0)
    struct.pack_into("<I", h, 0x3C, lfanew)
    code = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21" + stub
    h[0x40:0x40 + len(code)] = code
    return h


def ne(os_byte: int, version: int = 0x030A, flags: int = 0x0302) -> bytes:
    h = mz(0x80, 0x40, 0x400)
    h[0x80:0x82], h[0x82], h[0x83] = b"NE", 5, 10
    struct.pack_into("<H", h, 0x80 + 0x0C, flags)
    h[0x80 + 0x36] = os_byte
    struct.pack_into("<H", h, 0x80 + 0x3E, version)
    return bytes(h)


def pe(machine: int = 0x14C, magic: int = 0x10B, subsystem: int = 2,
       version: tuple[int, int] = (4, 0), dll: bool = False) -> bytes:
    h = mz(0x80, 0x40, 0x400)
    h[0x80:0x84] = b"PE\0\0"
    optsize = 0xE0 if magic == 0x10B else 0xF0
    chars = 0x0102 | (0x2000 if dll else 0) | (0 if magic == 0x10B else 0x20)
    struct.pack_into("<HHIIIHH", h, 0x84, machine, 0, 0, 0, 0, optsize, chars)
    o = 0x98
    struct.pack_into("<H", h, o, magic)
    struct.pack_into("<II", h, o + 32, 0x1000, 0x200)  # section and file alignment
    struct.pack_into("<HH", h, o + 48, *version)
    struct.pack_into("<II", h, o + 56, 0x1000, 0x400)  # image and header sizes
    struct.pack_into("<H", h, o + 68, subsystem)
    struct.pack_into("<I", h, o + (92 if magic == 0x10B else 108), 16)
    return bytes(h)


def le(os_type: int, stub: bytes = b"", flags: int = 0) -> bytes:
    h = mz(0x80, 0x40, 0x400, stub)
    h[0x80:0x82] = b"LE"
    struct.pack_into("<BBIHHI", h, 0x82, 0, 0, 0, 2, os_type, 0)
    struct.pack_into("<I", h, 0x80 + 0x10, flags)
    return bytes(h)


COM = b"\xb4\x09\xba\x09\x01\xcd\x21\xcd\x20Hello$"
X68K_X = b"HU" + bytes(62) + b"\x4e\x75" * 8  # an .X header and an RTS or two
PEF_PPC = b"Joy!peffpwpc" + bytes(52)

# name -> (bytes, expected platform, a phrase file(1) prints for it)
EXECUTABLES = {
    "PLAIN.EXE": (bytes(mz()), "dos", "MZ for MS-DOS"),
    "WIN.EXE": (ne(2), "win16", "NE for MS Windows 3.x"),
    "WINLIB.DLL": (ne(2, 0x0300, 0x8001), "win16", "NE for MS Windows 3.x"),
    "OS2.EXE": (ne(1, 0), "os2", "NE for OS/2"),
    "GUI32.EXE": (pe(), "win32", "PE32 executable (GUI) Intel 80386"),
    "LIB32.DLL": (pe(dll=True, version=(3, 10)), "win32", "PE32 executable (DLL) (GUI) Intel"),
    "CON64.EXE": (pe(0x8664, 0x20B, 3, (5, 2)), "win64", "PE32+ executable (console) x86-64"),
    "BOOTX64.EFI": (pe(0x8664, 0x20B, 10, (0, 0)), "efi", "(EFI application) x86-64"),
    "DRIVER.386": (le(4, flags=0x28000), "win32", "LE executable for MS Windows (VxD)"),
    "GAME.EXE": (le(1, b"DOS/4G  "), "dos", "LE executable"),
    "HELLO.COM": (COM, "dos", "COM executable for DOS"),
}

# A DOS-style boot sector's code: the messages and the names of the files it loads
DOS_BOOT_CODE = (b"\xfa\x33\xc0\x8e\xd0\xbc\x00\x7c\x16\x07\xbb\x78\x00"
                 b"\r\nNon-System disk or disk error\r\nReplace and press any key when ready"
                 b"\r\n\0IO      SYSMSDOS   SYS\0")


def _mtools(img: Path, files: dict[str, bytes], tmp: Path) -> None:
    mcopy, mmd = tool("mcopy"), tool("mmd")
    src = tmp / f"{img.name}-src"
    src.mkdir(exist_ok=True)
    for path, data in files.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            subprocess.run([mmd, "-D", "s", "-i", str(img), "::/" + "/".join(parts[:i])],
                           capture_output=True)  # exists already: fine
        local = src / path.replace("/", "_")
        local.write_bytes(data)
        subprocess.run([mcopy, "-i", str(img), str(local), "::/" + path], check=True,
                       capture_output=True)


def dos_floppy(tmp: Path, bootable: bool = True, files: dict[str, bytes] | None = None,
               name: str = "dos.img") -> Path:
    """A 1.44M floppy from mkfs.fat; bootable: MS-DOS boot code and its system files."""
    img = tmp / name
    subprocess.run([tool("mkfs.fat"), "-C", "-n", "DOSDISK", str(img), "1440"], check=True,
                   capture_output=True)
    if bootable:
        with open(img, "r+b") as fh:
            fh.seek(3)
            fh.write(b"MSDOS5.0")
            fh.seek(62)
            fh.write(DOS_BOOT_CODE.ljust(448, b"\0"))
    content = dict(files or {})
    if bootable:
        content.update({"IO.SYS": b"\xe9" + bytes(511), "MSDOS.SYS": b"[Paths]\r\n",
                        "COMMAND.COM": COM})
    _mtools(img, content, tmp)
    return img


def pc98_floppy(tmp: Path, files: dict[str, bytes]) -> Path:
    """A PC-98 2HD floppy: 77 cylinders, 2 heads, 8 sectors of 1024 bytes, MS-DOS."""
    img = tmp / "pc98.hdm"
    subprocess.run([tool("mkfs.fat"), "-C", "-S", "1024", "-s", "1", "-f", "2", "-r", "192",
                    "-g", "2/8", "-M", "0xFE", "-F", "12", "-n", "PC98DISK", str(img), "1232"],
                   check=True, capture_output=True)
    with open(img, "r+b") as fh:
        fh.seek(3)
        fh.write(b"NEC 2.00")
        fh.seek(62)
        fh.write(DOS_BOOT_CODE)
    _mtools(img, {"IO.SYS": b"\xe9" + bytes(1023), "MSDOS.SYS": bytes(1024), **files}, tmp)
    return img


def pc98_hdd(tmp: Path) -> Path:
    """A PC-98 fixed disk's first sectors: an IPL with IPL1 at byte 4, and the partition
    table in sector 1 (one bootable, active MS-DOS partition)."""
    img = tmp / "pc98.hdd"
    data = bytearray(512 * 64)
    data[0:3] = b"\xeb\x0a\x90"
    data[4:8] = b"IPL1"
    data[510:512] = b"\x55\xaa"
    entry = struct.pack("<BBHBBHBBHBBH16s", 0xA0, 0xA1, 0, 0, 0, 1, 0, 0, 1, 16, 7, 100,
                        "MS-DOS 6.20".encode("cp932").ljust(16, b" "))
    data[512:512 + 32] = entry
    img.write_bytes(bytes(data))
    return img


def x68000_floppy(tmp: Path) -> Path:
    """A Human68k 2HD floppy's boot sector: 68000 BRA, OEM, big-endian BPB."""
    img = tmp / "x68k.xdf"
    data = bytearray(1_261_568)
    data[0:2] = b"\x60\x1c"
    data[2:18] = b"Hudson soft 2.00"
    struct.pack_into(">HBBHHHBB", data, 0x12, 1024, 1, 2, 1, 192, 1232, 0xFE, 2)
    img.write_bytes(bytes(data))
    return img


def _pascal(text: str, size: int = 16) -> bytes:
    return (bytes([len(text)]) + text.encode("mac_roman")).ljust(size, b"\0")


def mac_hfs(tmp: Path, bootable: bool = True) -> Path:
    """A 1.44M HFS floppy (hfsutils) with a System Folder holding System and Finder; when
    bootable, the folder is blessed (hattrib -b) and boot blocks ("LK") are written."""
    img = tmp / ("mac-boot.dsk" if bootable else "mac-data.dsk")
    img.write_bytes(bytes(1_474_560))
    hformat, hmkdir, hcopy = tool("hformat"), tool("hmkdir"), tool("hcopy")
    hattrib, humount = tool("hattrib"), tool("humount")
    env = {"HOME": str(tmp)}  # hfsutils keeps its current volume in ~/.hcwd

    def run(*args: str) -> None:
        subprocess.run(list(args), check=True, capture_output=True, env=env)

    run(hformat, "-l", "Mac Disk", str(img))
    run(hmkdir, ":System Folder")
    for name, kind in (("System", "zsys"), ("Finder", "FNDR")):
        local = tmp / name
        local.write_bytes(b"resource-less stand-in for the " + name.encode())
        run(hcopy, "-r", str(local), f":System Folder:{name}")
        run(hattrib, "-t", kind, "-c", "MACS", f":System Folder:{name}")
    app = tmp / "SimpleText"
    app.write_bytes(b"data fork")
    run(hcopy, "-r", str(app), ":SimpleText")
    run(hattrib, "-t", "APPL", "-c", "ttxt", ":SimpleText")
    if bootable:
        run(hattrib, "-b", ":System Folder")
    run(humount)
    if bootable:
        blocks = (b"LK" + b"\x60\x00\x00\x86" + b"\x00\x17" + b"\x00\x00" + _pascal("System")
                  + _pascal("Finder"))
        with open(img, "r+b") as fh:
            fh.write(blocks)
    return img


def el_torito_cd(tmp: Path, boot_floppy: Path | None, files: dict[str, bytes],
                 no_emul: bytes | None = None) -> Path:
    """An ISO 9660 CD (genisoimage): floppy emulation from boot_floppy, or a no-emulation
    loader, plus files (autorun.inf, SETUP.EXE ...)."""
    root = tmp / "cdroot"
    root.mkdir(exist_ok=True)
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    args = [tool("genisoimage"), "-quiet", "-J", "-R", "-V", "SETUP_CD", "-o",
            str(tmp / "cd.iso")]
    if boot_floppy is not None:
        (root / "BOOT.IMG").write_bytes(boot_floppy.read_bytes())
        args += ["-b", "BOOT.IMG", "-c", "BOOT.CAT"]
    elif no_emul is not None:
        (root / "LOADER.BIN").write_bytes(no_emul)
        args += ["-b", "LOADER.BIN", "-c", "BOOT.CAT", "-no-emul-boot", "-boot-load-size", "4"]
    subprocess.run([*args, str(root)], check=True, capture_output=True)
    return tmp / "cd.iso"


def appledouble(kind: bytes, creator: bytes, resource_types: tuple[bytes, ...] = ()) -> bytes:
    """An AppleDouble v2 file (RFC 1740): Finder info, then a resource fork whose map
    lists one resource of each type."""
    count = len(resource_types)
    type_list = struct.pack(">H", max(count - 1, 0)) + b"".join(
        t + struct.pack(">HH", 0, 2 + 8 * count + 12 * i) for i, t in enumerate(resource_types))
    refs = b"".join(struct.pack(">hHBBHI", 128, 0xFFFF, 0, 0, 0, 0) for _ in resource_types)
    rmap = bytes(16) + bytes(4) + bytes(2) + struct.pack(">HHH", 0, 28, 28 + len(type_list)
                                                         + len(refs)) + type_list + refs
    fork = struct.pack(">IIII", 256, 256, 0, len(rmap)).ljust(256, b"\0") + rmap \
        if resource_types else b""
    entries = 2 if fork else 1
    fi_at = 26 + 12 * entries
    head = b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(16) + struct.pack(">H", entries)
    head += struct.pack(">III", 9, fi_at, 32)
    if fork:
        head += struct.pack(">III", 2, fi_at + 32, len(fork))
    return head + (kind + creator).ljust(32, b"\0") + fork
