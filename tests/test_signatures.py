"""Signatures: fido's and PRONOM's versions in reports and PREMIS, loading a newer signature
file offline (and refusing a bad one without changing anything), local signatures."""

from __future__ import annotations

import fcntl
import json
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import olefile
import pytest
import xmlschema

from tests.conftest import MEDIA, workbench_cmd
from workbench import PROJECT_ROOT
from workbench.config import Settings
from workbench.errors import BadInput, ExitCode
from workbench.identify import signatures
from workbench.identify.engine import identify_image
from workbench.identify.formats import FormatIdentifier
from workbench.identify.pool import IdentifyPool
from workbench.identify.signatures_droid import droid_to_fido
from workbench.identify.signatures_local import LOCAL_WARNING
from workbench.package.premis import Event, PremisDocument, PremisObject

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parent / "premis-subset.xsd"))
SHIPPED = signatures.shipped()
CONF = Path(SHIPPED.formats).parent
DROID = next(CONF.glob("DROID_SignatureFile-v*.xml"))
NS = "http://www.nationalarchives.gov.uk/pronom/SignatureFile"


@pytest.fixture(scope="module")
def ident() -> FormatIdentifier:
    return FormatIdentifier()


def station(tmp_path: Path) -> Settings:
    base = Settings()
    return replace(base, organisation="National Library", operator="Sato",
                   free_space_margin=0,
                   paths=replace(base.paths, staging=tmp_path / "staging",
                                 bags=tmp_path / "bags", ledger=tmp_path / "data" / "l.sqlite"))


# -- versions in reports and PREMIS ------------------------------------------------------
def test_report_names_the_versions_fido_itself_reports(tmp_path):
    cli = subprocess.run([str(Path(sys.executable).parent / "fido"), "-v"],
                         capture_output=True, text=True).stdout
    version, formats, container = re.search(r"FIDO v(\S+) \(([^,]+), ([^,]+),", cli).groups()
    with IdentifyPool(0) as pool:
        report = identify_image(MEDIA / "fd35-2hd-good.img", station(tmp_path), pool=pool)
    assert report.fido_version == version
    assert formats in report.signatures and container in report.signatures
    assert f"PRONOM v{SHIPPED.pronom_version}" in report.signatures
    assert report.to_dict()["signatures"] == report.signatures


def test_premis_identification_event_names_fido_and_signature_versions(tmp_path):
    from workbench.imaging.engine import image
    from workbench.package.carrier import bag_job
    from workbench.profiles import load_profiles
    settings = station(tmp_path)
    image(MEDIA / "fd35-2hd-good.drive.toml", load_profiles(PROJECT_ROOT / "profiles")[
        "fd35-2hd"], "FD-9", settings)
    bag = bag_job(settings.paths.staging / "FD-9", settings).path
    xml = (bag / "metadata" / "premis.xml").read_bytes()
    SCHEMA.validate(xml.decode())
    ns = {"p": "http://www.loc.gov/premis/v3"}
    root = ET.fromstring(xml)
    event = next(e for e in root.findall("p:event", ns)
                 if e.findtext("p:eventType", namespaces=ns) == "format identification")
    detail = event.findtext("p:eventDetailInformation/p:eventDetail", namespaces=ns)
    assert f"fido {signatures.fido_version()}" in detail and SHIPPED.label in detail
    fido = next(a for a in root.findall("p:agent", ns)
                if a.findtext("p:agentName", namespaces=ns) == "fido (opf-fido)")
    assert fido.findtext("p:agentVersion", namespaces=ns) == signatures.fido_version()
    linked = {link.findtext("p:linkingAgentIdentifierValue", namespaces=ns)
              for link in event.findall("p:linkingAgentIdentifier", ns)}
    assert fido.findtext("p:agentIdentifier/p:agentIdentifierValue", namespaces=ns) in linked


def test_premis_names_the_local_registry_for_local_formats():
    doc = PremisDocument([PremisObject("i/data/disk.d88", "disk.d88", 10, {"sha256": "ab"},
                                       "D88 Floppy Disk Image", "wb-fmt/6")],
                         [Event("format identification", "2026-01-01T00:00:00Z", "success")])
    xml = doc.to_xml().decode()
    SCHEMA.validate(xml)
    assert "<premis:formatRegistryName>migration workbench local formats<" in xml


