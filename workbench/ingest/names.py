"""Payload names for files from any source: valid UTF-8 in NFC, no control characters, no
'.' or '..', no ':' (LTFS), at most 255 bytes a component. What had to change is kept
(the original bytes, as hex) so nothing about the source is lost."""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_BYTES = 255


ESCAPE = "#"  # not '%': RFC 8493 writes a payload '%' as %25 in manifests, and
# bagit-python (which Archivematica and many repositories run) cannot read it back


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"{ESCAPE}{code - 0xDC00:02X}"
    return "".join(f"{ESCAPE}{b:02X}" for b in ch.encode("utf-8"))


def safe_component(text: str, escaped: bool = False) -> str:
    """One path component made safe: ':' (LTFS), '%' (bagit-python), '\\' (Windows),
    '/', control characters and undecodable bytes become #XX (a literal '#' is #23, so
    the escape stays one-to-one). escaped: the text is as a file-system reader escaped it
    (identify.model.safe_component): that escaping is undone first, so a file gets the
    same payload name from an image as from a folder."""
    if escaped:
        text = unescape_reader(text)
    out = []
    for ch in text:
        if ch in ":%/\\\0" or ch == ESCAPE or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    name = unicodedata.normalize("NFC", "".join(out))
    if name in ("", ".", ".."):
        name = name.replace(".", f"{ESCAPE}2E") or f"{ESCAPE}00"
    if len(name.encode("utf-8")) > MAX_BYTES:
        tag = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        cut = name.encode("utf-8")[:MAX_BYTES - 13].decode("utf-8", "ignore")
        name = f"{cut}~{tag}"
    return name


def decode_component(raw: bytes) -> str:
    """Bytes of a name as text: UTF-8, undecodable bytes kept as surrogate escapes."""
    return raw.decode("utf-8", "surrogateescape")


class NameBook:
    """Gives each source path one payload name, unique after the changes above (two
    names equal after NFC, or after escaping, would clash in the bag): ~2, ~3 ..."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def name(self, parts: list[str], escaped: bool = False) -> str:
        safe = [safe_component(p, escaped) for p in parts]
        name = "/".join(safe)
        n = 2
        while name in self.used:
            stem, dot, ext = safe[-1].rpartition(".")
            last = f"{stem}~{n}.{ext}" if dot and stem else f"{safe[-1]}~{n}"
            name = "/".join([*safe[:-1], last])
            n += 1
        self.used.add(name)
        return name


_READER_ESCAPE = re.compile(r"%([0-9A-F]{2})|\\x([0-9a-f]{2})|\\u([0-9a-f]{4})")


def unescape_reader(path: str) -> str:
    """A path as the file-system readers escape it (identify.model.safe_component: '/',
    '\\' and '%' as %XX, control characters as \\xNN or \\uNNNN) back to the name on
    the medium. The escaping is one-to-one ('\\' and '%' are always escaped), so a name
    really holding the text '\\x01' stays apart from one holding the control character."""
    def one(part: str) -> str:
        if part in ("%2E", "%2E%2E", "%00"):
            return {"%2E": ".", "%2E%2E": "..", "%00": ""}[part]  # names made non-empty
        return _READER_ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2) or m.group(3),
                                                     16)), part)
    return "/".join(one(p) for p in path.split("/"))
