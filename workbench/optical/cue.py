"""CUE sheets: read one (with its BIN/ISO files) into a Disc, and write one for a job.

Reads what cdrdao, ImgBurn, redumper and most rippers write: several FILE lines, TRACK
modes AUDIO, MODE1/2048, MODE1/2352 and MODE2/2352, INDEX 00/01, PREGAP and POSTGAP
(not in the file), CATALOG, ISRC, FLAGS, and `REM SESSION nn` for multi-session discs.
Tracks are laid on the disc in order from LBA 0; a new session starts after the gap a
recorder leaves (toc.FIRST_SESSION_GAP, then LATER_SESSION_GAP).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import BadInput
from workbench.optical.toc import (
    DATA_SECTOR,
    FIRST_SESSION_GAP,
    LATER_SESSION_GAP,
    RAW_SECTOR,
    Disc,
    Mode,
    Session,
    Track,
    frames_of,
    msf,
)

# CUE track type -> (mode, bytes per sector in the file)
TRACK_TYPES = {
    "AUDIO": (Mode.AUDIO, RAW_SECTOR),
    "MODE1/2048": (Mode.MODE1, DATA_SECTOR),
    "MODE1/2352": (Mode.MODE1, RAW_SECTOR),
    "MODE2/2352": (Mode.MODE2, RAW_SECTOR),
}


@dataclass(frozen=True)
class TrackFile:
    """Where a track's sectors are in the image files: the file, the bytes per sector
    there, and the file sector at which the track's pregap starts (its start minus
    pregap_in_file sectors)."""

    number: int
    path: Path
    sector_size: int
    offset: int  # file sector of the track's INDEX 01
    pregap_in_file: int  # sectors of INDEX 00 before it, in the file
    postgap: int = 0  # the track's last sectors that are not in the file (POSTGAP)


@dataclass
class CueSheet:
    path: Path
    disc: Disc
    files: dict[int, TrackFile]  # track number -> where its sectors are


def _fail(path: Path, line: int, text: str, allowed: str) -> BadInput:
    return BadInput("error.bad_cue", file=str(path), line=line, text=text[:80],
                    allowed=allowed)


MAX_GAP = 5 * 60 * 75  # a PREGAP or POSTGAP of more than five minutes is no disc's
MAX_SECTORS = 100 * 60 * 75  # nor is a disc of more than 100 minutes
LAYOUT = ("FILE", "TRACK", "INDEX", "PREGAP", "POSTGAP", "FLAGS", "ISRC", "CATALOG")


def _decode(raw: bytes, codepage: str) -> tuple[str, str]:
    """The sheet's text and its encoding: UTF-8 (with or without a BOM), else the
    station's legacy code page (Japanese sheets written on Windows are Shift_JIS)."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode(codepage, errors="replace"), codepage


def _file_named(folder: Path, name: str, encoding: str, codepage: str) -> Path:
    """The file a FILE line names: as written, or with its name's bytes in the other
    encoding (a sheet in Shift_JIS naming a file whose name is UTF-8 on disk, and the
    other way round)."""
    plain = folder / name
    if plain.exists():
        return plain
    for other in dict.fromkeys((encoding, codepage)):  # the name's bytes in a legacy
        if other == "utf-8":  # code page: how Linux keeps a Windows file's name
            continue
        try:
            alt = folder / os.fsdecode(name.encode(other))
        except UnicodeError:
            continue
        if alt.exists():
            return alt
    return plain


