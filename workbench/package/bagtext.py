"""Reading the text of any bag (BagIt 0.93 to 1.0, RFC 8493): the bag declaration, tag
files in their declared encoding, manifest and fetch lines, and the paths they name.

Nothing here touches the payload: paths are judged as text, so a path that leads out
of the bag is refused before anything could open it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench.i18n import t

# RFC 8493 2.2: lines end with LF, CR or CRLF, and nothing else (str.splitlines would
# also split on U+2028, form feeds... which are legal in file names)
_LINE_END = re.compile(r"\r\n|\r|\n")
_VERSION = re.compile(r"(\d+)\.(\d+)")
SUPPORTED = ((0, 93), (0, 94), (0, 95), (0, 96), (0, 97), (1, 0))
_HEX = re.compile(r"[0-9A-Fa-f]+")
# drive letters, "\\server" and "\\?\" namespaces, "\x", and "%HomeDrive%"-style variables
_WINDOWS_ABSOLUTE = re.compile(r"^([A-Za-z]:|[\\/]{2}|\\|%[A-Za-z0-9_]+%)")


@dataclass(frozen=True)
class Problem:
    """One finding: code is a catalog key under "bagcheck." (words via i18n); error
    False means a warning (the bag may still be valid)."""

    code: str
    path: str = ""
    detail: str = ""
    error: bool = True


def printable(text: str) -> str:
    """Names from a bag may hold newlines, control characters or undecodable bytes
    (surrogate escapes): shown escaped, so one problem stays one line and printing
    never fails."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def describe(problem: Problem, lang: str | None = None) -> str:
    return t(f"bagcheck.{problem.code}", lang=lang, path=printable(problem.path),
             detail=printable(problem.detail))


@dataclass
class Declaration:
    version: tuple[int, int] | None = None
    encoding: str | None = None
    problems: list[Problem] = field(default_factory=list)


def split_lines(text: str) -> list[str]:
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the last line's ending (RECOMMENDED, not required)
    return lines


def read_declaration(bag: Path) -> Declaration:
    """bagit.txt: exactly two lines, UTF-8 without BOM (RFC 8493 2.1.1)."""
    decl = Declaration()
    problems = decl.problems
    try:
        raw = (bag / "bagit.txt").read_bytes()
    except OSError as exc:
        problems.append(Problem("unreadable", "bagit.txt", exc.strerror or str(exc)))
        return decl
    if raw.startswith(codecs.BOM_UTF8):
        problems.append(Problem("declaration_bom", "bagit.txt"))
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(Problem("declaration_not_utf8", "bagit.txt"))
        return decl
    lines = [line for line in split_lines(text)]
    fields: dict[str, str] = {}
    strict: dict[str, bool] = {}
    if any(not line.strip() for line in lines):  # "exactly two lines": a blank one is a third
        problems.append(Problem("declaration_blank_line", "bagit.txt", error=False))
    for line in lines:
        if not line.strip():
            continue
        label, colon, value = line.partition(":")
        if not colon:
            problems.append(Problem("declaration_bad_line", "bagit.txt", line[:80]))
            continue
        name = label.strip()
        if name in fields:
            problems.append(Problem("declaration_bad_line", "bagit.txt", line[:80]))
        fields[name] = value.strip()
        strict[name] = label == name and value.startswith(" ") and value[1:] == value.strip()
    version = fields.get("BagIt-Version")
    if version is None:
        problems.append(Problem("declaration_missing", "bagit.txt", "BagIt-Version"))
        return decl
    match = _VERSION.fullmatch(version)
    if not match:
        problems.append(Problem("version_malformed", "bagit.txt", version))
        return decl
    decl.version = (int(match[1]), int(match[2]))
    if decl.version not in SUPPORTED:
        problems.append(Problem("version_unsupported", "bagit.txt", version))
        return decl
    encoding = fields.get("Tag-File-Character-Encoding")
    if encoding is None:
        problems.append(Problem("declaration_missing", "bagit.txt",
                                "Tag-File-Character-Encoding"))
    else:
        try:
            codecs.lookup(encoding)
            decl.encoding = encoding
        except LookupError:
            problems.append(Problem("encoding_unknown", "bagit.txt", encoding))
    if list(fields)[:2] == ["Tag-File-Character-Encoding", "BagIt-Version"]:
        problems.append(Problem("declaration_order", "bagit.txt"))  # RFC 8493 2.1.1
    names = [n for n in fields if n not in ("BagIt-Version", "Tag-File-Character-Encoding")]
    if names:
        problems.append(Problem("declaration_bad_line", "bagit.txt", names[0][:80]))
    loose = [n for n in ("BagIt-Version", "Tag-File-Character-Encoding")
             if n in strict and not strict[n]]
    if loose:  # "BagIt-Version : 1.0": RFC 8493's one form is "Label: value"
        problems.append(Problem("declaration_whitespace", "bagit.txt", loose[0],
                                error=decl.version >= (1, 0)))
    return decl


