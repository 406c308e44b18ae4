"""Checksum lists found beside the files: md5sum/sha1sum/sha256sum/sha512sum output (GNU,
with or without '*', with the backslash escape), the BSD form `SHA256 (name) = digest`,
and lists named in the station settings ([ingest] checksum_lists).

Names in a list are relative to the list's folder; '\\' separators (lists written on
Windows) are read as '/'; a name leading out of the source is noted, never followed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import re
import unicodedata
from dataclasses import dataclass, field

LISTS = ("*.md5", "*.sha1", "*.sha256", "*.sha512", "*.md5sum", "*.sha1sum", "*.sha256sum",
         "*.sha512sum", "*.md5.txt", "*.sha1.txt", "*.sha256.txt", "*.sha512.txt",
         "MD5SUMS", "SHA1SUMS", "SHA256SUMS", "SHA512SUMS", "MD5SUMS.txt", "SHA1SUMS.txt",
         "SHA256SUMS.txt", "SHA512SUMS.txt", "md5sum.txt", "sha1sum.txt", "sha256sum.txt",
         "sha512sum.txt", "md5sums.txt", "sha1sums.txt", "sha256sums.txt", "sha512sums.txt",
         "md5.txt", "sha1.txt", "sha256.txt", "sha512.txt", "checksums.txt", "checksum.txt",
         "CHECKSUMS", "CHECKSUM", "checksums.md5", "checksums.sha256", "hashes.txt")
BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
MAX_LIST = 64 << 20  # a bigger file is not read as a list
_GNU = re.compile(r"^(\\?)([0-9a-fA-F]{32,128}) [ *](.+)$")
_BSD = re.compile(r"^(\\?)(MD5|SHA1|SHA-?256|SHA-?512) ?\((.+)\) ?= ?([0-9a-fA-F]{32,128})$",
                  re.IGNORECASE)


@functools.cache
def _matcher(extra: tuple[str, ...]) -> re.Pattern[str]:
    """The list names as one pattern (fnmatch per name and pattern: a second for
    20,000 files)."""
    return re.compile("|".join(fnmatch.translate(p.lower()) for p in (*LISTS, *extra)))


def is_list(name: str, extra: tuple[str, ...] = ()) -> bool:
    return _matcher(tuple(extra)).match(name.lower()) is not None


@dataclass(frozen=True)
class Listed:
    name: str  # relative to the source root, '/'-separated
    algorithm: str
    digest: str
    list_path: str  # the list that says it
    line: int
    alts: tuple[str, ...] = ()  # what else it may mean: '\\' kept, another decoding


@dataclass
class ChecksumList:
    path: str
    entries: list[Listed] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)  # lines that are no checksum line
    outside: list[str] = field(default_factory=list)  # names leading out of the source
    encoding: str = "utf-8"  # utf-8, the station's legacy code page, or utf-8 with
    # undecodable bytes kept (surrogateescape) when neither reads it whole


def looks_like_list(head: bytes) -> bool:
    """The first line that is not blank or a comment reads as a checksum line."""
    for raw in head.removeprefix(b"\xef\xbb\xbf").split(b"\n")[:20]:
        text = raw.rstrip(b"\r").decode("utf-8", "surrogateescape")
        if not text.strip() or text.lstrip().startswith(("#", ";")):
            continue
        return _read(text) is not None
    return False


_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def _unescape(name: str) -> str:
    return name.replace("\\\\", "\0").replace("\\n", "\n").replace("\\r", "\r") \
        .replace("\0", "\\")


def _resolve(folder: str, name: str) -> str | None:
    parts = [p for p in folder.split("/") if p]
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def _texts(line: bytes, codepage: str) -> list[tuple[str, str]]:
    """A line as text: UTF-8; else the legacy code page (a list written on Windows in
    Shift_JIS, decoded before any '\\' is read, so a 0x5C second byte stays inside its
    character) and UTF-8 with the undecodable bytes kept (a Linux name in raw bytes)."""
    try:
        return [(line.decode("utf-8"), "utf-8")]
    except UnicodeDecodeError:
        pass
    out = []
    with contextlib.suppress(UnicodeDecodeError, LookupError):
        out.append((line.decode(codepage), codepage))
    raw = (line.decode("utf-8", "surrogateescape"), "utf-8 (undecodable bytes kept)")
    if out and any(unicodedata.category(ch) == "Co" for ch in out[0][0]):
        return [raw, *out]  # the code page only reads it as private-use characters (cp932:
        # 0xFF as U+F8F3): raw bytes in a UTF-8 list, likelier than that code page
    return [*out, raw]


def _read(line: str) -> tuple[str, str, str, bool] | None:
    """(algorithm, digest, name, escaped) of a checksum line, None for anything else."""
    gnu, bsd = _GNU.match(line), _BSD.match(line)
    if gnu and len(gnu.group(2)) in BY_LENGTH:
        digest, name, escaped = gnu.group(2), gnu.group(3), bool(gnu.group(1))
    elif bsd and len(bsd.group(4)) in BY_LENGTH:  # a leading '\\': GNU --tag, escaped
        digest, name, escaped = bsd.group(4), bsd.group(3), bool(bsd.group(1))
    else:
        return None
    return BY_LENGTH[len(digest)], digest, _unescape(name) if escaped else name, escaped


def _targets(folder: str, name: str, escaped: bool) -> list[str] | None:
    """The paths a listed name may mean (None: it leads out of the source): '\\' read
    as a separator (Windows), and kept, for a name really holding it."""
    literal = None
    if _DRIVE.match(name) and not escaped:  # E:\a.txt: the disc's root (the Windows
        folder, name = "", name[3:]  # tool that wrote the list saw the disc in E:)
    if "\\" in name and "/" not in name and not escaped:
        literal = _resolve(folder, name)
        name = name.replace("\\", "/")
    target = _resolve(folder, name)
    if target is None or name.startswith("/"):
        return None
    return [target, *([literal] if literal else [])]


def parse(path: str, data: bytes, codepage: str = "cp932") -> ChecksumList:
    """A list's entries. path: the list's own path in the source ('/'-separated).
    Every line that is not blank, a comment or a checksum line is listed in ignored."""
    folder = path.rpartition("/")[0]
    out = ChecksumList(path)
    used: set[str] = set()
    for number, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1):
        readings = _texts(raw.rstrip(b"\r"), codepage)
        texts = [text for text, _ in readings]
        if not texts[0].strip() or texts[0].lstrip().startswith(("#", ";")):
            continue
        read = [r for r in map(_read, texts) if r is not None]
        if not read or _read(texts[0]) is None:
            out.ignored.append(number)
            continue
        if readings[0][1] != "utf-8":
            used.add(readings[0][1])
        algorithm, digest, name, escaped = read[0]
        targets = [t for r in read for t in (_targets(folder, r[2], r[3]) or [])]
        if _targets(folder, name, escaped) is None:
            out.outside.append(name)
            continue
        out.entries.append(Listed(targets[0], algorithm, digest.lower(), path, number,
                                  tuple(dict.fromkeys(targets[1:]))))
    out.encoding = " and ".join(sorted(used)) or "utf-8"
    return out
