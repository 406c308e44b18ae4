"""Which PRONOM signatures identification uses, and loading newer ones offline.

fido ships its signatures inside site-packages (fido/conf): an upgrade replaces them, and
fido's own updater needs the network. A station instead loads a signature file it was
given (`workbench signatures load FILE`) into its data folder, beside the ledger:

    <ledger folder>/signatures/current.json     which set is in use (replaced atomically)
    <ledger folder>/signatures/set-<stamp>/     one folder per loaded set, never rewritten

A file may be a DROID signature file (FFSignatureFile, converted here to fido's format
XML), a fido formats XML, or a DROID container signature file (ContainerSignatureMapping);
the other half of the set is kept from the set in use. A set is tried (every regex
compiled, fido made to load it) before current.json names it: a bad file changes nothing.

A load is refused (nothing changed) when the file is not whole XML, when its half of the set
has fewer than half the signed formats (container: signatures) of the set in use (PRONOM
only grows between releases; a set that small is a truncated or wrong file and would leave
most files UNKNOWN), and when it is an older version than the one in use or its version
cannot be told, unless allow_older. Loads are serialised by an flock on
<store>/load.lock, so the set a load reports is the set in use when it returns.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from workbench.atomic import flock_within, write_atomic
from workbench.errors import BadInput

CURRENT = "current.json"
LOCK = "load.lock"
LOCK_WAIT = 60.0  # seconds a load waits for another one before it gives up
DROID_NS = "{http://www.nationalarchives.gov.uk/pronom/SignatureFile}"


@dataclass(frozen=True)
class SignatureSet:
    formats: str  # absolute path of fido's formats XML
    container: str  # absolute path of the container signature XML
    extensions: str  # fido's own extension signatures (fido-fmt/...), always fido's
    pronom_version: str  # e.g. "109"
    container_version: str  # the container file's signatureVersion, e.g. "25"
    source: str = "fido"  # fido (as installed) | loaded
    loaded_from: str = ""
    loaded_at: str = ""

    @property
    def label(self) -> str:
        """The signature version as reports and PREMIS events name it."""
        return (f"PRONOM v{self.pronom_version} ({Path(self.formats).name}), container "
                f"signatures v{self.container_version} ({Path(self.container).name})")


def fido_version() -> str:
    from fido import __version__
    return str(__version__)


def _container_version(path: Path) -> str:
    for _, element in ET.iterparse(path, events=("start",)):
        return element.get("signatureVersion") or _digits(path.name)
    return "unknown"


def _digits(name: str) -> str:
    found = re.search(r"(\d+)", name)
    return found.group(1) if found else "unknown"


def shipped() -> SignatureSet:
    """The set installed with fido."""
    from fido import versions
    from fido.fido import CONFIG_DIR
    local = versions.get_local_versions()
    conf = Path(CONFIG_DIR)
    container = conf / local.pronom_container_signature
    return SignatureSet(str(conf / local.pronom_signature), str(container),
                        str(conf / local.fido_extension_signature), str(local.pronom_version),
                        _container_version(container))


def store_dir(ledger: Path) -> Path:
    """The station's signature folder: beside its ledger, outside site-packages."""
    return ledger.parent / "signatures"


def active(store: Path | None) -> SignatureSet:
    """The loaded set when the store names one that is still there, else fido's own."""
    if store is None or not (store / CURRENT).is_file():
        return shipped()
    try:
        data = json.loads((store / CURRENT).read_text(encoding="utf-8"))
        found = SignatureSet(**{**data, "formats": str(store / data["formats"]),
                                "container": str(store / data["container"]),
                                "extensions": shipped().extensions})
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise BadInput("sig.error.current_damaged", file=str(store / CURRENT),
                       reason=str(exc)) from None
    if not (Path(found.formats).is_file() and Path(found.container).is_file()):
        raise BadInput("sig.error.current_damaged", file=str(store / CURRENT),
                       reason="a file of the set is missing")
    return found


def kind_of(path: Path) -> str:
    """droid | fido | container, from the XML root; BadInput for anything else."""
    tag = None
    try:  # to the end: a truncated file fails here, before anything changes
        for _, element in ET.iterparse(path, events=("start",)):
            if tag is None:
                tag = element.tag
        if tag is None:
            raise BadInput("sig.error.not_signatures", file=str(path))
    except ET.ParseError as exc:
        raise BadInput("sig.error.not_xml", file=str(path), reason=str(exc)) from None
    except OSError as exc:
        raise BadInput("sig.error.unreadable", file=str(path), reason=str(exc)) from None
    kinds = {f"{DROID_NS}FFSignatureFile": "droid", "formats": "fido",
             "ContainerSignatureMapping": "container"}
    if tag not in kinds:
        raise BadInput("sig.error.not_signatures", file=str(path))
    return kinds[tag]


