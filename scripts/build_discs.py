#!/usr/bin/env python3
"""Build the training optical discs as CUE/BIN in media/discs/, byte-identical every run.

    python scripts/build_discs.py [OUT_DIR]   (default: media/; discs go to OUT_DIR/discs/)

- audio.cue: an audio CD, 3 tracks, one BIN each; track 2's BIN starts with its 2 s
  INDEX 00 pregap (a quiet tone, so the pregap's bytes can be told from silence).
- mixed.cue: mixed mode in one BIN: track 1 MODE1/2352 (ISO 9660 + Joliet), then two
  AUDIO tracks, the first after a 2 s INDEX 00 pregap in the file.
- enhanced.cue: Enhanced CD (CD-Extra): session 1 two AUDIO tracks (the second with a
  PREGAP line, not in the file), session 2 one MODE2/2352 track of XA Form 1 sectors
  holding an ISO 9660 volume made with genisoimage -C 0,START: its descriptors at
  START+16, its extents at absolute LBAs.
- two-session.cue: a two-session data CD-R: MODE1/2048 two-session-s1.iso, then
  two-session-s2.iso made with genisoimage -C 0,NEXT -M two-session-s1.iso, where NEXT is
  session 1's end + 11,400 (toc.FIRST_SESSION_GAP): session 2 adds files and replaces
  README.TXT, so its tree differs from session 1's.

Every disc's facts (tracks: number, session, mode, start LBA, length, pregap, file and
where in it; sessions and lead-outs; the disc class; the files each session lists, with
sizes and SHA-256) go to discs/expected.json, computed here from the layout this script
chose, so tests can hold a CUE reader to them. Each disc also gets OUT_DIR/<name>.drive.toml,
a training drive holding it.

Reproducible: file and folder times are fixed, genisoimage runs with TZ=UTC, and the
volume descriptors' creation/modification/effective dates (genisoimage 1.1.11 stamps the
clock there and has no option for them) are set to the same fixed date; audio is integer
synthesis with fixed seeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from array import array
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from build_media import FIXED_TIME, long_text, pdf, png  # noqa: E402

from workbench.optical.sector import encode_mode1, encode_mode2_form1  # noqa: E402

RAW, COOKED = 2352, 2048
RATE = 44100
SAMPLES_PER_SECTOR = 588
SECOND = 75  # sectors
FIRST_SESSION_GAP = 11400  # lead-out 6,750 + lead-in 4,500 + pregap 150 (toc.py)
VD_DATE = b"1998031410300000\x00"  # FIXED_TIME as a volume descriptor date, GMT+0
# XA subheader: file 0, channel 0, submode DATA; the track's last sector also ends a
# record and the file (EOR|EOF), as a recorder writes it
XA_DATA = bytes((0, 0, 0x08, 0))
XA_LAST = bytes((0, 0, 0x89, 0))


# -- audio ------------------------------------------------------------------------------
def audio(sectors: int, tones: tuple[int, ...], seed: int, noise: int = 0,
          level: int = 6000) -> bytes:
    """16-bit stereo PCM at 44.1 kHz, integer-only (no libm: same bytes everywhere):
    triangle waves at `tones` Hz (left and right a little detuned) plus seeded noise."""
    rng = random.Random(seed)
    n = sectors * SAMPLES_PER_SECTOR
    out = array("h")
    for i in range(n):
        env = min(i, n - i, 2205) * level // 2205  # 50 ms fade in and out: no clicks
        for channel in (0, 1):
            acc = 0
            for f in tones:
                phase = (i * (f + channel) * 65536 // RATE) & 0xFFFF
                tri = phase if phase < 32768 else 65535 - phase  # 0..32767
                acc += tri - 16384
            value = acc * env // (16384 * max(len(tones), 1))
            if noise:
                value += rng.randint(-noise, noise)
            out.append(max(-32768, min(32767, value)))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


# -- ISO 9660 ---------------------------------------------------------------------------
def stage(root: Path, files: dict[str, bytes]) -> None:
    """Write a tree and give every file and folder the fixed time."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(path, (FIXED_TIME, FIXED_TIME))
    os.utime(root, (FIXED_TIME, FIXED_TIME))


