"""Classic Mac names: raw bytes in the volume's Mac script. MacRoman is the default; a
station whose legacy code page is Japanese (cp932 and kin) reads them as MacJapanese.

Python has no MacJapanese codec. It is Shift_JIS (JIS X 0208) with Apple's single-byte
changes (Apple's JAPANESE.TXT): 0x5C yen sign, 0x80 backslash, 0xA0 no-break space, 0xFD
copyright, 0xFE trade mark, 0xFF ellipsis. Apple's own double-byte additions (lead bytes
0x85-0x86, 0xEB-0xED vertical forms) differ from Microsoft's cp932 extensions in the same
rows, so they are not guessed: such a name is flagged undecodable and its raw bytes kept.
"""

from __future__ import annotations

JAPANESE_CODEPAGES = {"cp932", "shift_jis", "sjis", "ms932", "windows_31j", "mac_japanese",
                      "macjapanese", "shift_jisx0213", "euc_jp", "iso2022_jp"}
_SINGLE = {0x5C: "\u00a5", 0x80: "\\", 0xA0: "\u00a0", 0xFD: "\u00a9", 0xFE: "\u2122",
           0xFF: "\u2026"}
_APPLE_ROWS = {0x85, 0x86, 0xEB, 0xEC, 0xED}


# Script codes (Inside Macintosh: Text) a Finder info script byte may name, with the
# closest Python codec; the others fall back to the station's choice.
SCRIPTS = {0: "mac_roman", 1: "mac_japanese"}
SCRIPT_FLAG = 0x80  # fdScript / frScript: the low bits give the name's script


def name_codec(script_byte: int, default: str) -> str:
    """The codec for one name: its Finder info script when flagged, else the default."""
    if script_byte & SCRIPT_FLAG:
        return SCRIPTS.get(script_byte & 0x7F, default)
    return default


def decode_name_of(raw: bytes, codec: str) -> tuple[str, bool, list[str]]:
    """(text, clean, warnings). A name that is not MacJapanese on a Japanese station is
    shown as MacRoman (which decodes every byte) and marked, its raw bytes kept."""
    text, clean = decode_mac(raw, codec)
    if not clean and codec == "mac_japanese":
        return decode_mac(raw, "mac_roman")[0], True, ["name_not_mac_japanese"]
    return text, clean, []


def mac_codec(codepage: str) -> str:
    """The Mac script for a station's legacy code page."""
    key = codepage.replace("-", "_").lower()
    return "mac_japanese" if key in JAPANESE_CODEPAGES else "mac_roman"


def _lead(b: int) -> bool:
    return 0x81 <= b <= 0x9F or 0xE0 <= b <= 0xFC


def decode_mac_japanese(raw: bytes) -> tuple[str, bool]:
    out: list[str] = []
    clean = True
    i = 0
    while i < len(raw):
        b = raw[i]
        if b in _SINGLE:
            out.append(_SINGLE[b])
            i += 1
        elif b < 0x80 or 0xA1 <= b <= 0xDF:
            out.append(raw[i:i + 1].decode("shift_jis"))
            i += 1
        elif _lead(b) and i + 1 < len(raw) and b not in _APPLE_ROWS:
            try:
                out.append(raw[i:i + 2].decode("shift_jis"))
            except UnicodeDecodeError:
                out.append("\ufffd")
                clean = False
            i += 2
        else:
            out.append("\ufffd")
            clean = False
            i += 2 if _lead(b) and i + 1 < len(raw) else 1
    return "".join(out), clean


def decode_mac(raw: bytes, codec: str) -> tuple[str, bool]:
    """(text, clean): undecodable bytes show as U+FFFD, clean False (raw kept by caller)."""
    if codec == "mac_japanese":
        return decode_mac_japanese(raw)
    try:
        return raw.decode(codec), True
    except UnicodeDecodeError:
        return raw.decode(codec, errors="replace"), False
