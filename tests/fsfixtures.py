"""File-system images made in the tests (Debian tools where needed; .ci/run installs them)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import build_media as samples
from fatimage import Entry, FatImage, Geometry, mbr, short_name

FILES = {"report.pdf": samples.pdf("fixture"), "logo.png": samples.png(),
         "photo.jpg": samples.JPEG, "anim.gif": samples.GIF, "page.html": samples.HTML,
         "data.xml": samples.XML, "sound.wav": samples.wav(),
         "notes.txt": samples.long_text(30, "notes"),
         "bundle.zip": samples.zipped({"a.txt": b"a"})}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (.ci/run installs it with apt)")
    return path


def write_files(folder: Path, files: dict[str, bytes] = FILES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def fat32_usb(tmp: Path) -> Path:
    """A 40 MiB stick: MBR, one FAT32 partition from 1 MiB, files via mtools."""
    mkfs, mcopy, mmd = tool("mkfs.vfat"), tool("mcopy"), tool("mmd")
    img = tmp / "fat32.img"
    total = 40 * 2048
    with open(img, "wb") as fh:
        fh.truncate(total * 512)
        fh.write(mbr([(0x0C, 2048, total - 2048)]))
    subprocess.run([mkfs, "-F", "32", "-s", "1", "--offset", "2048", "-n", "STICK",
                    str(img), str((total - 2048) // 2)], check=True, capture_output=True)
    src = write_files(tmp / "fat32-src")
    target = f"{img}@@1048576"
    subprocess.run([mmd, "-i", target, "::/DOCS"], check=True, capture_output=True)
    for name in FILES:
        dest = "::/DOCS/" if name.endswith((".txt", ".pdf")) else "::/"
        subprocess.run([mcopy, "-i", target, str(src / name), dest], check=True,
                       capture_output=True)
    return img


def ntfs(tmp: Path) -> Path:
    mkntfs, ntfscp = tool("mkntfs"), tool("ntfscp")
    img = tmp / "ntfs.img"
    with open(img, "wb") as fh:
        fh.truncate(16 << 20)
    subprocess.run([mkntfs, "-q", "-F", "-f", "-L", "NTFSVOL", str(img)], check=True,
                   capture_output=True)
    src = write_files(tmp / "ntfs-src", {**FILES, "tiny.txt": b"resident data\n"})
    for name in [*FILES, "tiny.txt"]:
        subprocess.run([ntfscp, "-q", str(img), str(src / name), name], check=True,
                       capture_output=True)
    return img


def exfat(tmp: Path) -> Path:
    mkfs = tool("mkfs.exfat")
    img = tmp / "exfat.img"
    with open(img, "wb") as fh:
        fh.truncate(8 << 20)
    subprocess.run([mkfs, "-L", "EXVOL", str(img)], check=True, capture_output=True)
    return img


def ext4(tmp: Path) -> Path:
    mke2fs = tool("mke2fs")
    img = tmp / "ext4.img"
    src = write_files(tmp / "ext-src" / "sub")
    with open(img, "wb") as fh:
        fh.truncate(16 << 20)
    subprocess.run([mke2fs, "-q", "-t", "ext4", "-d", str(src.parent), str(img)], check=True,
                   capture_output=True)
    return img


def iso(tmp: Path, joliet: bool = True, rock_ridge: bool = True, udf: bool = False) -> Path:
    import pycdlib
    disc = pycdlib.PyCdlib()
    disc.new(interchange_level=3 if udf else 1, joliet=3 if joliet else None,
             rock_ridge="1.09" if rock_ridge else None, udf="2.60" if udf else None,
             vol_ident="FIXTURE")
    for n, (name, data) in enumerate(FILES.items()):
        kw = {"rr_name": name} if rock_ridge else {}
        if joliet:
            kw["joliet_path"] = "/" + name
        if udf:
            kw["udf_path"] = "/" + name
        disc.add_fp(io.BytesIO(data), len(data), f"/F{n}.DAT;1", **kw)
    jp = {"joliet_path": "/日本語.txt"} if joliet else {}
    # Rock Ridge names win over Joliet ones (as in bsdtar and Linux): the same name in both
    rr = {"rr_name": "日本語.txt" if joliet else "jp.txt"} if rock_ridge else {}
    disc.add_fp(io.BytesIO(b"jp"), 2, "/JP.TXT;1", **rr, **jp)
    out = tmp / ("udf-bridge.iso" if udf else "fixture.iso")
    disc.write(str(out))
    disc.close()
    return out


def hfs(tmp: Path) -> Path:
    import machfs
    vol = machfs.Volume()
    vol.name = "MacDisk"
    for name in ("report.pdf", "logo.png", "notes.txt"):
        f = machfs.File()
        f.data = FILES[name]
        vol[name] = f
    folder = machfs.Folder()
    jp = machfs.File()
    jp.data = b"Mac Japanese"
    # a MacJapanese name, as machfs stores names: raw bytes seen through MacRoman
    folder["報告書".encode("shift_jis").decode("mac_roman")] = jp
    vol["Folder"] = folder
    out = tmp / "hfs.img"
    with mock.patch("time.time", return_value=time.time()):
        out.write_bytes(vol.write(1440 * 1024))
    return out


def fat12(entries: list[Entry], label: bytes = b"FIXTURE    ") -> bytes:
    return FatImage(Geometry(total_sectors=2880, label=label)).build(entries)


__all__ = ["FILES", "Entry", "exfat", "ext4", "fat12", "fat32_usb", "hfs", "iso", "ntfs",
           "short_name", "tool"]


def udf_only(tmp: Path) -> Path:
    """pycdlib's UDF bridge disc with its ISO 9660 descriptors blanked: UDF alone."""
    data = bytearray(iso(tmp, joliet=True, rock_ridge=False, udf=True).read_bytes())
    for sector in (16, 17, 18):
        data[sector * 2048:(sector + 1) * 2048] = bytes(2048)
    out = tmp / "udf-only.img"
    out.write_bytes(bytes(data))
    return out


