"""CUE sheets of the training discs (scripts/build_discs.py) through read_cue, held to
the facts the script recorded, to libcdio's cd-info (the independent reader of the TOC),
and to isoinfo and bchunk for the data sessions' volumes; write_cue round trips.

libcdio's BIN/CUE driver reads one BIN named like the CUE and knows no sessions or
PREGAP lines, so for multi-FILE discs the test lays the files end to end into such a BIN
(what multi-FILE means) and gives cd-info the single-file CUE; each later session is
checked through its volume instead: isoinfo must find it at the LBA read_cue gives.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MEDIA
from workbench import PROJECT_ROOT
from workbench.optical.cue import read_cue, write_cue
from workbench.optical.sector import sector_form, user_data
from workbench.optical.toc import FIRST_SESSION_GAP, Disc

DISCS = MEDIA / "discs"
EXPECTED = json.loads((DISCS / "expected.json").read_text(encoding="utf-8"))
NAMES = sorted(EXPECTED)
TRACK_LINE = re.compile(r"^\s*(\d+): (\d\d:\d\d:\d\d)\s+(\d+) (data|audio|leadout)", re.M)


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian package in .ci/run)")


def _msf(frames: int) -> str:
    return f"{frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}"


def test_training_discs_are_rebuilt_byte_for_byte(tmp_path: Path):
    _need("genisoimage")
    subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "build_discs.py"),
                    str(tmp_path)], check=True, capture_output=True)
    built = sorted(p.name for p in (tmp_path / "discs").iterdir())
    assert built == sorted(p.name for p in DISCS.iterdir())
    for name in built:
        assert hashlib.sha256((tmp_path / "discs" / name).read_bytes()).digest() == \
            hashlib.sha256((DISCS / name).read_bytes()).digest(), name
    for name in NAMES:
        drive = f"{name}.drive.toml"
        assert (tmp_path / drive).read_bytes() == (MEDIA / drive).read_bytes()
        assert f'image = "discs/{name}.cue"' in (MEDIA / drive).read_text(encoding="utf-8")
    assert sum(p.stat().st_size for p in DISCS.iterdir()) < 12_000_000


@pytest.mark.parametrize("name", NAMES)
def test_read_cue_gives_the_recorded_toc(name: str):
    facts = EXPECTED[name]
    sheet = read_cue(DISCS / facts["cue"])
    disc = sheet.disc
    got = [(t.number, t.session, t.mode, t.start, t.length, t.pregap) for t in disc.tracks]
    assert got == [(t["number"], t["session"], t["mode"], t["start"], t["length"],
                    t["pregap"]) for t in facts["tracks"]]
    assert [(s.number, s.first_track, s.last_track, s.leadout) for s in disc.sessions] == \
        [(s["number"], s["first_track"], s["last_track"], s["leadout"])
         for s in facts["sessions"]]
    assert disc.classify() == facts["disc_class"]
    for t in facts["tracks"]:
        where = sheet.files[t["number"]]
        assert (where.path.name, where.sector_size, where.offset, where.pregap_in_file) == \
            (t["file"], t["sector_size"], t["offset"], t["pregap_in_file"])
        assert disc.track(t["number"]).control & 4 == (0 if t["mode"] == "audio" else 4)
    # a later session starts after the recorder's gap behind the previous lead-out
    for before, after in zip(disc.sessions, disc.sessions[1:], strict=False):
        assert disc.track(after.first_track).start == before.leadout + FIRST_SESSION_GAP


# -- cd-info --------------------------------------------------------------------------
def _one_bin(folder: Path, name: str, session: int = 1) -> Path:
    """The disc's tracks of one session laid end to end in NAME.bin with a single-file
    CUE, PREGAP sectors written out as zeros, as libcdio reads it."""
    facts = EXPECTED[name]
    lines, data, pos, done = [f'FILE "{name}.bin" BINARY'], bytearray(), 0, set()
    for t in facts["tracks"]:
        if t["session"] != session:
            continue
        raw = (DISCS / t["file"]).read_bytes()
        if t["file"] not in done:
            not_in_file = t["pregap"] - t["pregap_in_file"]
            data += bytes(not_in_file * 2352)
            base = len(data) // 2352
            data += raw
            done.add(t["file"])
            pos = base
        kind = "AUDIO" if t["mode"] == "audio" else \
            {"mode1": "MODE1/2352", "mode2": "MODE2/2352"}[t["mode"]]
        lines.append(f"  TRACK {t['number']:02d} {kind}")
        if t["pregap"]:
            lines.append(f"    INDEX 00 {_msf(pos + t['offset'] - t['pregap'])}")
        lines.append(f"    INDEX 01 {_msf(pos + t['offset'])}")
    (folder / f"{name}.bin").write_bytes(bytes(data))
    cue = folder / f"{name}.cue"
    cue.write_text("\n".join(lines) + "\n")
    return cue


def _cd_info(cue: Path) -> tuple[list[tuple[int, int, str]], str]:
    out = subprocess.run(["cd-info", "--no-device-info", "--no-cddb", "--cue-file", str(cue)],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for number, msf, lsn, kind in TRACK_LINE.findall(out):
        frames = sum(int(x) * k for x, k in zip(msf.split(":"), (4500, 75, 1), strict=True))
        assert frames == int(lsn) + 150  # cd-info's own MSF and LSN agree
        rows.append((int(number), int(lsn), kind))
    return rows, out


@pytest.mark.parametrize("name", ["audio", "mixed", "enhanced"])
def test_cd_info_reads_the_same_tracks(name: str, tmp_path: Path):
    _need("cd-info")
    facts = EXPECTED[name]
    sheet = read_cue(DISCS / facts["cue"])
    first = sheet.disc.sessions[0]
    if name == "mixed":  # one BIN named like the CUE: cd-info reads it as shipped
        cue = tmp_path / "mixed.cue"
        for f in ("mixed.cue", "mixed.bin"):
            (tmp_path / f).symlink_to(DISCS / f)
    else:
        cue = _one_bin(tmp_path, name)
    rows, out = _cd_info(cue)
    ours = [(t.number, t.start, "audio" if t.audio else "data") for t in sheet.disc.tracks
            if t.session == first.number]
    assert rows == [*ours, (170, first.leadout, "leadout")]
    if name == "mixed":
        volume = EXPECTED[name]["data_sessions"]["1"]
        assert f"ISO 9660: {volume['volume_size']} blocks, label `MIXED_MODE" in out
        assert "Disc mode is listed as: CD-ROM Mixed" in out


# -- the data sessions' volumes ----------------------------------------------------------
def _session_user_data(name: str, number: int, folder: Path) -> tuple[bytes, int]:
    """The 2,048-byte sectors of a data session's track, and its start LBA: bchunk takes
    them out of raw sectors (MODE1/2352, MODE2/2352), a MODE1/2048 file is them."""
    facts = EXPECTED[name]["data_sessions"][str(number)]
    sheet = read_cue(DISCS / EXPECTED[name]["cue"])
    track = sheet.disc.track(facts["track"])
    where = sheet.files[track.number]
    if where.sector_size == 2048:
        return where.path.read_bytes(), track.start
    raw = where.path.read_bytes()[where.offset * 2352:(where.offset + track.length) * 2352]
    (folder / "t.bin").write_bytes(raw)
    kind = "MODE1/2352" if track.mode == "mode1" else "MODE2/2352"
    (folder / "t.cue").write_text(f'FILE "t.bin" BINARY\n  TRACK 01 {kind}\n'
                                  "    INDEX 01 00:00:00\n")
    subprocess.run(["bchunk", "t.bin", "t.cue", "out"], cwd=folder, capture_output=True,
                   check=True)
    data = (folder / "out01.iso").read_bytes()
    expected_form = "mode1" if track.mode == "mode1" else "mode2_form1"
    for i in range(track.length):
        sector = raw[i * 2352:(i + 1) * 2352]
        assert sector_form(sector) == expected_form
        assert user_data(sector) == data[i * 2048:(i + 1) * 2048]
    return data, track.start


def _isoinfo(image: Path, *args: str) -> str:
    return subprocess.run(["isoinfo", "-i", str(image), *args], capture_output=True,
                          text=True, check=True).stdout


def _check_volume(image: Path, facts: dict, *where: str, elsewhere: frozenset = frozenset()
                  ) -> None:
    """isoinfo lists exactly the recorded files and folders, and gives each file's bytes
    (but those in `elsewhere`: kept by an earlier session, outside this image)."""
    listed = {line for line in _isoinfo(image, "-J", "-f", *where).splitlines() if line}
    files = {f["path"] for f in facts["files"]}
    folders = {"/".join(p.split("/")[:n]) for p in files for n in range(2, p.count("/") + 1)}
    assert listed == files | folders
    assert f"Volume id: {facts['volume_id']}" in _isoinfo(image, "-d", *where)
    for f in facts["files"]:
        if f["path"] in elsewhere:
            continue
        data = subprocess.run(["isoinfo", "-i", str(image), "-J", "-x", f["path"], *where],
                              capture_output=True, check=True).stdout
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]


@pytest.mark.parametrize("name,session", [("mixed", 1), ("enhanced", 2), ("two-session", 1),
                                          ("two-session", 2)])
def test_data_sessions_hold_their_volumes(name: str, session: int, tmp_path: Path):
    _need("isoinfo")
    _need("bchunk")
    facts = EXPECTED[name]["data_sessions"][str(session)]
    data, start = _session_user_data(name, session, tmp_path)
    image = tmp_path / "session.iso"
    image.write_bytes(data)
    assert start == facts["volume_start"]
    # the volume's extents are absolute LBAs: isoinfo finds its files only when told
    # the session starts where read_cue put it
    earlier = EXPECTED[name]["data_sessions"].get(str(session - 1), {"files": []})["files"]
    kept = frozenset(f["path"] for f in earlier if f in facts["files"])
    _check_volume(image, facts, "-N", str(start), elsewhere=kept)
    pvd = data[16 * 2048:17 * 2048]
    assert pvd[1:6] == b"CD001"
    assert int.from_bytes(pvd[80:84], "little") == facts["volume_size"]


def test_two_session_flat_image_lists_each_session(tmp_path: Path):
    """The whole disc as a drive reads it back: session 1, the unreadable gap as zeros,
    session 2. The first volume descriptors describe session 1 only."""
    _need("isoinfo")
    sheet = read_cue(DISCS / "two-session.cue")
    one, two = sheet.disc.tracks
    flat = tmp_path / "flat.iso"
    flat.write_bytes(sheet.files[1].path.read_bytes() + bytes((two.start - one.end) * 2048)
                     + sheet.files[2].path.read_bytes())
    assert flat.stat().st_size == sheet.disc.leadout * 2048
    sessions = EXPECTED["two-session"]["data_sessions"]
    _check_volume(flat, sessions["1"])
    _check_volume(flat, sessions["2"], "-T", str(two.start))
    first = {f["path"]: f["sha256"] for f in sessions["1"]["files"]}
    second = {f["path"]: f["sha256"] for f in sessions["2"]["files"]}
    assert set(first) < set(second) and first["/README.TXT"] != second["/README.TXT"]


def test_audio_tracks_differ_and_are_not_silent():
    for name in ("audio", "mixed", "enhanced"):
        sheet = read_cue(DISCS / EXPECTED[name]["cue"])
        digests = set()
        for t in sheet.disc.audio_tracks:
            where = sheet.files[t.number]
            pcm = where.path.read_bytes()[where.offset * 2352:(where.offset + t.length) * 2352]
            assert len(pcm) == t.length * 2352 and pcm.count(0) < len(pcm) // 2
            digests.add(hashlib.sha256(pcm).digest())
        assert len(digests) == len(sheet.disc.audio_tracks)
    sheet = read_cue(DISCS / "audio.cue")
    pregap = sheet.files[2].path.read_bytes()[:150 * 2352]
    assert pregap.count(0) < len(pregap)  # the INDEX 00 pregap holds a quiet tone


# -- write_cue ------------------------------------------------------------------------------
def _same(a: Disc, b: Disc) -> None:
    assert a.tracks == b.tracks
    assert a.sessions == b.sessions
    assert a.mcn == b.mcn


@pytest.mark.parametrize("name", NAMES)
def test_write_cue_round_trip(name: str, tmp_path: Path):
    sheet = read_cue(DISCS / EXPECTED[name]["cue"])
    for f in {w.path for w in sheet.files.values()}:
        (tmp_path / f.name).symlink_to(f)
    text = write_cue(sheet.disc, {n: (w.path.name, w.offset) for n, w in sheet.files.items()})
    (tmp_path / "again.cue").write_text(text)
    _same(read_cue(tmp_path / "again.cue").disc, sheet.disc)
