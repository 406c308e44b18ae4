"""Format identification with fido (opf-fido 1.6.1), in process, fixing its defects.

fido's own entry points are not used for matching; its signature data and container
classes are. What this adapter fixes (each has a test):

- the default constructor looks for formats-v104.xml, which is not shipped: the files
  named by fido.versions.get_local_versions() are passed instead;
- the container-signature constructor argument is ignored: the file is taken from the
  versions file and parsed here, once, with its ZIP and OLE2 signatures extracted once
  (fido re-parses the XML, ~12 ms, for every zip/OLE2 file);
- identify_stream never returns on a BytesIO: bytes are given to identify() directly;
- with extension matching off, a file with no match gets no callback: identify() always
  returns a result, "unidentified" when nothing matched;
- it prints to stderr and may call sys.exit: construction runs with stderr captured and
  SystemExit turned into an error; matching never prints;
- regexes are compiled once (fido relies on re's cache, which it resizes).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from workbench.identify.signatures import SignatureSet

BUFSIZE = 128 * 1024  # fido's default: bytes at the start and end that are matched
_POSITIONS = ("BOF", "EOF", "VAR", "IFB")


class FidoUnavailable(RuntimeError):
    """fido's signature files could not be loaded."""


@dataclass(frozen=True)
class FormatMatch:
    puid: str
    name: str
    version: str = ""
    mime: str = ""


