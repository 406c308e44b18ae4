"""Raw CD sectors: the encoder against real sectors and independent tools.

Known vector: libcdio's test/data/isofs-m1.bin (libcdio commit 818e499c, a MODE1/2352
image of 302 real sectors): 288 of its sectors hold 2,048 zero bytes at LBAs 0-301; the
SHA-256 of those raw sectors, their EDC and parity as libcdio ships them, is recorded
here (the bytes themselves are not copied). Our encoder must give the same sectors.
vcdimager's vcdxbuild (its own sector encoder) writes Mode 2 Form 1 and Form 2 sectors
with real data; every one must re-encode byte for byte. cd-info and bchunk read a BIN
made by encode_mode1.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.conftest import MEDIA
from workbench.optical.sector import (
    FORM2_USER,
    RAW,
    SYNC,
    USER,
    ecc_ok,
    edc,
    edc_ok,
    encode_mode1,
    encode_mode2_form1,
    encode_mode2_form2,
    header,
    sector_form,
    sector_lba,
    user_data,
)

# isofs-m1.bin sectors whose user data is all zero (the others hold the ISO's
# descriptors, directories and files)
LIBCDIO_ZERO_LBAS = [lba for lba in range(302)
                     if lba not in (16, 17, 18, 19, 21, *range(23, 36))]
LIBCDIO_ZERO_SHA256 = "ef3b2891b010966f62a5396f86946b78752372ec8f0eaae8cc544dc57569b556"
# LBA 0 of isofs-m1.bin: EDC bytes 2064-2067, first P and Q parity bytes
LIBCDIO_LBA0_EDC = "c513682b"
LIBCDIO_LBA0_P = "00f700f500000000"
LIBCDIO_LBA0_Q = "0041000000000000"

DATA_SUB = bytes((0, 0, 0x08, 0))
FORM2_SUB = bytes((1, 1, 0x64, 0x0F))  # video, real-time, Form 2


def _data(seed: int, size: int = USER) -> bytes:
    return random.Random(seed).randbytes(size)


def test_mode1_matches_libcdio_sectors():
    raw = b"".join(encode_mode1(lba, bytes(USER)) for lba in LIBCDIO_ZERO_LBAS)
    assert hashlib.sha256(raw).hexdigest() == LIBCDIO_ZERO_SHA256
    first = encode_mode1(0, bytes(USER))
    assert first[:16] == SYNC + bytes.fromhex("00020001")
    assert first[2064:2068].hex() == LIBCDIO_LBA0_EDC
    assert first[2068:2076] == bytes(8)
    assert first[2076:2084].hex() == LIBCDIO_LBA0_P
    assert first[2248:2256].hex() == LIBCDIO_LBA0_Q


def _ecm_ecc(sector: bytearray, zero_address: bool) -> bytes:
    """P and Q parity by the loop Neill Corlett's ECM tools use (ECMA-130 Annex A),
    with lookup tables: a second implementation to hold the fast one to."""
    f_lut, b_lut = [0] * 256, [0] * 256
    for i in range(256):
        j = ((i << 1) ^ (0x11D if i & 0x80 else 0)) & 0xFF
        f_lut[i] = j
        b_lut[i ^ j] = i
    saved = bytes(sector[12:16])
    if zero_address:
        sector[12:16] = bytes(4)

    def block(majors: int, minors: int, major_mult: int, minor_inc: int, dest: int) -> None:
        size = majors * minors
        for major in range(majors):
            index = (major >> 1) * major_mult + (major & 1)
            a = b = 0
            for _ in range(minors):
                temp = sector[12 + index]
                index += minor_inc
                if index >= size:
                    index -= size
                a ^= temp
                b ^= temp
                a = f_lut[a]
            a = b_lut[f_lut[a] ^ b]
            sector[dest + major] = a
            sector[dest + major + majors] = a ^ b

    block(86, 24, 2, 86, 0x81C)
    block(52, 43, 86, 88, 0x8C8)
    sector[12:16] = saved
    return bytes(sector[0x81C:])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parity_matches_the_textbook_loop(seed: int):
    lba = random.Random(seed).randrange(0, 360000)
    raw = encode_mode1(lba, _data(seed))
    assert _ecm_ecc(bytearray(raw), zero_address=False) == raw[2076:]
    xa = encode_mode2_form1(lba, _data(seed + 10), DATA_SUB)
    assert _ecm_ecc(bytearray(xa), zero_address=True) == xa[2076:]


def test_edc_is_the_ecma130_crc():
    # bit-at-a-time CRC with the reflected polynomial: no table
    def slow(data: bytes) -> int:
        crc = 0
        for byte in data:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ (0xD8018001 if crc & 1 else 0)
        return crc

    data = _data(7, 2064)
    assert edc(data) == slow(data)
    assert edc(b"") == 0


def test_forms_user_data_and_headers():
    m1 = encode_mode1(1234, _data(1))
    f1 = encode_mode2_form1(4500, _data(2), DATA_SUB * 2)
    f2 = encode_mode2_form2(99 * 4500, _data(3, FORM2_USER), FORM2_SUB)
    audio = _data(4, RAW)
    assert [sector_form(s) for s in (m1, f1, f2, audio)] == \
        ["mode1", "mode2_form1", "mode2_form2", "audio"]
    assert user_data(m1) == _data(1) and user_data(f1) == _data(2)
    assert user_data(f2) is None and user_data(audio) is None
    assert f1[16:24] == DATA_SUB * 2 and f2[16:24] == FORM2_SUB * 2
    assert f2[24:2348] == _data(3, FORM2_USER)
    assert [sector_lba(s) for s in (m1, f1, f2, audio)] == [1234, 4500, 99 * 4500, None]
    assert header(4500, 2) == bytes((0x01, 0x02, 0x00, 2))  # 01:02:00 is LBA 4,500
    assert all(len(s) == RAW for s in (m1, f1, f2))
    formless = bytearray(f1)
    formless[20] ^= 1  # the subheader's two copies differ: formless Mode 2
    assert sector_form(bytes(formless)) == "mode2" and user_data(bytes(formless)) is None
    mode0 = SYNC + header(10, 0) + bytes(2336)
    assert sector_form(mode0) == "mode0"


def test_damage_is_found():
    for raw in (encode_mode1(77, _data(5)), encode_mode2_form1(77, _data(6), DATA_SUB)):
        assert edc_ok(raw) and ecc_ok(raw)
        hit = bytearray(raw)
        hit[1000] ^= 0x10  # in the user data: both fail
        assert not edc_ok(bytes(hit)) and not ecc_ok(bytes(hit))
        parity = bytearray(raw)
        parity[2300] ^= 0x01  # in Q parity: data intact, parity wrong
        assert edc_ok(bytes(parity)) and not ecc_ok(bytes(parity))
    moved = bytearray(encode_mode2_form1(77, _data(6), DATA_SUB))
    moved[12:15] = header(78, 2)[:3]  # Form 1 parity ignores the header
    assert ecc_ok(bytes(moved))
    moved1 = bytearray(encode_mode1(77, _data(5)))
    moved1[12:15] = header(78, 1)[:3]  # Mode 1 parity and EDC cover it
    assert not ecc_ok(bytes(moved1)) and not edc_ok(bytes(moved1))
    f2 = bytearray(encode_mode2_form2(5, _data(7, FORM2_USER), FORM2_SUB))
    assert edc_ok(bytes(f2))
    f2[100] ^= 1
    assert not edc_ok(bytes(f2))
    f2[2348:] = bytes(4)  # no EDC recorded: allowed in Form 2
    assert edc_ok(bytes(f2))
    with pytest.raises(ValueError):
        ecc_ok(bytes(f2))
    with pytest.raises(ValueError):
        edc_ok(_data(8, RAW))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        encode_mode1(0, bytes(2047))
    with pytest.raises(ValueError):
        encode_mode1(-151, bytes(USER))
    with pytest.raises(ValueError):
        encode_mode2_form1(0, bytes(USER), FORM2_SUB)  # submode says Form 2
    with pytest.raises(ValueError):
        encode_mode2_form2(0, bytes(FORM2_USER), DATA_SUB)
    with pytest.raises(ValueError):
        encode_mode2_form1(0, bytes(USER), DATA_SUB + FORM2_SUB)  # copies differ
    with pytest.raises(ValueError):
        sector_form(bytes(2048))


# -- independent tools ----------------------------------------------------------------
def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian package in .ci/run)")


def _mode1_bin(folder: Path, iso: bytes, name: str) -> Path:
    sectors = len(iso) // USER
    (folder / f"{name}.bin").write_bytes(b"".join(
        encode_mode1(lba, iso[lba * USER:(lba + 1) * USER]) for lba in range(sectors)))
    cue = folder / f"{name}.cue"
    cue.write_text(f'FILE "{name}.bin" BINARY\n  TRACK 01 MODE1/2352\n    INDEX 01 00:00:00\n')
    return cue


def test_libcdio_and_bchunk_read_an_encoded_iso(tmp_path: Path):
    _need("cd-info")
    _need("bchunk")
    iso = (MEDIA / "cd-sample.iso").read_bytes()
    cue = _mode1_bin(tmp_path, iso, "sample")
    info = subprocess.run(["cd-info", "--no-device-info", "--no-cddb", "--iso9660",
                           "--cue-file", str(cue)], capture_output=True, text=True,
                          check=True).stdout
    assert "  1: 00:02:00  000000 data" in info
    assert f"170: {_msf(len(iso) // USER + 150)}  {len(iso) // USER:06d} leadout" in info
    # libcdio read the volume through our raw sectors
    assert f"ISO 9660: {len(iso) // USER} blocks, label `SAMPLE_CD" in info
    # and its directories: the Rock Ridge names and sizes pycdlib wrote
    assert "       463 Mar 14 1998 10:30:00  logo.png" in info
    assert "  報告書.txt" in info and "/docs/:" in info and "Annual report 1998.html" in info
    subprocess.run(["bchunk", str(tmp_path / "sample.bin"), str(cue), str(tmp_path / "back")],
                   capture_output=True, check=True)
    assert (tmp_path / "back01.iso").read_bytes() == iso


def _msf(frames: int) -> str:
    return f"{frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}"


def _mpeg1(packs: int) -> bytes:
    """A tiny MPEG-1 system stream in 2,324-byte packs (a sequence header and one
    picture header a pack): enough for vcdxbuild to take it as a sequence item."""
    seq = (b"\x00\x00\x01\xb3" + ((352 << 20) | (240 << 8) | (1 << 4) | 4).to_bytes(4, "big")
           + ((2875 << 14) | (1 << 13) | (20 << 3)).to_bytes(4, "big"))
    picture = b"\x00\x00\x01\x00\x00\x0f\xff\xf8"
    rate = 2352
    system = bytes((0x80 | (rate >> 15) & 0x7F, (rate >> 7) & 0xFF, ((rate << 1) & 0xFE) | 1,
                    0x07, 0xE1, 0xFF, 0xE0, 0xE0, 0x2E))
    out = bytearray()
    for i in range(packs):
        scr = i * 3600
        pack = bytearray(b"\x00\x00\x01\xba")
        pack += bytes((0x21 | ((scr >> 29) & 0x0E), (scr >> 22) & 0xFF,
                       0x01 | ((scr >> 14) & 0xFE), (scr >> 7) & 0xFF, 0x01 | ((scr << 1) & 0xFE),
                       0x80 | (rate >> 15) & 0x7F, (rate >> 7) & 0xFF, ((rate << 1) & 0xFE) | 1))
        if i == 0:
            pack += b"\x00\x00\x01\xbb" + struct.pack(">H", len(system)) + system
        es = (seq + b"\x00\x00\x01\xb8\x00\x08\x00\x00" if i == 0 else b"") + picture
        body = b"\x0f" + es
        body += bytes(2324 - len(pack) - 6 - len(body))
        pack += b"\x00\x00\x01\xe0" + struct.pack(">H", len(body)) + body
        out += pack
    out[-4:] = b"\x00\x00\x01\xb9"
    return bytes(out)


def test_mode2_forms_match_vcdimager(tmp_path: Path):
    _need("vcdxbuild")
    (tmp_path / "a.mpg").write_bytes(_mpeg1(30))
    (tmp_path / "notes.txt").write_bytes(b"".join(b"line %05d of a file on a Video CD\n" % n
                                                  for n in range(300)))
    (tmp_path / "vcd.xml").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE videocd PUBLIC "-//GNU//DTD VideoCD//EN" '
        '"http://www.gnu.org/software/vcdimager/videocd.dtd">\n'
        '<videocd xmlns="http://www.gnu.org/software/vcdimager/1.0/" class="vcd" version="2.0">'
        '<info><album-id>T</album-id><volume-count>1</volume-count>'
        '<volume-number>1</volume-number></info>'
        '<pvd><volume-id>T</volume-id><system-id>CD-RTOS CD-BRIDGE</system-id></pvd>'
        '<filesystem><file src="notes.txt"><name>NOTES.TXT</name></file></filesystem>'
        '<sequence-items><sequence-item src="a.mpg" id="seq00"/></sequence-items></videocd>')
    subprocess.run(["vcdxbuild", "-q", "-T", "1998-03-14 10:30:00", "vcd.xml"], cwd=tmp_path,
                   capture_output=True, check=True)
    image = (tmp_path / "videocd.bin").read_bytes()
    counts = {"mode2_form1": 0, "mode2_form2": 0}
    for i in range(len(image) // RAW):
        raw = image[i * RAW:(i + 1) * RAW]
        form, lba = sector_form(raw), sector_lba(raw)
        assert lba == i  # vcdimager's image starts at LBA 0
        if form == "mode2_form1":
            data = user_data(raw)
            assert data is not None
            assert encode_mode2_form1(lba, data, raw[16:24]) == raw, i
            assert edc_ok(raw) and ecc_ok(raw)
        else:
            assert form == "mode2_form2", i
            assert encode_mode2_form2(lba, raw[24:2348], raw[16:24]) == raw, i
            assert edc_ok(raw)
        counts[form] += 1
    # the ISO 9660 volume and the file are Form 1, the MPEG and padding Form 2
    assert counts["mode2_form1"] >= 150 and counts["mode2_form2"] >= 30
    text = b"".join(d for i in range(len(image) // RAW)
                    if (d := user_data(image[i * RAW:(i + 1) * RAW])) is not None)
    assert b"line 00299 of a file on a Video CD" in text


def test_the_batch_edc_check_agrees_with_the_sector_by_sector_one():
    """edc_ok_many (array form, for whole reads) against edc_ok (the textbook loop),
    on good and damaged Mode 1 and Form 1 sectors, and on sectors it does not concern."""
    import random

    from workbench.optical.sector import edc_ok_many
    rnd = random.Random(11)
    sectors = []
    for lba in range(40):
        if lba % 3:
            raw = bytearray(encode_mode1(lba, rnd.randbytes(2048)))
        else:
            raw = bytearray(encode_mode2_form1(lba, rnd.randbytes(2048), b"\x01\x00\x08\x00"))
        if lba % 4 == 0:
            raw[rnd.randrange(16, 2060)] ^= 1 << rnd.randrange(8)
        sectors.append(bytes(raw))
    audio = rnd.randbytes(2352)
    got = edc_ok_many(b"".join(sectors) + audio)
    assert got[:-1] == [edc_ok(s) for s in sectors]
    assert got[-1] is True and got.count(False) == 10