def is_utf16(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-16"


def decode_tag_file(raw: bytes, encoding: str, name: str) -> tuple[str | None, list[Problem]]:
    """The text of a tag file in the bag's declared encoding; a BOM is dropped (one is
    needed to read UTF-16, and tolerated with a warning in UTF-8)."""
    problems: list[Problem] = []
    codec = codecs.lookup(encoding).name
    if codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
        problems.append(Problem("tag_file_bom", name, encoding, error=False))
        raw = raw[len(codecs.BOM_UTF8):]
    elif codec == "utf-16" and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16-be"  # RFC 2781 4.3: without a BOM, big-endian
    try:
        return raw.decode(codec), problems
    except (UnicodeDecodeError, LookupError):
        return None, [*problems, Problem("tag_file_undecodable", name, encoding)]


def read_tag_lines(bag: Path, name: str, encoding: str) -> tuple[list[str] | None, list[Problem]]:
    try:
        raw = (bag / name).read_bytes()
    except OSError as exc:
        return None, [Problem("unreadable", name, exc.strerror or str(exc))]
    text, problems = decode_tag_file(raw, encoding, name)
    return (split_lines(text) if text is not None else None), problems


def decode_path(path: str, version: tuple[int, int]) -> str:
    """Percent-decoding of manifest and fetch paths: RFC 8493 encodes CR, LF and % (and
    only those); 0.97 encoded CR and LF only, so "%25" there is three characters."""
    codes = {"0D": "\r", "0A": "\n", **({"25": "%"} if version >= (1, 0) else {})}
    return re.sub(r"%(0[DdAa]|25)", lambda m: codes.get(m[1].upper(), m[0]), path)


@dataclass(frozen=True)
class BagPath:
    """A path named by a manifest or fetch.txt: plain (use it), or refused (never read)."""

    raw: str
    path: str | None
    problems: tuple[Problem, ...] = ()


def judge_path(raw: str, source: str, version: tuple[int, int]) -> BagPath:
    """RFC 8493 7.2: paths must not reach outside the bag ("/", "..", "~user", and on
    Windows drive letters and "\\\\?\\"). A leading "./" is a relative path into the
    bag: accepted with a warning (the conformance suite's v0.97 cases)."""
    decoded = decode_path(raw, version)
    problems: list[Problem] = []
    where = f"{source}: {raw}"
    if not decoded:
        return BagPath(raw, None, (Problem("path_empty", source),))
    if decoded.startswith("/") or _WINDOWS_ABSOLUTE.match(decoded) or decoded.startswith("~"):
        return BagPath(raw, None, (Problem("path_outside", where),))
    if "\0" in decoded:
        return BagPath(raw, None, (Problem("path_unusual", where),))
    if decoded.startswith("./"):
        while decoded.startswith("./"):
            decoded = decoded[2:]
        problems.append(Problem("path_dot_slash", where, error=False))
    parts = decoded.split("/")
    if ".." in parts:
        return BagPath(raw, None, (Problem("path_outside", where),))
    if "." in parts or "" in parts:
        return BagPath(raw, None, (*problems, Problem("path_unusual", where)))
    if "\\" in decoded:
        problems.append(Problem("path_backslash", where, error=False))
    return BagPath(raw, decoded, tuple(problems))


@dataclass(frozen=True)
class ManifestLine:
    checksum: str
    path: BagPath


def parse_manifest(lines: list[str], name: str, version: tuple[int, int]
                   ) -> tuple[list[ManifestLine], list[Problem]]:
    """checksum, one or more spaces or tabs, filepath. md5sum's "*" (binary mode) before
    the path is accepted with the warning RFC 8493 asks for."""
    entries: list[ManifestLine] = []
    problems: list[Problem] = []
    star_warned = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([^ \t]+)[ \t]+(.+)", line.lstrip(" \t"))
        if not match or not _HEX.fullmatch(match[1]):
            problems.append(Problem("manifest_bad_line", f"{name}:{number}", line[:80]))
            continue
        raw = match[2]
        if raw.startswith("*"):
            raw = raw[1:]
            if not star_warned:
                problems.append(Problem("manifest_md5sum_star", name, error=False))
                star_warned = True
        entries.append(ManifestLine(match[1].lower(), judge_path(raw, name, version)))
    return entries, problems


@dataclass(frozen=True)
class FetchLine:
    url: str
    length: str
    path: BagPath


def parse_fetch(lines: list[str], version: tuple[int, int]
                ) -> tuple[list[FetchLine], list[Problem]]:
    """url length filepath; url an absolute URI, length digits or "-"."""
    entries: list[FetchLine] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.strip(" \t").split(None, 2)
        where = f"fetch.txt:{number}"
        if len(parts) != 3 or not (parts[1] == "-" or parts[1].isdigit()):
            problems.append(Problem("fetch_bad_line", where, line[:80]))
            continue
        url, length, raw = parts
        if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url):
            problems.append(Problem("fetch_bad_url", where, url[:80]))
        entries.append(FetchLine(url, length, judge_path(raw, "fetch.txt", version)))
    return entries, problems


def parse_info(lines: list[str], name: str, version: tuple[int, int]
               ) -> tuple[list[tuple[str, str]], list[Problem]]:
    """Label: value lines, continued by indented lines (RFC 8493 2.2.2). Before 1.0 any
    whitespace around the colon is accepted; in 1.0 it is a warning (the metadata is
    for people; no byte of the bag depends on it)."""
    fields: list[tuple[str, str]] = []
    problems: list[Problem] = []
    loose = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line[0] in " \t" and fields:
            fields[-1] = (fields[-1][0], f"{fields[-1][1]} {line.strip()}")
            continue
        label, colon, value = line.partition(":")
        if not colon or not label.strip():
            problems.append(Problem("info_bad_line", f"{name}:{number}", line[:80]))
            continue
        if label != label.strip() or not re.match(r"[ \t]\S|[ \t]?$", value):
            loose = True
        fields.append((label.strip(), value.strip()))
    if loose and version >= (1, 0):
        problems.append(Problem("info_whitespace", name, error=False))
    return fields, problems