# -- DROID signature files ---------------------------------------------------------------
def _patterns(path: Path) -> dict[str, list[tuple[tuple[str, str], ...]]]:
    def norm(rx: str) -> str:  # spellings that match the same bytes
        rx = re.sub(r"\(\?:([^()]*)\)",
                    lambda m: "(?:" + "|".join(sorted(m.group(1).split("|"))) + ")", rx)
        rx = re.sub(r"\.\{(\d+),\1\}", r".{\1}", rx.replace(".?", ".{1}"))
        return re.sub(r"(\.\{1\})+", lambda m: f".{{{len(m.group(0)) // 4}}}", rx)
    out = {}
    for fmt in ET.parse(path).getroot().findall("format"):
        out[fmt.findtext("puid") or ""] = sorted(
            tuple((p.findtext("position") or "", norm(p.findtext("regex") or ""))
                  for p in sig.findall("pattern")) for sig in fmt.findall("signature"))
    return out


def test_droid_signature_file_converts_as_fido_prepare_does(tmp_path):
    """fido's formats-vN.xml was made by fido.prepare from PRONOM's records; the DROID file
    of the same version, converted here, gives the same formats and the same patterns
    (DROID stores ?? as {1} where fido writes .?, one known fido slip)."""
    target = tmp_path / "formats.xml"
    assert droid_to_fido(DROID, target) == len(_patterns(Path(SHIPPED.formats)))
    theirs, ours = _patterns(Path(SHIPPED.formats)), _patterns(target)
    assert set(theirs) == set(ours)
    same = sum(theirs[p] == ours[p] for p in theirs)
    assert same / len(theirs) > 0.95, same