def read_cue(path: Path, codepage: str = "cp932") -> CueSheet:
    """Parse a CUE sheet and the sizes of its files into a Disc."""
    try:
        if not path.is_file():  # a FIFO or a device would block or never end
            raise BadInput("error.not_a_source", path=str(path))
        if path.stat().st_size > 1 << 20:
            raise _fail(path, 0, "", "a CUE sheet (text of at most 1 MiB)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput("error.file_missing", file=str(path)) from None
    text, encoding = _decode(raw, codepage)
    entries: list[dict] = []  # one per TRACK, in order
    file: Path | None = None
    session, catalog = 1, ""
    for n, line in enumerate(text.splitlines(), 1):
        head = line.split(None, 2)
        if not head:
            continue
        key = head[0].upper()
        if key == "REM":
            if len(head) >= 3 and head[1].upper() == "SESSION":
                said = head[2].split()[0] if head[2].split() else ""
                begun = bool(entries) and entries[-1]["session"] == session
                allowed = {session + 1} if begun else {session}
                if not said.isdigit() or int(said) not in allowed:
                    raise _fail(path, n, line, "REM SESSION 01, then 02, 03 ... in order, "
                                "each before its first TRACK")
                session = int(said)
            elif len(head) >= 3 and head[1].upper() == "LEAD-OUT" and entries:
                try:
                    entries[-1]["leadout"] = frames_of(head[2].split()[0])
                except (ValueError, IndexError):
                    raise _fail(path, n, line, "REM LEAD-OUT mm:ss:ff") from None
            continue
        if key not in LAYOUT:
            continue  # TITLE, PERFORMER, SONGWRITER, CDTEXTFILE: metadata, not layout
        try:
            words = shlex.split(line, posix=True)
        except ValueError:
            raise _fail(path, n, line, "balanced quotes") from None
        if key == "FILE":
            if len(words) < 2:
                raise _fail(path, n, line, 'FILE "name" BINARY')
            file = _file_named(path.parent, words[1], encoding, codepage)
            if len(words) > 2 and words[2].upper() not in ("BINARY", "MOTOROLA"):
                raise _fail(path, n, line, "FILE ... BINARY (WAVE and MP3 files are not "
                            "disc images)")
            if len(words) > 2 and words[2].upper() == "MOTOROLA":
                raise _fail(path, n, line, "little-endian BINARY files")
        elif key == "TRACK":
            if file is None or len(words) < 3 or not words[1].isdigit():
                raise _fail(path, n, line, "TRACK nn TYPE after a FILE line")
            number, kind = int(words[1]), words[2].upper()
            if not 1 <= number <= 99 or (entries and number <= entries[-1]["number"]):
                raise _fail(path, n, line, "track numbers 01 to 99, each once, ascending")
            if kind not in TRACK_TYPES:
                raise _fail(path, n, line, ", ".join(TRACK_TYPES))
            entries.append({"number": number, "type": kind, "file": file,
                            "session": session, "index": {}, "pregap": 0, "postgap": 0,
                            "control": 0, "isrc": "", "line": n})
        elif key == "CATALOG":
            catalog = words[1] if len(words) > 1 else ""
        else:
            if not entries:
                raise _fail(path, n, line, f"{key} after a TRACK line")
            _track_line(path, n, line, key, words, entries[-1])
    if not entries:
        raise BadInput("error.bad_cue", file=str(path), line=0, text="",
                       allowed="at least one TRACK")
    return _lay_out(path, entries, catalog)


def _track_line(path: Path, n: int, line: str, key: str, words: list[str],
                entry: dict) -> None:
    """INDEX, PREGAP, POSTGAP, FLAGS or ISRC of the track being read."""
    try:
        if key == "INDEX":
            number, at = int(words[1]), frames_of(words[2])
            index = entry["index"]
            if number in index or not 0 <= number <= 99 or (number == 0 and index) or \
                    (number > 1 and 1 not in index) or (index and at < max(index.values())):
                raise ValueError("order")
            index[number] = at
        elif key in ("PREGAP", "POSTGAP"):
            entry[key.lower()] = frames_of(words[1])
            if entry[key.lower()] > MAX_GAP:
                raise ValueError("too long")
        elif key == "FLAGS":
            flags = {w.upper() for w in words[1:]}
            entry["control"] = (2 if "DCP" in flags else 0) | \
                (1 if "PRE" in flags else 0) | (8 if "4CH" in flags else 0)
        else:
            entry["isrc"] = words[1] if len(words) > 1 else ""
    except (IndexError, ValueError):
        raise _fail(path, n, line, f"{key} with mm:ss:ff times; INDEX 00 before INDEX 01, "
                    "later indexes after it, in time order; gaps of at most 05:00:00"
                    ) from None


def _lay_out(path: Path, entries: list[dict], catalog: str) -> CueSheet:
    sizes: dict[Path, int] = {}
    for e in entries:
        if e["file"] not in sizes:
            try:
                sizes[e["file"]] = e["file"].stat().st_size
            except FileNotFoundError:
                raise BadInput("error.cue_file_missing", cue=str(path),
                               file=str(e["file"])) from None
        if 1 not in e["index"]:
            raise _fail(path, e["line"], f"TRACK {e['number']:02d}", "an INDEX 01 line")
        sector = TRACK_TYPES[e["type"]][1]
        if any(x["file"] == e["file"] and TRACK_TYPES[x["type"]][1] != sector
               for x in entries):
            raise _fail(path, e["line"], e["type"], "one sector size per FILE")
        if sizes[e["file"]] % sector:
            raise BadInput("error.cue_file_size", file=str(e["file"]),
                           size=f"{sizes[e['file']]:,}", sector=sector)
    tracks: list[Track] = []
    files: dict[int, TrackFile] = {}
    sessions: list[Session] = []
    base: dict[Path, int] = {}  # the disc LBA of each file's first sector
    cursor = 0  # the disc LBA after the previous track and its postgap
    for i, e in enumerate(entries):
        mode, sector = TRACK_TYPES[e["type"]]
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        index1 = e["index"][1]
        # track 1 without INDEX 00: what its file holds before INDEX 01 is its pregap
        index0 = e["index"].get(0, 0 if not tracks and e["file"] not in base else index1)
        if e.get("leadout") is not None and (nxt is None or nxt["file"] != e["file"]
                                             or nxt["session"] == e["session"]):
            raise _fail(path, e["line"], "REM LEAD-OUT",
                        "REM LEAD-OUT only where a file goes on into the next session")
        new_session = bool(tracks) and e["session"] != tracks[-1].session
        if new_session:
            last = tracks[-1]
            sessions.append(Session(last.session, _first_of(tracks, last.session),
                                    last.number, last.end))
        gap = FIRST_SESSION_GAP if len(sessions) == 1 else LATER_SESSION_GAP
        if e["file"] in base:  # tracks of one file lie on the disc as in the file,
            # shifted by the gaps the sheet adds between them (PREGAP, POSTGAP)
            base[e["file"]] += e["pregap"] + (entries[i - 1]["postgap"] if i else 0)
            start = base[e["file"]] + index1
        elif not tracks:
            # track 1's INDEX 01 is LBA 0, its 2 s pregap before it; a file that holds
            # more before INDEX 01 than those 150 sectors holds a hidden track (HTOA)
            start = max(0, index1 - index0 - 150)
        elif new_session:
            start = cursor + gap
        else:
            start = cursor + e["pregap"] + index1 - index0
        base.setdefault(e["file"], start - index1)
        if e.get("leadout") is not None:
            end_in_file = e["leadout"]  # REM LEAD-OUT: the session ends here
        elif nxt is not None and nxt["file"] == e["file"]:
            end_in_file = min(nxt["index"].get(0, nxt["index"][1]), nxt["index"][1])
            if nxt["session"] != e["session"]:  # the recorder's gap is in the file
                later = FIRST_SESSION_GAP if not sessions else LATER_SESSION_GAP
                end_in_file = nxt["index"][1] - later
        else:
            end_in_file = sizes[e["file"]] // sector
        if end_in_file <= index1:
            raise _fail(path, e["line"], f"TRACK {e['number']:02d}",
                        "INDEX times in order, each track at least one sector")
        # a new session's pregap is the last 150 sectors of the recorder's gap
        # (track 1: the hidden track's sectors before it, as a drive's TOC shows them)
        # (track 1: all its file holds before INDEX 01: the 2 s before LBA 0, and a
        # hidden track after them)
        pregap = 150 if new_session else e["pregap"] + index1 - index0
        # a POSTGAP is the track's own last sectors, silence the sheet leaves out
        tracks.append(Track(number=e["number"], session=e["session"], mode=mode.value,
                            start=start, length=end_in_file - index1 + e["postgap"],
                            pregap=pregap,
                            control=e["control"] | (0 if mode == Mode.AUDIO else 4),
                            isrc=e["isrc"]))
        files[e["number"]] = TrackFile(e["number"], e["file"], sector, index1,
                                       index1 - index0, e["postgap"])
        cursor = tracks[-1].end
        if cursor > MAX_SECTORS:
            raise _fail(path, e["line"], f"TRACK {e['number']:02d}",
                        "a disc of at most 100 minutes")
    last = tracks[-1]
    sessions.append(Session(last.session, _first_of(tracks, last.session), last.number,
                            last.end))
    disc = Disc(tracks=tracks, sessions=sessions, mcn=catalog, read_from="cue")
    return CueSheet(path, disc, files)


def _first_of(tracks: list[Track], session: int) -> int:
    return min(t.number for t in tracks if t.session == session)


def write_cue(disc: Disc, files: dict[int, tuple[str, int]],
              modes: dict[int, str] | None = None) -> str:
    """A CUE sheet for a job's files. files: track number -> (file name, the file
    sector where the track's INDEX 01 is). Read back by read_cue it gives the same
    TOC: a session's end inside a file is written as REM LEAD-OUT."""
    lines = []
    if disc.mcn:
        lines.append(f"CATALOG {disc.mcn}")
    current_file, session = "", 0
    for i, track in enumerate(disc.tracks):
        name, offset = files[track.number]
        if len(disc.sessions) > 1 and track.session != session:
            lines.append(f"REM SESSION {track.session:02d}")
        session = track.session
        if name != current_file:
            lines.append(f'FILE "{name}" BINARY')
            current_file = name
        kind = "AUDIO" if track.audio else \
            ("MODE1/2048" if name.endswith(".iso") else
             "MODE2/2352" if track.mode == Mode.MODE2 else "MODE1/2352")
        lines.append(f"  TRACK {track.number:02d} {kind}")
        if modes and track.number in modes:  # what the track was on the disc
            lines.append(f"    REM ORIGINAL {modes[track.number]}")
        flags = [f for bit, f in ((2, "DCP"), (1, "PRE"), (8, "4CH")) if track.control & bit]
        if flags and track.audio:
            lines.append("    FLAGS " + " ".join(flags))
        if track.isrc:
            lines.append(f"    ISRC {track.isrc}")
        in_file = min(offset, track.pregap)
        if track.pregap > in_file and i > 0 and disc.tracks[i - 1].session == track.session:
            lines.append(f"    PREGAP {msf(track.pregap - in_file)}")  # not in the file
        if in_file:
            lines.append(f"    INDEX 00 {msf(offset - in_file)}")
        lines.append(f"    INDEX 01 {msf(offset)}")
        nxt = disc.tracks[i + 1] if i + 1 < len(disc.tracks) else None
        if nxt is not None and files[nxt.number][0] == name and nxt.session != track.session:
            lines.append(f"  REM LEAD-OUT {msf(offset + track.length)}")
    return "\n".join(lines) + "\n"
