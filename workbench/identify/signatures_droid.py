"""A DROID signature file (FFSignatureFile) as fido's formats XML, offline.

fido's own converter (fido.prepare) reads PRONOM's per-format XML records, which only its
updater downloads. A DROID signature file holds the same byte sequences, compiled into
subsequences and fragments; each ByteSequence is turned back into PRONOM's pattern syntax
here and handed to fido.prepare.convert_to_regex, so the regexes are fido's own.

Reassembly (DROID's signature file layout):
- BOF subsequences run left to right by Position; the first one's SubSeqMin/MaxOffset is
  the offset from the start, a later one's is the gap after the previous one;
- EOF subsequences run right to left: Position 1 ends nearest the end of the file;
- a subsequence's LeftFragments (Position 1 nearest the sequence) precede it and its
  RightFragments follow it; fragments sharing a Position are alternatives; a fragment's
  Min/MaxOffset is the gap between it and its neighbour nearer the sequence.
"""

from __future__ import annotations

import contextlib
import io
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from workbench.identify.signatures import DROID_NS as NS

_POSITIONS = {"BOFoffset": "BOF", "EOFoffset": "EOF", None: "VAR", "": "VAR",
              "Variable": "VAR", "IndirectBOFoffset": "IFB"}


def _gap(low: str | None, high: str | None) -> str:
    low = low or "0"
    if high is None or high == "":
        return "*" if low == "0" else f"{{{low}-*}}"
    if low == high:
        return "" if low == "0" else f"{{{low}}}"
    return f"{{{low}-{high}}}"


def _alternatives(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else "(" + "|".join(texts) + ")"


def _fragments(sub: ET.Element, side: str) -> list[tuple[str, str]]:
    """(fragment text, gap) pairs ordered from the sequence outwards."""
    by_position: dict[int, list[ET.Element]] = defaultdict(list)
    for frag in sub.findall(f"{NS}{side}Fragment"):
        by_position[int(frag.get("Position", "1"))].append(frag)
    out = []
    for position in sorted(by_position):
        frags = by_position[position]
        out.append((_alternatives([f.text or "" for f in frags]),
                    _gap(frags[0].get("MinOffset"), frags[0].get("MaxOffset"))))
    return out


def _subsequence(sub: ET.Element) -> str:
    text = sub.findtext(f"{NS}Sequence") or ""
    for frag, gap in _fragments(sub, "Left"):
        text = frag + gap + text
    for frag, gap in _fragments(sub, "Right"):
        text = text + gap + frag
    return text


def pronom_pattern(sequence: ET.Element) -> tuple[str, str, str, str]:
    """(position, PRONOM byte sequence, offset, max offset) of a DROID ByteSequence."""
    position = _POSITIONS.get(sequence.get("Reference"), "VAR")
    subs = sorted(sequence.findall(f"{NS}SubSequence"), key=lambda s: int(s.get("Position",
                                                                                  "1")))
    if not subs:
        return position, "", "0", ""
    first = subs[0]
    offset, max_offset = first.get("SubSeqMinOffset") or "0", first.get("SubSeqMaxOffset")
    if position == "EOF":
        text = _subsequence(first)
        for sub in subs[1:]:  # each one further from the end of the file
            text = _subsequence(sub) + _gap(sub.get("SubSeqMinOffset"),
                                            sub.get("SubSeqMaxOffset")) + text
    else:
        text = _subsequence(first)
        for sub in subs[1:]:
            text += _gap(sub.get("SubSeqMinOffset"), sub.get("SubSeqMaxOffset")) + \
                _subsequence(sub)
    if position == "VAR":
        offset, max_offset = "0", None
    return position, text, offset, max_offset or ""


def droid_to_fido(source: Path, target: Path) -> int:
    """Write fido's formats XML for a DROID signature file; returns the formats written.
    Raises ValueError on a file that is not a DROID signature file."""
    from fido.prepare import FLG_INCOMPATIBLE, FormatInfo, convert_to_regex
    root = ET.parse(source).getroot()
    if root.tag != f"{NS}FFSignatureFile":
        raise ValueError("not a DROID signature file")
    signatures = {s.get("ID"): s for s in root.iter(f"{NS}InternalSignature")}
    formats = root.findall(f"{NS}FileFormatCollection/{NS}FileFormat")
    puid_of = {f.get("ID"): f.get("PUID", "") for f in formats}
    out = []
    quiet = io.StringIO()
    for fmt in formats:
        element = ET.Element("format")
        ET.SubElement(element, "puid").text = fmt.get("PUID", "")
        for mime in (fmt.get("MIMEType") or "").split(","):
            if mime.strip():
                ET.SubElement(element, "mime").text = mime.strip()
                break
        if fmt.get("PUID") == "x-fmt/263":
            ET.SubElement(element, "container").text = "zip"
        elif fmt.get("PUID") == "x-fmt/265":
            ET.SubElement(element, "container").text = "tar"
        ET.SubElement(element, "name").text = fmt.get("Name", "")
        ET.SubElement(element, "version").text = fmt.get("Version", "")
        ET.SubElement(element, "alias").text = ""
        ET.SubElement(element, "pronom_id").text = fmt.get("ID", "")
        for ext in fmt.findall(f"{NS}Extension"):
            ET.SubElement(element, "extension").text = ext.text or ""
        for worse in fmt.findall(f"{NS}HasPriorityOverFileFormatID"):
            if worse.text in puid_of:
                ET.SubElement(element, "has_priority_over").text = puid_of[worse.text or ""]
        for sig_id in fmt.findall(f"{NS}InternalSignatureID"):
            sig = signatures.get(sig_id.text)
            if sig is None:
                continue
            fido_sig = ET.SubElement(element, "signature")
            ET.SubElement(fido_sig, "name").text = f"{fmt.get('Name', '')} ({sig.get('ID')})"
            for sequence in sig.findall(f"{NS}ByteSequence"):
                position, text, offset, max_offset = pronom_pattern(sequence)
                try:
                    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
                        regex = convert_to_regex(text, "Little", position, offset, max_offset)
                except Exception:  # fido cannot express it: fido.prepare drops it too
                    regex = FLG_INCOMPATIBLE
                if regex == FLG_INCOMPATIBLE:
                    element.remove(fido_sig)
                    break
                pattern = ET.SubElement(fido_sig, "pattern")
                ET.SubElement(pattern, "position").text = position
                ET.SubElement(pattern, "pronom_pattern").text = text
                ET.SubElement(pattern, "regex").text = regex
        out.append(element)
    info = FormatInfo(None)  # fido.prepare's writer; the order stays DROID's (by format ID)
    info.formats = out
    info.save(str(target))
    return len(out)
