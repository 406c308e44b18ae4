#!/usr/bin/env python3
"""ISO 9660 images that readers get wrong, made with genisoimage and xorriso (damaged ones
by patching bytes of a built image), for tests/test_iso_cases.py.

    python scripts/build_iso_cases.py OUT_DIR [CASE ...]

- dup_joliet: ';' '!' '_' readme.txt with -J -R: genisoimage gives ';' the Joliet name
  '_', so the Joliet tree holds '_' twice, not adjacent (pycdlib refused the volume).
- zisofs: xorriso --zisofs: text, random, all-zero and mixed files, one tiny.
- bad_rr: -J -R with one file's and one directory's NM entry given a length past its
  System Use area.
- ce_loop: -J -R with one long-named file whose continuation area (CE) ends with a CE
  back to itself; the name is whole before the loop.
- multi_extent: -J -R with bigA, bigB, bigC renamed bigX in place and the first two
  records flagged multi-extent: one file of three sections (ECMA-119 6.5.1). A real one
  needs a file over 4 GiB; xorriso and mkisofs -iso-level 3 split only there.
- deep: a tree 11 levels deep (Rock Ridge relocates past 8: rr_moved with CL/PL/RE) with
  relative and absolute symbolic links; deep_xa the same with CD-XA records (-XA).
- eucjp / cp932: -R only, files named in EUC-JP / cp932 bytes (Rock Ridge keeps bytes).
- many: N files (default 100,000) in directories of 1,000, for timing the reader.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SECTOR = 2048
DUP_NAMES = (";", "!", "_", "readme.txt")
DEEP = "a/b/c/d/e/f/g/h/i/j/k"
LONG = "long-" + "n" * 200 + ".txt"
EUCJP_NAMES = ("日本語.txt", "報告書.doc", "ｶﾅ.txt")


def _tree(root: Path, files: dict[str | bytes, bytes]) -> Path:
    """A folder of files; a bytes name is created with exactly those bytes."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = os.path.join(os.fsencode(root), os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return root


def _genisoimage(src: Path, out: Path, *args: str) -> Path:
    subprocess.run(["genisoimage", "-quiet", *args, "-o", str(out), str(src)], check=True,
                   env={**os.environ, "TZ": "UTC"})
    return out


def _patch(image: Path, pos: int, data: bytes) -> None:
    with image.open("r+b") as f:
        f.seek(pos)
        f.write(data)


def _find_once(data: bytes, needle: bytes) -> int:
    pos = data.find(needle)
    if pos < 0 or data.find(needle, pos + 1) >= 0:
        raise RuntimeError(f"{needle!r} not found exactly once")
    return pos


def dup_joliet(out: Path) -> Path:
    src = _tree(out / "dup_joliet", {n: b"readme\n" if n == "readme.txt" else b""
                                     for n in DUP_NAMES})
    return _genisoimage(src, out / "dup_joliet.iso", "-J", "-R")


def zisofs_files() -> dict[str, bytes]:
    rand = bytes((i * 7919 + (i >> 8) * 104729) % 251 for i in range(100_000))
    return {"text.txt": b"hello zisofs\n" * 20_000, "rand.bin": rand,
            "zeros.bin": bytes(300_000),
            "mixed.bin": b"head" + bytes(70_000) + b"tail" * 9000,
            "sub/small.txt": b"x"}


def zisofs(out: Path) -> Path:
    src = _tree(out / "zisofs", zisofs_files())
    image = out / "zisofs.iso"
    image.unlink(missing_ok=True)
    subprocess.run(["xorriso", "-report_about", "SORRY", "-outdev", str(image),
                    "-map", str(src), "/", "-zisofs", "default",
                    "-set_filter_r", "--zisofs", "/", "--", "-commit"],
                   check=True, capture_output=True)
    return image


def bad_rr(out: Path) -> Path:
    src = _tree(out / "bad_rr", {"good1.txt": b"one\n", "victim.txt": b"victim data\n",
                                 "good2.txt": b"two\n", "Victim Dir/inside.txt": b"in\n"})
    image = _genisoimage(src, out / "bad_rr.iso", "-J", "-R")
    for name in (b"victim.txt", b"Victim Dir"):
        nm = _find_once(image.read_bytes(), b"NM" + bytes([5 + len(name), 1, 0]) + name)
        _patch(image, nm + 2, b"\xf0")  # the NM entry now runs past the record
    return image