def fix_dates(image: bytes) -> bytes:
    """Set the dates genisoimage takes from the clock (every primary and supplementary
    volume descriptor's creation, modification and effective date) to the fixed one."""
    out = bytearray(image)
    sector = 16
    while (sector + 1) * COOKED <= len(out):
        vd = sector * COOKED
        kind = out[vd]
        if out[vd + 1:vd + 6] != b"CD001" or kind == 255:
            break
        if kind in (1, 2):
            for offset in (813, 830, 864):
                out[vd + offset:vd + offset + 17] = VD_DATE
        sector += 1
    return bytes(out)


def genisoimage(tree: Path, out: Path, label: str, *extra: str) -> bytes:
    subprocess.run(["genisoimage", "-quiet", "-J", "-V", label, "-sysid", "WORKBENCH",
                    "-publisher", "Migration workbench training media", *extra,
                    "-o", str(out), str(tree)],
                   check=True, capture_output=True, env={**os.environ, "TZ": "UTC"})
    data = fix_dates(out.read_bytes())
    out.write_bytes(data)
    return data


def volume_size(image: bytes) -> int:
    """The volume space size the primary volume descriptor declares. genisoimage -C
    writes the new session's own size here, not start + size."""
    return int.from_bytes(image[16 * COOKED + 80:16 * COOKED + 84], "little")


def listing(files: dict[str, bytes]) -> list[dict]:
    return [{"path": "/" + name, "size": len(data),
             "sha256": hashlib.sha256(data).hexdigest()} for name, data in sorted(files.items())]


# -- the discs ---------------------------------------------------------------------------
README = b"This disc is a training carrier for the migration workbench.\r\n" * 4


def data_files(tag: str) -> dict[str, bytes]:
    return {"README.TXT": README,
            "LOGO.PNG": png(24, 24),
            "PAPER.PDF": pdf(f"{tag} disc"),
            "DOCS/NOTES.TXT": long_text(60, tag),
            "DOCS/ARCHIVE/Annual report 1998.txt": long_text(12, f"{tag} report")}


def track(number: int, session: int, mode: str, start: int, length: int, pregap: int,
          file: str, sector_size: int, offset: int, pregap_in_file: int) -> dict:
    return {"number": number, "session": session, "mode": mode, "start": start,
            "length": length, "pregap": pregap, "file": file, "sector_size": sector_size,
            "offset": offset, "pregap_in_file": pregap_in_file}


def msf(sectors: int) -> str:
    return f"{sectors // 4500:02d}:{sectors // 75 % 60:02d}:{sectors % 75:02d}"