def mkudffs(tmp: Path, block: int) -> Path:
    mk = tool("mkudffs")
    img = tmp / f"udf{block}.img"
    with open(img, "wb") as fh:
        fh.truncate(8 << 20)
    subprocess.run([mk, "-b", str(block), "--label=UDFVOL", str(img)], check=True,
                   capture_output=True)
    return img


def gpt_disk(tmp: Path) -> Path:
    """A GPT disk (sfdisk) with a FAT16 partition made by mkfs.vfat and filled by mtools."""
    sfdisk, mkfs, mcopy = tool("sfdisk"), tool("mkfs.vfat"), tool("mcopy")
    img = tmp / "gpt.img"
    with open(img, "wb") as fh:
        fh.truncate(24 << 20)
    subprocess.run([sfdisk, "-q", str(img)], input="label: gpt\nstart=2048, size=40960, "
                   "type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=\"DATA\"\n", text=True,
                   check=True, capture_output=True)
    subprocess.run([mkfs, "-F", "16", "--offset", "2048", "-n", "GPTVOL", str(img), "20480"],
                   check=True, capture_output=True)
    src = write_files(tmp / "gpt-src", {"logo.png": FILES["logo.png"]})
    subprocess.run([mcopy, "-i", f"{img}@@1048576", str(src / "logo.png"), "::/"], check=True,
                   capture_output=True)
    return img


def apm_disk(tmp: Path) -> Path:
    """An Apple Partition Map disk holding one classic HFS volume (as on Mac MO disks)."""
    import struct
    volume = hfs(tmp).read_bytes()
    start = 64  # blocks of 512
    disk = bytearray(start * 512 + len(volume))
    disk[0:4] = b"ER" + struct.pack(">H", 512)
    entries = [(1, 63, b"Apple", b"Apple_partition_map"),
               (start, len(volume) // 512, b"MacDisk", b"Apple_HFS")]
    for n, (first, count, name, kind) in enumerate(entries):
        entry = bytearray(512)
        entry[0:2] = b"PM"
        struct.pack_into(">III", entry, 4, len(entries), first, count)
        entry[16:16 + len(name)] = name
        entry[48:48 + len(kind)] = kind
        disk[(n + 1) * 512:(n + 2) * 512] = entry
    disk[start * 512:] = volume
    out = tmp / "apm.img"
    out.write_bytes(bytes(disk))
    return out
