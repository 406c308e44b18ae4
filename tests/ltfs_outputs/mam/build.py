#!/usr/bin/env python3
"""READ ATTRIBUTE responses (SPC-5, service action 0: attribute values) for the
cartridge-memory (MAM) tests, written as sg3_utils hex files; record.sh then decodes
each with the real `sg_read_attr --in=FILE` (sg3-utils 1.46, Debian 12), so the text
the tests parse is the tool's own output. Where each value comes from: SOURCES.md.

    python3 build.py && sh record.sh
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
BINARY, ASCII, TEXT = 0, 1, 2
RO = 0x80  # the READ ONLY bit: device and medium attributes


def attr(ident: int, fmt: int, value: bytes, read_only: bool = True) -> bytes:
    return (ident.to_bytes(2, "big") + bytes([(RO if read_only else 0) | fmt])
            + len(value).to_bytes(2, "big") + value)


def num(ident: int, value: int, size: int) -> bytes:
    return attr(ident, BINARY, value.to_bytes(size, "big"))


def text(ident: int, value: str, size: int, fmt: int = ASCII, read_only: bool = True
         ) -> bytes:
    raw = value.encode("ascii")
    pad = b" " if fmt == ASCII else b"\0"
    return attr(ident, fmt, raw + pad * (size - len(raw)), read_only)


def ltfs_host(folder: Path) -> bytes:
    """The host attributes exactly as LTFS 2.4.8.4 wrote them at mkltfs (its file
    backend keeps each as attr_<partition>_<id>, already in this wire format)."""
    return b"".join((folder / f"attr_0_{i}").read_bytes()
                    for i in ("800", "801", "802", "803", "805", "806", "808", "80b"))


def device(remaining: int, maximum: int, loads: int, density: int, inits: int) -> bytes:
    return b"".join([num(0x0000, remaining, 8), num(0x0001, maximum, 8),
                     num(0x0002, 0, 8), num(0x0003, loads, 8), num(0x0004, 0, 8),
                     text(0x0005, "LTO-CVE", 8), num(0x0006, density, 1),
                     num(0x0007, inits, 2)])


def medium(maker: str, serial: str, length: int, density: int, made: str, mam: int,
           kind: int) -> bytes:
    return b"".join([text(0x0400, maker, 8), text(0x0401, serial, 32),
                     num(0x0402, length, 4), num(0x0403, 127, 4),
                     text(0x0404, "LTO-CVE", 8), num(0x0405, density, 1),
                     text(0x0406, made, 8), num(0x0407, mam, 8), num(0x0408, kind, 1),
                     num(0x0409, 0, 2)])


def response(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def hexfile(name: str, data: bytes, note: str) -> None:
    lines = [f"# {note}"] + [" ".join(f"{b:02x}" for b in data[i:i + 16])
                             for i in range(0, len(data), 16)]
    (HERE / f"{name}.hex").write_text("\n".join(lines) + "\n")


def main() -> None:
    host = ltfs_host(HERE / "ltfs_A00009")
    # LTO-9, HPE, values of a real cartridge read by lto-info (SOURCES.md 2); host part
    # as LTFS 2.4.8.4 formatted A00009 / A00009L9 (SOURCES.md 1)
    hexfile("lto9_ltfs", response(
        device(17_166_336, 17_166_336, 4, 0x60, 1)
        + medium("HPE", "1624A18156", 1035, 0x60, "20241018", 32736, 0x00) + host),
        "LTO-9 data cartridge formatted by LTFS 2.4.8.4: all attributes, partition 0")
    # the same cartridge before mkltfs: no host attributes (no barcode in its memory)
    hexfile("lto9_blank", response(
        device(17_166_336, 17_166_336, 3, 0x60, 0)
        + medium("HPE", "1624A18156", 1035, 0x60, "20241018", 32736, 0x00)),
        "the LTO-9 cartridge above before mkltfs: device and medium attributes only")
    # a cartridge never formatted: no host attributes at all (the barcode unknown)
    hexfile("lto8_blank", response(
        device(11_444_224, 11_444_224, 1, 0x5E, 0)
        + medium("FUJIFILM", "2CX123A456", 960, 0x5E, "20240612", 16384, 0x00)),
        "LTO-8 data cartridge out of its box: device and medium attributes only")
    # a barcode written by a library or ITDT / sg_write_attr 0x806 (SOURCES.md 3)
    hexfile("lto6_barcode", response(
        device(2_408_448, 2_408_448, 31, 0x5A, 2)
        + medium("FUJIFILM", "J1K0V4Y4AN", 846, 0x5A, "20150316", 16384, 0x00)
        + text(0x0806, "FJK663L6", 32, read_only=False)),
        "LTO-6 cartridge whose barcode attribute was written with sg_write_attr")
    # the station tests' drive (tests/test_ltfs.py): barcodes written by library
    # software, values of the earlier reconstructions (SOURCES.md 4)
    hexfile("lto8_A00001L8", response(
        device(11_444_224, 11_444_224, 12, 0x5E, 1)
        + medium("FUJIFILM", "2CX123A456", 960, 0x5E, "20240612", 16384, 0x00)
        + text(0x0806, "A00001L8", 32, read_only=False)),
        "LTO-8 cartridge, barcode attribute A00001L8 (the station tests' cartridge)")
    hexfile("lto7_B00007L7", response(
        device(5_722_112, 5_722_112, 40, 0x5C, 1)
        + medium("SONY", "1AB987654", 960, 0x5C, "20190304", 16384, 0x00)
        + text(0x0806, "B00007L7", 32, read_only=False)),
        "LTO-7 cartridge, barcode attribute B00007L7")
    hexfile("cleaning", response(
        medium("HP", "CLN0042", 319, 0x00, "20190501", 4096, 0x01)),
        "a universal cleaning cartridge: medium type 0x01")


if __name__ == "__main__":
    main()