def audio_disc(out: Path) -> dict:
    t1 = audio(4 * SECOND, (440,), seed=1)
    gap2 = audio(2 * SECOND, (110,), seed=2, level=800)
    t2 = audio(3 * SECOND, (330, 415), seed=3, noise=600)
    t3 = audio(3 * SECOND, (), seed=4, noise=5000)
    (out / "audio-01.bin").write_bytes(t1)
    (out / "audio-02.bin").write_bytes(gap2 + t2)
    (out / "audio-03.bin").write_bytes(t3)
    (out / "audio.cue").write_text(
        'REM training audio CD, built by scripts/build_discs.py\n'
        'FILE "audio-01.bin" BINARY\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
        'FILE "audio-02.bin" BINARY\n  TRACK 02 AUDIO\n    INDEX 00 00:00:00\n'
        '    INDEX 01 00:02:00\n'
        'FILE "audio-03.bin" BINARY\n  TRACK 03 AUDIO\n    INDEX 01 00:00:00\n')
    l1, l2, l3 = (len(b) // RAW for b in (t1, t2, t3))
    s2 = l1 + 2 * SECOND
    s3 = s2 + l2
    return {"cue": "audio.cue", "disc_class": "audio", "tracks": [
        track(1, 1, "audio", 0, l1, 0, "audio-01.bin", RAW, 0, 0),
        track(2, 1, "audio", s2, l2, 2 * SECOND, "audio-02.bin", RAW, 2 * SECOND, 2 * SECOND),
        track(3, 1, "audio", s3, l3, 0, "audio-03.bin", RAW, 0, 0)],
        "sessions": [{"number": 1, "first_track": 1, "last_track": 3, "leadout": s3 + l3}],
        "data_sessions": {}}


def mixed_disc(out: Path, work: Path) -> dict:
    files = data_files("mixed")
    stage(work / "mixed", files)
    iso = genisoimage(work / "mixed", work / "mixed.iso", "MIXED_MODE")
    n = len(iso) // COOKED
    data = b"".join(encode_mode1(lba, iso[lba * COOKED:(lba + 1) * COOKED])
                    for lba in range(n))
    gap = audio(2 * SECOND, (), seed=10)  # digital silence a recorder writes: level 0
    a2 = audio(3 * SECOND, (262, 330, 392), seed=11)
    a3 = audio(3 * SECOND, (523,), seed=12, noise=1500)
    (out / "mixed.bin").write_bytes(data + gap + a2 + a3)
    s2 = n + 2 * SECOND
    s3 = s2 + len(a2) // RAW
    (out / "mixed.cue").write_text(
        'REM training mixed-mode CD, built by scripts/build_discs.py\n'
        'FILE "mixed.bin" BINARY\n'
        '  TRACK 01 MODE1/2352\n    INDEX 01 00:00:00\n'
        f'  TRACK 02 AUDIO\n    INDEX 00 {msf(n)}\n    INDEX 01 {msf(s2)}\n'
        f'  TRACK 03 AUDIO\n    INDEX 01 {msf(s3)}\n')
    l3 = len(a3) // RAW
    return {"cue": "mixed.cue", "disc_class": "mixed_mode", "tracks": [
        track(1, 1, "mode1", 0, n, 0, "mixed.bin", RAW, 0, 0),
        track(2, 1, "audio", s2, len(a2) // RAW, 2 * SECOND, "mixed.bin", RAW, s2, 2 * SECOND),
        track(3, 1, "audio", s3, l3, 0, "mixed.bin", RAW, s3, 0)],
        "sessions": [{"number": 1, "first_track": 1, "last_track": 3, "leadout": s3 + l3}],
        "data_sessions": {"1": {"track": 1, "volume_id": "MIXED_MODE", "volume_start": 0,
                                "volume_size": volume_size(iso), "files": listing(files)}}}


def enhanced_disc(out: Path, work: Path) -> dict:
    a1 = audio(4 * SECOND, (349, 440), seed=20)
    a2 = audio(3 * SECOND, (196,), seed=21, noise=3000)
    l1, l2 = len(a1) // RAW, len(a2) // RAW
    s2 = l1 + 2 * SECOND  # the PREGAP line: two seconds not in any file
    leadout1 = s2 + l2
    start = leadout1 + FIRST_SESSION_GAP
    files = data_files("enhanced")
    stage(work / "enhanced", files)
    iso = genisoimage(work / "enhanced", work / "enhanced.iso", "ENHANCED_CD",
                      "-C", f"0,{start}")
    n = len(iso) // COOKED
    data = b"".join(encode_mode2_form1(start + i, iso[i * COOKED:(i + 1) * COOKED],
                                       XA_LAST if i == n - 1 else XA_DATA) for i in range(n))
    (out / "enhanced-01.bin").write_bytes(a1)
    (out / "enhanced-02.bin").write_bytes(a2)
    (out / "enhanced-03.bin").write_bytes(data)
    (out / "enhanced.cue").write_text(
        'REM training Enhanced CD (CD-Extra), built by scripts/build_discs.py\n'
        'REM SESSION 01\n'
        'FILE "enhanced-01.bin" BINARY\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
        'FILE "enhanced-02.bin" BINARY\n  TRACK 02 AUDIO\n    PREGAP 00:02:00\n'
        '    INDEX 01 00:00:00\n'
        'REM SESSION 02\n'
        'FILE "enhanced-03.bin" BINARY\n  TRACK 03 MODE2/2352\n    INDEX 01 00:00:00\n')
    return {"cue": "enhanced.cue", "disc_class": "enhanced_cd", "tracks": [
        track(1, 1, "audio", 0, l1, 0, "enhanced-01.bin", RAW, 0, 0),
        track(2, 1, "audio", s2, l2, 2 * SECOND, "enhanced-02.bin", RAW, 0, 0),
        track(3, 2, "mode2", start, n, 150, "enhanced-03.bin", RAW, 0, 0)],
        "sessions": [{"number": 1, "first_track": 1, "last_track": 2, "leadout": leadout1},
                     {"number": 2, "first_track": 3, "last_track": 3, "leadout": start + n}],
        "data_sessions": {"2": {"track": 3, "volume_id": "ENHANCED_CD", "volume_start": start,
                                "volume_size": volume_size(iso), "files": listing(files)}}}


def two_session_disc(out: Path, work: Path) -> dict:
    first = {"README.TXT": README, "LOGO.PNG": png(16, 16), "PAPER.PDF": pdf("Session one"),
             "DOCS/NOTES.TXT": long_text(40, "session one")}
    stage(work / "s1", first)
    s1 = genisoimage(work / "s1", out / "two-session-s1.iso", "TWO_SESSION")
    n1 = len(s1) // COOKED
    start = n1 + FIRST_SESSION_GAP
    later = {"README.TXT": README.replace(b"training carrier", b"training carrier (v2)"),
             "ADDED.TXT": long_text(30, "session two"),
             "DOCS/LATER/SCAN.PNG": png(32, 32)}
    stage(work / "s2", later)
    s2 = genisoimage(work / "s2", out / "two-session-s2.iso", "TWO_SESSION",
                     "-C", f"0,{start}", "-M", str(out / "two-session-s1.iso"))
    n2 = len(s2) // COOKED
    (out / "two-session.cue").write_text(
        'REM training two-session CD-R, built by scripts/build_discs.py\n'
        'FILE "two-session-s1.iso" BINARY\n  TRACK 01 MODE1/2048\n    INDEX 01 00:00:00\n'
        'REM SESSION 02\n'
        'FILE "two-session-s2.iso" BINARY\n  TRACK 02 MODE1/2048\n    INDEX 01 00:00:00\n')
    return {"cue": "two-session.cue", "disc_class": "multi_session_data", "tracks": [
        track(1, 1, "mode1", 0, n1, 0, "two-session-s1.iso", COOKED, 0, 0),
        track(2, 2, "mode1", start, n2, 150, "two-session-s2.iso", COOKED, 0, 0)],
        "sessions": [{"number": 1, "first_track": 1, "last_track": 1, "leadout": n1},
                     {"number": 2, "first_track": 2, "last_track": 2, "leadout": start + n2}],
        "data_sessions": {
            "1": {"track": 1, "volume_id": "TWO_SESSION", "volume_start": 0,
                  "volume_size": volume_size(s1), "files": listing(first)},
            "2": {"track": 2, "volume_id": "TWO_SESSION", "volume_start": start,
                  "volume_size": volume_size(s2), "files": listing({**first, **later})}}}


DRIVES = {
    "audio": ("TRAIN-CD-11", "Audio CD", "音楽CD"),
    "mixed": ("TRAIN-CD-12", "Mixed-mode CD (data and audio)", "ミックスモードCD（データと音楽）"),
    "enhanced": ("TRAIN-CD-13", "Enhanced CD (audio, then a data session)",
                 "エンハンストCD（音楽とデータセッション）"),
    "two-session": ("TRAIN-CD-14", "Two-session CD-R", "2セッションのCD-R"),
}


def drive_toml(name: str) -> str:
    serial, en, ja = DRIVES[name]
    return (f"# A training optical drive holding discs/{name}.cue "
            "(built by scripts/build_discs.py).\n"
            'model = "Training optical drive"\nvendor = "Workbench"\n'
            f'serial = "{serial}"\ntransport = "sr"\nsector_size = 2048\n'
            f'image = "discs/{name}.cue"\nprofile = "cd"\n'
            'rate = "24x"  # 24 x 75 sectors a second\n'
            f'label.en = "{en}"\nlabel.ja = "{ja}"\n')


def build(out: Path) -> list[Path]:
    discs = out / "discs"
    if discs.exists():
        shutil.rmtree(discs)
    discs.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        facts = {"audio": audio_disc(discs), "mixed": mixed_disc(discs, work),
                 "enhanced": enhanced_disc(discs, work),
                 "two-session": two_session_disc(discs, work)}
    (discs / "expected.json").write_text(json.dumps(facts, indent=1, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
    for name in facts:
        (out / f"{name}.drive.toml").write_text(drive_toml(name), encoding="utf-8")
    return sorted(discs.iterdir()) + [out / f"{name}.drive.toml" for name in facts]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "media"
    for path in build(target):
        print(f"{path.stat().st_size:>10,}  {path}")