@dataclass(frozen=True)
class Identification:
    puid: str = ""
    name: str = ""
    version: str = ""
    mime: str = ""
    basis: str = "none"  # signature | container | extension | none
    matches: tuple[FormatMatch, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def identified(self) -> bool:
        return bool(self.puid)


@dataclass
class _Signature:
    name: str
    patterns: list[tuple[str, re.Pattern[bytes]]] | None  # None: a regex does not compile
    first: int | None = None  # the byte the file must start with, when the BOF regex says so
    # each pattern as the regex method to call and whether it reads the end buffer: fido's
    # positions (BOF: match the start; EOF: search the end; VAR/IFB: search the start;
    # others ignored) decided once, not per file
    checks: tuple[tuple[Callable[[bytes], object], bool], ...] = ()

    def __post_init__(self) -> None:
        checks: list[tuple[Callable[[bytes], object], bool]] = []
        for pos, rx in self.patterns or ():
            if pos == "BOF":
                checks.append((rx.match, False))
            elif pos == "EOF":
                checks.append((rx.search, True))
            elif pos in ("VAR", "IFB"):
                checks.append((rx.search, False))
        self.checks = tuple(checks)


_SPECIAL = set(b".^$*+?{}[]|()\\")


def _first_byte(pattern: bytes) -> int | None:
    """The literal first byte a \\A-anchored regex demands, or None when it does not."""
    if not pattern.startswith(b"(?s)\\A"):
        return None
    body, depth = pattern[6:], 0
    for i, ch in enumerate(body):  # a top-level alternative escapes the anchor
        if ch == ord("\\"):
            continue
        if ch in b"([":
            depth += 1
        elif ch in b")]":
            depth -= 1
        elif ch == ord("|") and depth == 0 and (i == 0 or body[i - 1] != ord("\\")):
            return None
    if body.startswith(b"\\x") and len(body) >= 4:
        try:
            value, rest = int(body[2:4], 16), body[4:]
        except ValueError:
            return None
    elif body[:1] == b"\\" and len(body) >= 2 and not body[1:2].isalnum():
        value, rest = body[1], body[2:]
    elif body and body[0] not in _SPECIAL:
        value, rest = body[0], body[1:]
    else:
        return None
    return None if rest[:1] in (b"?", b"*", b"{") else value


@dataclass
class _Format:
    element: ET.Element
    match: FormatMatch
    extensions: frozenset[str]
    signatures: list[_Signature] = field(default_factory=list)


def _text(element: ET.Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()


class FormatIdentifier:
    """One per process: loading the signatures takes about a second."""

    def __init__(self, signatures: SignatureSet | str | os.PathLike | None = None) -> None:
        """signatures: a SignatureSet, or the station's signature folder (the set loaded
        there, else fido's own), or None for fido's own set."""
        from fido import fido as fido_module
        from fido.package import OlePackage, ZipPackage

        from workbench.identify.signatures import SignatureSet, active, fido_version
        if not isinstance(signatures, SignatureSet):
            signatures = active(None if signatures is None else Path(signatures))
        self.signature_set = signatures
        conf = fido_module.CONFIG_DIR
        fido_module.defaults["containersignature_file"] = signatures.container
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                self._fido = fido_module.Fido(
                    quiet=True, handle_matches=lambda *a: None, conf_dir=conf,
                    format_files=[signatures.formats, signatures.extensions])
                tree = ET.parse(signatures.container)
                self._containers = {
                    "zip": (ZipPackage, self._fido.extract_signatures(tree, "ZIP")),
                    "ole": (OlePackage, self._fido.extract_signatures(tree, "OLE2")),
                }
        except SystemExit as exc:
            raise FidoUnavailable(stderr.getvalue().strip() or str(exc)) from None
        self.fido_version = fido_version()
        self.signature_version = signatures.label
        self._priority = self._fido.puid_has_priority_over_map
        self._formats = [self._compile(e) for e in self._fido.formats]
        self._by_puid = {f.match.puid: f for f in self._formats}
        self._by_first: dict[int, list[tuple[_Format, list[_Signature]]]] = {}
        self._by_extension: dict[str, list[tuple[_Format, str]]] = {}
        from workbench.identify.signatures_local import GENERIC, local_match
        self._local, self._generic = local_match, GENERIC

    @property
    def format_count(self) -> int:
        """PRONOM formats with at least one signature."""
        return sum(1 for f in self._formats if f.signatures)

    @staticmethod
    def _compile(element: ET.Element) -> _Format:
        match = FormatMatch(_text(element, "puid"), _text(element, "name"),
                            _text(element, "version"), _text(element, "mime"))
        fmt = _Format(element, match,
                      frozenset(_text(e, ".").lower() for e in element.findall("extension")))
        for sig in element.findall("signature"):
            found: list[tuple[str, re.Pattern[bytes]]] = []
            patterns: list[tuple[str, re.Pattern[bytes]]] | None = found
            for pat in sig.findall("pattern"):
                regex = pat.findtext("regex")
                try:
                    compiled = None if regex is None else re.compile(regex.encode("utf8"))
                except re.error:
                    compiled = None
                if compiled is None:
                    patterns = None  # fido's matcher would raise here and skip the rest
                    break
                found.append((_text(pat, "position"), compiled))
            first = None
            if patterns and patterns[0][0] == "BOF":
                first = _first_byte(patterns[0][1].pattern)
            fmt.signatures.append(_Signature(_text(sig, "name"), patterns, first))
        return fmt

    def _candidates(self, first: int) -> list[tuple[_Format, list[_Signature]]]:
        """Formats (in fido's order) with the signatures that can match a file starting
        with this byte: the others cannot, so skipping them changes no answer."""
        found = self._by_first.get(first)
        if found is None:
            found = []
            for fmt in self._formats:
                sigs = [s for s in fmt.signatures if s.first is None or s.first == first]
                if sigs:
                    found.append((fmt, sigs))
            self._by_first[first] = found
        return found

    # -- matching, as fido.match_formats does it ----------------------------------------
    def _as_good_as_any(self, fmt: _Format, found: list[tuple[_Format, str]]) -> bool:
        return not any(other is not fmt and fmt.match.puid in self._priority[other.match.puid]
                       for other, _ in found)

    def _signature_matches(self, bof: bytes, eof: bytes) -> list[tuple[_Format, str]]:
        found: list[tuple[_Format, str]] = []
        for fmt, sigs in self._candidates(bof[0] if bof else -1):
            if found and not self._as_good_as_any(fmt, found):
                continue
            for sig in sigs:
                if sig.patterns is None:
                    break
                for method, at_end in sig.checks:  # the hot loop: one regex call a pattern
                    if method(eof if at_end else bof) is None:
                        break
                else:
                    found.append((fmt, sig.name))
        return [m for m in found if self._as_good_as_any(m[0], found)]

    def _container_matches(self, kind: str, stream: BinaryIO) -> list[tuple[_Format, str]]:
        package, signatures = self._containers[kind]
        try:
            puids = package(stream, signatures).detect_formats()
        except Exception:  # a damaged container is simply not matched
            return []
        return [(self._by_puid[p], self._by_puid[p].match.name) for p in puids
                if p in self._by_puid]

    def _extension_matches(self, name: str) -> list[tuple[_Format, str]]:
        ext = os.path.splitext(name)[1].lower().lstrip(".")
        if not ext:
            return []
        known = self._by_extension.get(ext)
        if known is None:  # the same answer for every file with this extension
            found = [(f, "External") for f in self._formats if ext in f.extensions]
            known = self._by_extension[ext] = [
                m for m in found if self._as_good_as_any(m[0], found)]
        return list(known)

    # -- the public face -------------------------------------------------------------
    def identify(self, name: str, size: int, bof: bytes, eof: bytes,
                 open_stream: Callable[[], BinaryIO] | None = None,
                 extension: bool = True) -> Identification:
        """Identify a file from its first and last BUFSIZE bytes (the whole file when
        smaller). open_stream gives a seekable stream of the whole file for zip/OLE2
        container signatures; None skips them."""
        matches = self._signature_matches(bof, eof) if size else []
        basis = "signature" if matches else "none"
        kind = next((self._container_kind(f) for f, _ in matches if self._container_kind(f)),
                    None)
        if kind in self._containers and open_stream is not None:
            with open_stream() as stream:
                inner = self._container_matches(kind, stream)
            if inner:
                matches, basis = inner, "container"
        if not matches or (basis == "signature"
                           and all(f.match.puid in self._generic for f, _ in matches)):
            local = self._local(name, size, bof, open_stream)
            if local is not None:  # a local signature (signatures_local): marked as such
                fmt, how = local
                return Identification(fmt.puid, fmt.name, fmt.version, fmt.mime, how, (fmt,),
                                      ("local_signature",))
        if not matches and extension:
            matches = self._extension_matches(name)
            basis = "extension" if matches else "none"
        return self._result(name, matches, basis)

    def identify_bytes(self, name: str, data: bytes, extension: bool = True) -> Identification:
        return self.identify(name, len(data), data[:BUFSIZE], data[-BUFSIZE:],
                             lambda: io.BytesIO(data), extension)

    def _container_kind(self, fmt: _Format) -> str | None:
        container = fmt.element.findtext("container")
        if container:
            return container
        return "ole" if fmt.match.puid == "fmt/111" else None

    def _result(self, name: str, matches: list[tuple[_Format, str]],
                basis: str) -> Identification:
        if not matches:
            return Identification(warnings=("unidentified",))
        first = matches[0][0]
        warnings = []
        if len(matches) > 1:
            warnings.append("multiple_ids")
        if basis == "extension":
            warnings.append("extension_only")
        ext = os.path.splitext(name)[1].lower().lstrip(".")
        if basis in ("signature", "container") and ext and first.extensions \
                and ext not in first.extensions:
            warnings.append("extension_mismatch")
        return Identification(first.match.puid, first.match.name, first.match.version,
                              first.match.mime, basis, tuple(f.match for f, _ in matches),
                              tuple(warnings))