def test_a_converted_set_identifies_as_the_shipped_one(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_formats import CORPUS
    target = tmp_path / "formats.xml"
    droid_to_fido(DROID, target)
    converted = FormatIdentifier(replace(SHIPPED, formats=str(target)))
    shipped = FormatIdentifier()
    for name, data in CORPUS.items():
        assert converted.identify_bytes(name, data).puid == \
            shipped.identify_bytes(name, data).puid, name


def newer_droid(tmp_path: Path, version: str = "999") -> Path:
    """The shipped DROID file as a 'newer' one: another version and one more format."""
    ET.register_namespace("", NS)
    tree = ET.parse(DROID)
    root = tree.getroot()
    root.set("Version", version)
    sigs = root.find(f"{{{NS}}}InternalSignatureCollection")
    sig = ET.SubElement(sigs, f"{{{NS}}}InternalSignature", ID="99999", Specificity="Specific")
    seq = ET.SubElement(sig, f"{{{NS}}}ByteSequence", Reference="BOFoffset")
    sub = ET.SubElement(seq, f"{{{NS}}}SubSequence", Position="1", SubSeqMinOffset="0",
                        SubSeqMaxOffset="0")
    ET.SubElement(sub, f"{{{NS}}}Sequence").text = b"WBTESTSIG".hex().upper()
    fmt = ET.SubElement(root.find(f"{{{NS}}}FileFormatCollection"), f"{{{NS}}}FileFormat",
                        ID="99999", Name="Workbench Test Format", PUID="x-wbtest/1")
    ET.SubElement(fmt, f"{{{NS}}}InternalSignatureID").text = "99999"
    path = tmp_path / f"DROID_SignatureFile_V{version}.xml"
    tree.write(path, xml_declaration=True, encoding="utf-8")
    return path


def test_load_a_newer_droid_file_offline_and_identification_uses_it(tmp_path):
    settings = station(tmp_path)
    config = tmp_path / "workbench.toml"
    config.write_text(f'[paths]\nledger = "{settings.paths.ledger}"\n')
    source = newer_droid(tmp_path)
    loaded = workbench_cmd("--config", str(config), "signatures", "load", str(source),
                           cwd=tmp_path, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    assert "PRONOM v999" in loaded.stdout
    shown = workbench_cmd("--config", str(config), "signatures", "show", "--json",
                          cwd=tmp_path)
    data = json.loads(shown.stdout)
    assert data["source"] == "loaded" and data["pronom_version"] == "999"
    store = signatures.store_dir(settings.paths.ledger)
    assert Path(data["formats"]).parent.parent == store  # the data folder, not site-packages
    assert FormatIdentifier(store).identify_bytes("x.bin", b"WBTESTSIG and more").puid == \
        "x-wbtest/1"
    assert FormatIdentifier().identify_bytes("x.bin", b"WBTESTSIG and more").puid != \
        "x-wbtest/1"
    with IdentifyPool(0, str(store)) as pool:
        report = identify_image(MEDIA / "fd35-2hd-good.img", settings, pool=pool)
    assert "PRONOM v999" in report.signatures
    report = identify_image(MEDIA / "fd35-2hd-good.img", settings, workers=0)
    assert "PRONOM v999" in report.signatures  # the engine's own pool finds the loaded set


def test_a_container_file_replaces_only_the_container_half(tmp_path):
    store = tmp_path / "signatures"
    source = tmp_path / "container-signature-20990101.xml"
    source.write_text(Path(SHIPPED.container).read_text(encoding="utf-8").replace(
        'signatureVersion="25"', 'signatureVersion="77"'), encoding="utf-8")
    loaded = signatures.load(store, source)
    assert loaded.container_version == "77" and loaded.pronom_version == SHIPPED.pronom_version
    assert signatures.active(store).label == loaded.label
    assert "container signatures v77" in FormatIdentifier(store).signature_version


BAD = {
    "not_xml.xml": b"this is not XML <",
    "other.xml": b"<?xml version='1.0'?><catalog><book/></catalog>",
    "empty-droid.xml": (f'<FFSignatureFile xmlns="{NS}" Version="700">'
                        "<InternalSignatureCollection/>"
                        "<FileFormatCollection/></FFSignatureFile>").encode(),
    "formats-v600.xml": b"<formats><format><name>no puid</name></format></formats>",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_is_refused_and_changes_nothing(tmp_path, name):
    store = tmp_path / "signatures"
    signatures.load(store, newer_droid(tmp_path, "555"))
    before = (store / signatures.CURRENT).read_bytes()
    sets = sorted(store.iterdir())
    bad = tmp_path / name
    bad.write_bytes(BAD[name])
    with pytest.raises(BadInput) as caught:
        signatures.load(store, bad)
    assert "Nothing was changed" in str(caught.value)
    assert (store / signatures.CURRENT).read_bytes() == before
    assert sorted(store.iterdir()) == sets
    assert "PRONOM v555" in signatures.active(store).label


def test_cli_refuses_a_bad_file_with_a_message(tmp_path):
    config = tmp_path / "workbench.toml"
    config.write_text(f'[paths]\nledger = "{tmp_path / "data" / "l.sqlite"}"\n')
    (tmp_path / "bad.xml").write_text("<nothing/>")
    out = workbench_cmd("--config", str(config), "--lang", "ja", "signatures", "load",
                        "bad.xml", cwd=tmp_path)
    assert out.returncode != 0 and "何も変更していません" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "data" / "signatures" / signatures.CURRENT).exists()


def _state(store: Path) -> tuple[bytes | None, list[Path]]:
    current = store / signatures.CURRENT
    return (current.read_bytes() if current.exists() else None,
            sorted(store.iterdir()) if store.exists() else [])


@pytest.mark.parametrize("lang,words", [("en", "not well-formed XML"),
                                        ("ja", "正しい XML ではありません")])
def test_cli_refuses_a_truncated_droid_file(tmp_path, lang, words):
    """A DROID file cut short (its start is a real FFSignatureFile) is refused whole."""
    config = tmp_path / "workbench.toml"
    config.write_text(f'[paths]\nledger = "{tmp_path / "data" / "l.sqlite"}"\n')
    (tmp_path / "t.xml").write_bytes(DROID.read_bytes()[:200000])
    out = workbench_cmd("--config", str(config), "--lang", lang, "signatures", "load",
                        "t.xml", cwd=tmp_path)
    assert out.returncode == ExitCode.BAD_INPUT, out.stderr
    assert "Traceback" not in out.stderr and words in out.stderr
    assert not (tmp_path / "data" / "signatures" / signatures.CURRENT).exists()
    assert not list((tmp_path / "data" / "signatures").glob("set-*"))


def _few_formats(tmp_path: Path, keep: int, name: str) -> Path:
    tree = ET.parse(SHIPPED.formats)
    root = tree.getroot()
    for fmt in [f for f in root.findall("format") if f.find("signature") is not None][keep:]:
        root.remove(fmt)
    path = tmp_path / name
    tree.write(path, xml_declaration=True, encoding="utf-8")
    return path


def test_a_set_with_no_or_too_few_formats_is_refused(tmp_path):
    store = tmp_path / "signatures"
    before = _state(store)
    empty = tmp_path / "formats-v999.xml"
    empty.write_text('<formats version="1"/>')
    with pytest.raises(BadInput, match="no usable format signatures"):
        signatures.load(store, empty)
    m = tmp_path / "m.xml"  # no version in it nor in its name
    m.write_text('<formats version="1"/>')
    with pytest.raises(BadInput, match="Cannot tell which version"):
        signatures.load(store, m)
    with pytest.raises(BadInput, match="no usable format signatures"):
        signatures.load(store, m, allow_older=True)
    in_use = sum(1 for f in ET.parse(SHIPPED.formats).getroot().findall("format")
                 if f.find("signature") is not None)  # signed formats of the set in use
    few = _few_formats(tmp_path, in_use // 2 - 1, "formats-v998.xml")
    with pytest.raises(BadInput, match="fewer than half") as caught:
        signatures.load(store, few)
    assert "Nothing was changed" in str(caught.value)
    assert _state(store)[0] == before[0] and not list(store.glob("set-*"))
    assert signatures.active(store).source == "fido"
    enough = _few_formats(tmp_path, in_use // 2 + 1, "formats-v997.xml")
    assert signatures.load(store, enough).pronom_version == "997"  # the floor, not more


def test_an_older_pronom_version_needs_allow_older(tmp_path):
    store = tmp_path / "signatures"
    newer = tmp_path / "formats-v110.xml"
    newer.write_bytes(Path(SHIPPED.formats).read_bytes())
    signatures.load(store, newer)
    before = _state(store)
    older = tmp_path / "formats-v109.xml"
    older.write_bytes(Path(SHIPPED.formats).read_bytes())
    with pytest.raises(BadInput, match="--allow-older") as caught:
        signatures.load(store, older)
    assert "older than version 110" in str(caught.value)
    assert _state(store) == before and signatures.active(store).pronom_version == "110"
    assert signatures.load(store, older, allow_older=True).pronom_version == "109"
    assert signatures.active(store).pronom_version == "109"
    container = tmp_path / "container-signature-20990101.xml"
    container.write_text(Path(SHIPPED.container).read_text(encoding="utf-8").replace(
        'signatureVersion="25"', 'signatureVersion="3"'), encoding="utf-8")
    with pytest.raises(BadInput, match="older than version 25"):
        signatures.load(store, container)


def test_cli_older_version_is_refused_with_how(tmp_path):
    config = tmp_path / "workbench.toml"
    config.write_text(f'[paths]\nledger = "{tmp_path / "data" / "l.sqlite"}"\n')
    for version in ("110", "109"):
        (tmp_path / f"formats-v{version}.xml").write_bytes(
            Path(SHIPPED.formats).read_bytes())
    first = workbench_cmd("--config", str(config), "signatures", "load", "formats-v110.xml",
                          cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    out = workbench_cmd("--config", str(config), "--lang", "ja", "signatures", "load",
                        "formats-v109.xml", cwd=tmp_path, timeout=300)
    assert out.returncode == ExitCode.BAD_INPUT and "--allow-older" in out.stderr
    assert "使用中のバージョン 110 より古い" in out.stderr
    again = workbench_cmd("--config", str(config), "signatures", "load", "--allow-older",
                          "formats-v109.xml", cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and "PRONOM v109" in again.stdout, again.stderr


def test_a_load_waits_for_another_and_says_so(tmp_path):
    """Another load holds the store's lock: this one gives up with a message and changes
    nothing; once the lock is free the same load goes through."""
    store = tmp_path / "signatures"
    store.mkdir()
    source = tmp_path / "formats-v120.xml"
    source.write_bytes(Path(SHIPPED.formats).read_bytes())
    with open(store / signatures.LOCK, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(BadInput, match="Another signature load is under way"):
            signatures.load(store, source, lock_wait=0)
        assert _state(store) == (None, [store / signatures.LOCK])
        fcntl.flock(held, fcntl.LOCK_UN)
    assert signatures.load(store, source, lock_wait=0).pronom_version == "120"
    assert signatures.active(store).pronom_version == "120"


# -- local signatures --------------------------------------------------------------------
def d88(media: int = 0x20, size_fix: int = 0) -> bytes:
    tracks, sectors, sector = 4, 8, 1024
    header = bytearray(0x2B0)
    header[:8] = b"WORKDISK"
    header[0x1B] = media
    track_len = sectors * (16 + sector)
    for t in range(tracks):
        struct.pack_into("<I", header, 0x20 + 4 * t, 0x2B0 + t * track_len)
    body = bytearray()
    for t in range(tracks):
        for s in range(sectors):
            body += struct.pack("<BBBBHBBB5xH", t // 2, t % 2, s + 1, 3, sectors, 0, 0, 0,
                                sector) + bytes([0xE5]) * sector
    struct.pack_into("<I", header, 0x1C, len(header) + len(body) + size_fix)
    return bytes(header + body)


def fdi(consistent: bool = True) -> bytes:
    sector, sectors, surfaces, cylinders = 1024, 8, 2, 77
    data = sector * sectors * surfaces * cylinders
    header = struct.pack("<8I", 0, 0x90, 4096, data if consistent else data - 1024, sector,
                         sectors, surfaces, cylinders)
    return header + bytes(4096 - 32) + bytes([0xE5]) * data


def ole2(clsid: str) -> bytes:
    """A minimal compound file: header, one FAT sector, one directory sector."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIII", header, 0x2C, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    struct.pack_into("<I", header, 0x4C, 0)
    header[0x50:] = b"\xff" * (512 - 0x50)
    fat = struct.pack("<II", 0xFFFFFFFD, 0xFFFFFFFE) + b"\xff" * 504
    root = bytearray(128)
    name = "Root Entry".encode("utf-16-le")
    root[:len(name)] = name
    struct.pack_into("<HBB", root, 0x40, len(name) + 2, 5, 1)
    struct.pack_into("<III", root, 0x44, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    a, b, c, rest = clsid.split("-", 3)
    root[0x50:0x60] = struct.pack("<IHH", int(a, 16), int(b, 16), int(c, 16)) + \
        bytes.fromhex(rest.replace("-", ""))
    struct.pack_into("<II", root, 0x74, 0xFFFFFFFE, 0)
    directory = bytes(root) + bytes(384)
    return bytes(header) + fat + directory


ICHITARO_7 = "78597000-1d84-11cf-9713-0020afd806f4"
ICHITARO_8 = "78597001-1d84-11cf-9713-0020afd806f4"
HANAKO_9 = "06ce2760-93a4-11d1-9079-00805f1d7456"


@pytest.mark.parametrize("name,data,puid,version", [
    ("DISK.D88", d88(0x20), "wb-fmt/6", "2HD"),
    ("DISK.D88", d88(0x00), "wb-fmt/6", "2D"),
    ("DISK.FDI", fdi(), "wb-fmt/7", ""),
    ("LETTER.JBW", b"DOC" + bytes(40) + b"\x15" + bytes(300), "wb-fmt/1", "5"),
    ("LETTER.JXW", b"DOC\0" + bytes(124) + b"JXW.JEX\0" + bytes(300), "wb-fmt/1", ""),
    ("DRAW.JBH", b"DOC\0" + bytes(124) + b"HANA.JEX\0" + bytes(300), "wb-fmt/2", ""),
    ("MEMO.OA2", b"\xf1\x10" + bytes(500), "wb-fmt/5", ""),
    ("LETTER.JFW", ole2(ICHITARO_7), "wb-fmt/3", "7"),
    ("LETTER.JTD", ole2(ICHITARO_8), "fmt/1400", "8"),
    ("DRAW.JHD", ole2(HANAKO_9), "wb-fmt/4", "9"),
])
def test_local_signatures(ident, tmp_path, name, data, puid, version):
    found = ident.identify_bytes(name, data)
    assert (found.puid, found.version) == (puid, version)
    assert LOCAL_WARNING in found.warnings
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        path = tmp_path / name
        path.write_bytes(data)
        with olefile.OleFileIO(str(path)) as ole:  # an independent reader of the CLSID
            assert ole.root.clsid.lower() in (ICHITARO_7, ICHITARO_8, HANAKO_9)
        assert FormatIdentifier().identify_bytes(name, ole2("0" * 8 + "-0000-0000-0000-" +
                                                             "0" * 12)).puid == "fmt/111"


@pytest.mark.parametrize("name,data", [
    ("DISK.D88", d88(0x20, size_fix=16)),  # the size field is not the file's size
    ("DISK.D88", d88(0x55)),  # no such media type
    ("DISK.FDI", fdi(consistent=False)),
    ("MEMO.TXT", b"\xf1\x10" + bytes(500)),  # OASYS's two bytes without its extension
    ("DOC.TXT", b"DOCUMENT: plain text that starts like Ichitaro" + bytes(50)),
])
def test_local_signatures_need_the_whole_evidence(ident, name, data):
    assert LOCAL_WARNING not in ident.identify_bytes(name, data).warnings


def test_local_signatures_never_take_a_pronom_answer(ident):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_formats import CORPUS
    for name, data in CORPUS.items():
        assert LOCAL_WARNING not in ident.identify_bytes(name, data).warnings, name