def ce_loop(out: Path) -> Path:
    src = _tree(out / "ce_loop", {LONG: b"long name\n", "short.txt": b"short\n"})
    image = _genisoimage(src, out / "ce_loop.iso", "-J", "-R")
    data = image.read_bytes()
    # the name starts in the record (NM with CONTINUE), its CE leads to the rest
    nm = _find_once(data, LONG[:40].encode())
    ce = data.find(b"CE\x1c\x01", nm, nm + 255)
    block, offset, length = (int.from_bytes(data[ce + at:ce + at + 4], "little")
                             for at in (4, 12, 20))
    area = data[block * SECTOR + offset:block * SECTOR + offset + length]
    # the area copied to sector 1 (the system area, zeros) with a CE back to itself
    loop = (b"CE\x1c\x01" + (1).to_bytes(4, "little") + (1).to_bytes(4, "big")
            + bytes(8) + (length + 28).to_bytes(4, "little")
            + (length + 28).to_bytes(4, "big"))
    _patch(image, SECTOR, area + loop)
    _patch(image, ce + 4, (1).to_bytes(4, "little") + (1).to_bytes(4, "big") + bytes(8)
           + (length + 28).to_bytes(4, "little") + (length + 28).to_bytes(4, "big"))
    return image


MULTI_PARTS = {"bigA": bytes(range(256)) * 24, "bigB": b"B" * (2 * SECTOR),
               "bigC": b"the last section\n" * 50}


def multi_extent(out: Path) -> Path:
    src = _tree(out / "multi_extent", {**MULTI_PARTS, "after.txt": b"after\n"})
    image = _genisoimage(src, out / "multi_extent.iso", "-J", "-R")
    data = image.read_bytes()
    for old in ("bigA", "bigB", "bigC"):
        new = old[:3] + "X"
        for names in ((old.upper() + ".;1").encode(), (new.upper() + ".;1").encode()), \
                (old.encode("utf-16-be"), new.encode("utf-16-be")), \
                (b"NM\x09\x01\x00" + old.encode(), b"NM\x09\x01\x00" + new.encode()):
            pos = _find_once(data, names[0])
            _patch(image, pos, names[1])
            if old != "bigC" and not names[0].startswith(b"NM"):
                flags = pos - 33 + 25  # the record's flags (its identifier is at 33)
                _patch(image, flags, bytes([data[flags] | 0x80]))
    return image


def deep(out: Path, *options: str) -> Path:
    """options: more genisoimage options (-XA: CD-XA records before Rock Ridge's)."""
    name = "deep" + "".join(o.strip("-").lower() for o in options)
    src = _tree(out / name, {f"{DEEP}/deep.txt": b"deep\n", "top.txt": b"top\n",
                               "a/b/c/mid.txt": b"mid\n"})
    os.symlink("a/b/c", src / "link")
    os.symlink("/etc/passwd", src / "abs")
    os.symlink("../../x", src / "a" / "rel")
    return _genisoimage(src, out / f"{name}.iso", "-J", "-R", *options)


def legacy(out: Path, codec: str) -> Path:
    files: dict[str | bytes, bytes] = {n.encode(codec): n.encode() for n in EUCJP_NAMES}
    files[b"dir/" + "資料".encode(codec) + b"/plain.txt"] = b"plain\n"
    src = _tree(out / codec, files)
    return _genisoimage(src, out / f"{codec}.iso", "-R")


def many(out: Path, count: int = 100_000) -> Path:
    src = out / "many"
    for i in range(count):
        folder = src / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{i:06d}.txt").write_bytes(b"%d\n" % i)
    return _genisoimage(src, out / "many.iso", "-J", "-R")


CASES = {"dup_joliet": dup_joliet, "zisofs": zisofs, "bad_rr": bad_rr, "ce_loop": ce_loop,
         "multi_extent": multi_extent, "deep": deep,
         "deep_xa": lambda out: deep(out, "-XA"),
         "eucjp": lambda out: legacy(out, "euc_jp"), "cp932": lambda out: legacy(out, "cp932"),
         "many": many}


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name in argv[1:] or [c for c in CASES if c != "many"]:
        print(CASES[name](out))


if __name__ == "__main__":
    main(sys.argv[1:])
