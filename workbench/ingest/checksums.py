"""Checksum lists found beside the files: md5sum/sha1sum/sha256sum/sha512sum output (GNU,
with or without '*', with the backslash escape), the BSD form `SHA256 (name) = digest`,
and lists named in the station settings ([ingest] checksum_lists).

Names in a list are relative to the list's folder; '\\' separators (lists written on
Windows) are read as '/'; a name leading out of the source is noted, never followed.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

LISTS = ("*.md5", "*.sha1", "*.sha256", "*.sha512", "*.md5sum", "*.sha1sum", "*.sha256sum",
         "*.sha512sum", "MD5SUMS", "SHA1SUMS", "SHA256SUMS", "SHA512SUMS", "md5sum.txt",
         "sha1sum.txt", "sha256sum.txt", "sha512sum.txt", "checksums.txt", "CHECKSUMS")
BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
MAX_LIST = 64 << 20  # a bigger file is not read as a list
_GNU = re.compile(r"^(\\?)([0-9a-fA-F]{32,128}) [ *](.+)$")
_BSD = re.compile(r"^(MD5|SHA1|SHA-?256|SHA-?512) ?\((.+)\) ?= ?([0-9a-fA-F]{32,128})$",
                  re.IGNORECASE)


def is_list(name: str, extra: tuple[str, ...] = ()) -> bool:
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, pat.lower()) for pat in (*LISTS, *extra))


@dataclass(frozen=True)
class Listed:
    name: str  # relative to the source root, '/'-separated
    algorithm: str
    digest: str
    list_path: str  # the list that says it
    line: int


@dataclass
class ChecksumList:
    path: str
    entries: list[Listed] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)  # lines that are no checksum line
    outside: list[str] = field(default_factory=list)  # names leading out of the source


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


def parse(path: str, data: bytes) -> ChecksumList:
    """A list's entries. path: the list's own path in the source ('/'-separated)."""
    text = data.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    folder = path.rpartition("/")[0]
    out = ChecksumList(path)
    for number, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        gnu, bsd = _GNU.match(line), _BSD.match(line)
        escaped = False
        if gnu and len(gnu.group(2)) in BY_LENGTH:
            digest, name = gnu.group(2), gnu.group(3)
            if gnu.group(1):
                name, escaped = _unescape(name), True
            algorithm = BY_LENGTH[len(digest)]
        elif bsd and len(bsd.group(3)) in BY_LENGTH:
            digest, name = bsd.group(3), bsd.group(2)
            algorithm = BY_LENGTH[len(digest)]
        else:
            out.ignored.append(number)
            continue
        if "\\" in name and "/" not in name and not escaped:
            name = name.replace("\\", "/")
        target = _resolve(folder, name)
        if target is None or name.startswith("/"):
            out.outside.append(name)
            continue
        out.entries.append(Listed(target, algorithm, digest.lower(), path, number))
    return out
