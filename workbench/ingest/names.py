"""Payload names for files from any source: valid UTF-8 in NFC, no control characters, no
'.' or '..', no ':' (LTFS), at most 255 bytes a component. What had to change is kept
(the original bytes, as hex) so nothing about the source is lost."""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_BYTES = 255


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"%{code - 0xDC00:02X}"
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))


def safe_component(text: str, escaped: bool = False) -> str:
    """One path component made safe. escaped: the text already had '/', '%' and control
    characters escaped by a file-system reader (identify.model.safe_component): only
    what LTFS and bags need more is changed."""
    out = []
    for ch in text:
        if ch == ":" or (ch == "%" and not escaped) or ch == "/" or ch == "\0" or \
                unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    name = unicodedata.normalize("NFC", "".join(out))
    if name in ("", ".", ".."):
        name = name.replace(".", "%2E") or "%00"
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
            return ""  # '.', '..' or empty: no checksum list names them
        return _READER_ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2) or m.group(3),
                                                     16)), part)
    return "/".join(one(p) for p in path.split("/"))
