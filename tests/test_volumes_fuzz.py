"""Mutated partition tables and boot sectors (PC-98, X68000, MBR on 2048-byte sectors,
hybrid discs, El Torito) never make find_volumes, the label probes or the FAT reader
raise: damage becomes errors. Seeded, so a failure reproduces."""

from __future__ import annotations

import random
import traceback
from pathlib import Path

from tests import volume_images as vi
from tests.fsfixtures import mbr, tool
from workbench.identify.fat import FatReader, ReaderError
from workbench.identify.model import Image
from workbench.identify.volumes import find_volumes

CASES = 40


def _mutate(data: bytes, regions: list[tuple[int, int]], rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        start, size = rng.choice(regions)
        pos = start + rng.randrange(size)
        value = rng.choice([0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)])
        if rng.random() < 0.5:
            out[pos] = value & 0xFF
        else:
            out[pos:pos + 4] = value.to_bytes(4, "little")
    return bytes(out[:len(data)])


def _images(tmp: Path) -> dict[str, tuple[bytes, list[tuple[int, int]]]]:
    pc98, start, _ = vi.pc98_disk(tmp, 8, 17)
    mo = vi.blank(tmp / "mo.img", 24 << 20)
    vi.write_at(mo, 0, mbr([(0x06, 16, (24 << 20) // 2048 - 16)]))
    vi.place(mo, 16 * 2048, vi.fat(tmp / "mo-part.img", (24 << 20) - 16 * 2048, "-F", "12",
                                   "-S", "2048"))
    src = tmp / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    floppy = vi.fat(tmp / "boot.img", 1474560, "-F", "12")
    (src / "boot.img").write_bytes(floppy.read_bytes())
    iso = tmp / "hybrid.iso"
    vi.sh(tool("genisoimage"), "-quiet", "-hfs", "-udf", "-b", "boot.img", "-c", "boot.cat",
          "-o", iso, src)
    x68 = vi.blank(tmp / "x68.hds", 4 << 20)
    vi.write_at(x68, 0x800, b"X68K" + bytes(12) + b"Human68k" + (32).to_bytes(4, "big")
                + (2048).to_bytes(4, "big"))
    vi.place(x68, 32 * 1024, vi.fat(tmp / "x68-part.img", 2 << 20, "-F", "12", "-S", "1024"))
    return {
        "pc98": (pc98.read_bytes(), [(0, 512), (512, 512), (start, 512)]),
        "mo": (mo.read_bytes(), [(0, 512), (16 * 2048, 512)]),
        "hybrid": (iso.read_bytes(), [(0, 2048), (16 * 2048, 6 * 2048), (1024, 512)]),
        "x68k": (x68.read_bytes(), [(0x800, 64), (32 * 1024, 512)]),
    }


def test_mutated_tables_never_raise(tmp_path):
    failures = []
    for name, (data, regions) in _images(tmp_path).items():
        for seed in range(CASES):
            rng = random.Random(f"{name}-{seed}")
            path = tmp_path / f"case-{name}.img"
            path.write_bytes(_mutate(data, regions, rng))
            try:
                with Image(path) as im:
                    vols, _ = find_volumes(im)
                    for v in vols:
                        if v.fs_type.startswith("fat"):
                            try:
                                for _entry in FatReader(im, v, "cp932").walk():
                                    pass
                            except ReaderError:
                                pass
            except Exception:
                failures.append(f"{name} seed {seed}: {traceback.format_exc(limit=4)}")
    assert failures == [], "\n".join(failures[:3])