@contextmanager
def _load_lock(store: Path, wait: float) -> Iterator[None]:
    """One load at a time per store; waits up to `wait` seconds (polling, with a deadline)."""
    store.mkdir(parents=True, exist_ok=True)
    lock = store / LOCK
    with open(lock, "a+b") as handle:
        if not flock_within(handle.fileno(), wait, poll=0.2):
            raise BadInput("sig.error.busy", lock=str(lock), seconds=f"{wait:g}")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _source_version(kind: str, source: Path) -> str:
    if kind == "droid":
        return _droid_version(source)
    if kind == "container":
        return _container_version(source)
    return _digits(source.name)


def _signed(path: Path, kind: str) -> int:
    """Formats with at least one signature (fido XML), or container signatures."""
    root = ET.parse(path).getroot()
    if kind == "container":
        return len(root.findall("ContainerSignatures/ContainerSignature"))
    return sum(1 for f in root.findall("format") if f.find("signature") is not None)


def _check_version(kind: str, source: Path, current: SignatureSet, allow_older: bool) -> None:
    new = _source_version(kind, source)
    old = current.container_version if kind == "container" else current.pronom_version
    if allow_older:
        return
    if not new.isdigit():
        raise BadInput("sig.error.version_unknown", file=str(source))
    if old.isdigit() and int(new) < int(old):
        raise BadInput("sig.error.older", file=str(source), version=new, current=old)


def load(store: Path, source: Path, allow_older: bool = False,
         lock_wait: float = LOCK_WAIT) -> SignatureSet:
    """Load a signature file into the store; the set in use changes only when the new set
    loads and compiles."""
    kind = kind_of(source)
    with _load_lock(store, lock_wait):
        current = active(store)  # read under the lock: the set a concurrent load left
        _check_version(kind, source, current, allow_older)
        candidate = _build(store, source, kind, current)
        record = {k: v for k, v in asdict(candidate).items() if k != "extensions"}
        record["formats"] = str(Path(candidate.formats).relative_to(store))
        record["container"] = str(Path(candidate.container).relative_to(store))
        write_atomic(store / CURRENT, json.dumps(record, indent=2) + "\n")
    return candidate


def _build(store: Path, source: Path, kind: str, current: SignatureSet) -> SignatureSet:
    """The new set in its own folder, tried; the folder is removed when it fails."""
    from workbench.identify.signatures_droid import droid_to_fido
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = store / f"set-{stamp}"
    folder.mkdir(parents=True)
    try:
        formats, container = Path(current.formats), Path(current.container)
        pronom, container_version = current.pronom_version, current.container_version
        if kind == "droid":
            pronom = _droid_version(source)
            formats = folder / f"formats-v{pronom}.xml"
            if not droid_to_fido(source, formats):
                raise BadInput("sig.error.no_formats", file=str(source))
        elif kind == "fido":
            formats = folder / source.name
            shutil.copyfile(source, formats)
            pronom = _digits(source.name)
        else:
            container = folder / source.name
            shutil.copyfile(source, container)
            container_version = _container_version(container)
        half, before = ((container, Path(current.container)) if kind == "container"
                        else (formats, Path(current.formats)))
        count, floor = _signed(half, kind), _signed(before, kind) / 2
        if not count:
            raise BadInput("sig.error.no_formats", file=str(source))
        if count < floor:
            raise BadInput("sig.error.too_few", file=str(source), count=count,
                           current=_signed(before, kind))
        for kept in (formats, container):  # the half kept from the set in use, copied in
            if kept.parent != folder:
                shutil.copyfile(kept, folder / kept.name)
        candidate = SignatureSet(str(folder / formats.name), str(folder / container.name),
                                 current.extensions, pronom, container_version, "loaded",
                                 str(source.resolve()),
                                 datetime.now(UTC).isoformat(timespec="seconds"))
        _try(candidate, source)
    except ET.ParseError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise BadInput("sig.error.not_xml", file=str(source), reason=str(exc)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return candidate


def _droid_version(path: Path) -> str:
    for _, element in ET.iterparse(path, events=("start",)):
        return element.get("Version") or _digits(path.name)
    return "unknown"


def _try(candidate: SignatureSet, source: Path) -> None:
    """Make fido load the set and compile every pattern, as identification will."""
    from workbench.identify.formats import FidoUnavailable, FormatIdentifier
    try:
        identifier = FormatIdentifier(candidate)
    except FidoUnavailable as exc:
        raise BadInput("sig.error.fido_refused", file=str(source), reason=str(exc)) from None
    except (ET.ParseError, KeyError, AttributeError, TypeError, ValueError) as exc:
        raise BadInput("sig.error.fido_refused", file=str(source),
                       reason=f"{type(exc).__name__}: {exc}") from None
    if not identifier.format_count:
        raise BadInput("sig.error.no_formats", file=str(source))
