"""Emulation readiness: platform, bootability, autorun, installers, executables' target
systems and suggested emulators, in the format report and as a PREMIS environment.
Checked against file(1), mtools, hfsutils (hls) and isoinfo."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from tests import emulation_fixtures as fx
from tests.fsfixtures import tool
from workbench.config import Settings
from workbench.identify.emulation import EnvironmentObserver, parse_autorun
from workbench.identify.emulation_exe import executable
from workbench.identify.engine import identify_image
from workbench.identify.model import Image
from workbench.identify.pool import IdentifyPool
from workbench.identify.report import FileRecord, write_json
from workbench.package.premis import PremisDocument, PremisObject

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).parent / "premis-subset.xsd"))
NS = {"p": "http://www.loc.gov/premis/v3", "wb": "urn:x-migration-workbench:emulation:1"}


@pytest.fixture(scope="module")
def pool():
    with IdentifyPool(0) as p:
        yield p


def run(path: Path, pool: IdentifyPool):
    return identify_image(path, Settings(), pool=pool)


def emulator_ids(env: dict) -> list[str]:
    return [e["id"] for e in env["emulators"]]


@pytest.mark.parametrize("name", sorted(fx.EXECUTABLES))
def test_executable_targets_agree_with_file(name, tmp_path):
    data, platform, phrase = fx.EXECUTABLES[name]
    info = executable(name, data)
    assert info is not None and info["platform"] == platform
    path = tmp_path / name
    path.write_bytes(data)
    said = subprocess.run([tool("file"), "-b", str(path)], capture_output=True, text=True,
                          check=True).stdout
    assert phrase in said, said
    # the same facts both ways: a library is a library, a console program a console one
    assert info.get("dll", False) == ("DLL" in said)
    if "console" in said or "GUI" in said:
        assert ("console" in said) == (info["subsystem"] == "Windows console")


def test_executable_details():
    assert executable("WIN.EXE", fx.ne(2))["min_os"] == "Windows 3.10"
    assert executable("LIB32.DLL", fx.pe(dll=True, version=(3, 10)))["min_os"].startswith(
        "Windows NT 3.10")
    assert executable("GUI32.EXE", fx.pe())["min_os"] == "Windows 95 / NT 4.0"
    assert executable("GAME.EXE", fx.le(1, b"DOS/4G  "))["target"].endswith(
        "DOS/4G extender")
    assert executable("OS2LE.EXE", fx.le(1))["platform"] == "os2"
    assert executable("TOOL.X", fx.X68K_X)["platform"] == "x68000"
    assert executable("App", fx.PEF_PPC)["platform"] == "macppc"
    assert executable("README.TXT", b"MZ is a text here too")["format"] == "MZ"
    assert executable("README.TXT", b"plain text") is None
    # an e_lfanew beyond the bytes read: plain MZ, and said so
    far = fx.mz(0x10000, 0x40)
    assert executable("BIG.EXE", bytes(far)) == {
        "format": "MZ", "platform": "dos", "target": "MS-DOS",
        "note": "new-executable header offset lies beyond the bytes read"}
    # truncated headers never raise
    for name, (data, _, _) in fx.EXECUTABLES.items():
        for cut in (2, 0x3C, 0x82, 0x98, 0xC0):
            executable(name, data[:cut])


def test_autorun_parsing():
    text = ("; comment\r\n[AutoRun]\r\nOPEN=SETUP.EXE /auto ; run it\r\n"
            "icon=SETUP.EXE,0\r\nlabel=ゲーム\r\n[other]\r\nopen=no.exe\r\n")
    assert parse_autorun(text.encode("cp932")) == {
        "open": "SETUP.EXE /auto", "icon": "SETUP.EXE,0", "label": "ゲーム"}
    assert parse_autorun(b"\xff\xfe garbage") == {}


def test_bootable_dos_floppy_with_windows_programs(tmp_path, pool):
    files = {name: data for name, (data, _, _) in fx.EXECUTABLES.items()}
    files["SETUP.EXE"] = fx.ne(2)
    img = fx.dos_floppy(tmp_path, files={f"APPS/{k}": v for k, v in files.items()})
    report = run(img, pool)
    env = report.environment
    fat = next(b for b in env["boot"] if b["kind"] == "fat-boot-sector")
    assert fat["oem"] == "MSDOS5.0" and fat["loads"] == ["MS-DOS"]
    assert fat["bootable"] is True and fat["system"] == "MS-DOS" and env["bootable"] is True
    assert env["platform"] == "dos" and emulator_ids(env)[0] == "dosbox-x"
    assert env["system_files"]["0"] == ["COMMAND.COM", "IO.SYS", "MSDOS.SYS"]
    assert [i["path"] for i in env["installers"]] == ["/APPS/SETUP.EXE"]
    assert env["installers"][0]["executable"]["platform"] == "win16"
    # every executable listed, with the platform file(1) agrees on (test above)
    found = {e["path"].rsplit("/", 1)[-1]: e["platform"] for e in env["executables"]}
    assert found == {**{n: p for n, (_, p, _) in fx.EXECUTABLES.items()},
                     "SETUP.EXE": "win16", "COMMAND.COM": "dos"}
    # mtools (independent) lists the same executables
    listing = subprocess.run([tool("mdir"), "-b", "-i", str(img), "::/APPS"],
                             capture_output=True, text=True, check=True).stdout
    assert {line.rsplit("/", 1)[-1] for line in listing.split()} == set(files)
    # file(1) reads the same boot sector
    said = subprocess.run([tool("file"), "-b", str(img)], capture_output=True, text=True,
                          check=True).stdout
    assert 'OEM-ID "MSDOS5.0"' in said
    out = tmp_path / "formats.json"
    with open(out, "w", encoding="utf-8") as fh:
        write_json(report, fh)
    assert json.loads(out.read_text())["environment"]["platform"] == "dos"


def test_data_floppy_is_not_bootable_but_its_programs_count(tmp_path, pool):
    img = fx.dos_floppy(tmp_path, bootable=False,
                        files={"WIN.EXE": fx.ne(2), "WINLIB.DLL": fx.ne(2, 0x300, 0x8001)})
    env = run(img, pool).environment
    fat = next(b for b in env["boot"] if b["kind"] == "fat-boot-sector")
    assert fat["bootable"] is False and "non-system" in fat["reason"]
    assert env["bootable"] is False and env["platform"] == "win16"
    assert emulator_ids(env)[:2] == ["86box", "pcem"]


def test_boot_code_without_its_system_files_does_not_boot(tmp_path, pool):
    img = fx.dos_floppy(tmp_path, files={})
    subprocess.run([tool("mdel"), "-i", str(img), "::/IO.SYS"], check=True)
    fat = next(b for b in run(img, pool).environment["boot"]
               if b["kind"] == "fat-boot-sector")
    assert fat["bootable"] is False and "IO.SYS" in fat["reason"]


def test_pc98_hard_disk_ipl(tmp_path, pool):
    env = run(fx.pc98_hdd(tmp_path), pool).environment
    ipl = env["boot"][0]
    assert ipl["kind"] == "pc98-ipl" and ipl["platform"] == "pc98"
    assert ipl["partitions"] == [{"name": "MS-DOS 6.20", "bootable": True, "active": True,
                                  "system": 0x21}]
    assert env["platform"] == "pc98" and env["bootable"] is True
    assert emulator_ids(env)[:3] == ["np2", "np21w", "dosbox-x"]


def test_pc98_dos_floppy(tmp_path, pool):
    img = fx.pc98_floppy(tmp_path, {"GAME.EXE": bytes(fx.mz())})
    assert img.stat().st_size == 1_261_568
    report = run(img, pool)
    env = report.environment
    fat = next(b for b in env["boot"] if b["kind"] == "fat-boot-sector")
    assert fat["bytes_per_sector"] == 1024 and fat["platform"] == "pc98"
    assert fat["geometry"].startswith("PC-98 2HD") and fat["bootable"] is True
    assert env["platform"] == "pc98" and emulator_ids(env)[0] == "np2"
    # plain MS-DOS programs also point to DOS, ranked below the boot evidence
    assert [p["platform"] for p in env["platforms"]] == ["pc98", "dos"]
    listing = subprocess.run([tool("mdir"), "-b", "-i", str(img), "::/"],
                             capture_output=True, text=True, check=True).stdout
    assert "::/GAME.EXE" in listing.split()


def test_x68000_floppy_boot_sector(tmp_path, pool):
    env = run(fx.x68000_floppy(tmp_path), pool).environment
    assert env["boot"][0]["kind"] == "human68k-boot-sector"
    assert env["boot"][0]["oem"] == "Hudson soft 2.00"
    assert env["platform"] == "x68000" and emulator_ids(env)[0] == "xm6g"
    assert env["bootable"] is None  # HUMAN.SYS not listed: boot code, system unknown


def test_x68000_scsi_disk_mark(tmp_path):
    img = tmp_path / "x68k.hds"
    data = bytearray(64 * 1024)
    data[0:8] = b"X68SCSI1"
    data[0x800:0x804] = b"X68K"
    data[0x810:0x818] = b"Human68k"
    img.write_bytes(bytes(data))
    observer = EnvironmentObserver()
    observer.file(FileRecord(1, 0, "/HUMAN.SYS", 100), b"\x60\x00")
    with Image(img) as image:
        env = observer.environment(image, [])
    assert env["boot"][0]["partitions"] == ["Human68k"]
    assert env["boot"][0]["bootable"] is True and env["platform"] == "x68000"


def test_classic_mac_system_folder(tmp_path, pool):
    img = fx.mac_hfs(tmp_path)
    report = run(img, pool)
    env = report.environment
    mac = env["boot"][0]
    assert mac["kind"] == "mac-boot-blocks" and mac["boot_blocks"] is True
    assert mac["system_file"] == "System" and mac["shell"] == "Finder"
    assert mac["bootable"] is True and mac["system_folder"] == "/System Folder"
    assert env["platform"] == "mac" and emulator_ids(env)[0] == "basilisk2"
    # hls (independent) gives the System Folder's catalog ID that was blessed
    env_vars = {"HOME": str(tmp_path)}
    subprocess.run([tool("hmount"), str(img)], check=True, capture_output=True, env=env_vars)
    listing = subprocess.run([tool("hls"), "-i", ":"], capture_output=True, text=True,
                             check=True, env=env_vars).stdout
    subprocess.run([tool("humount")], check=True, capture_output=True, env=env_vars)
    ids = {m.group(2): int(m.group(1)) for m in re.finditer(r"(\d+)\s+(.+)", listing)}
    assert mac["blessed_folder_id"] == ids["System Folder"]


def test_mac_volume_without_boot_blocks_is_not_bootable(tmp_path, pool):
    env = run(fx.mac_hfs(tmp_path, bootable=False), pool).environment
    assert env["boot"][0]["bootable"] is False
    assert env["boot"][0]["reason"] == "a System Folder but no boot blocks"
    assert env["bootable"] is False and env["mac_system_folders"] == [
        {"volume": 0, "path": "/System Folder"}]


def _isoinfo(iso: Path) -> str:
    return subprocess.run([tool("isoinfo"), "-d", "-i", str(iso)], capture_output=True,
                          text=True, check=True).stdout


def test_el_torito_floppy_emulation_cd_with_autorun(tmp_path, pool):
    floppy = fx.dos_floppy(tmp_path)
    autorun = b"[autorun]\r\nopen=SETUP.EXE\r\nicon=SETUP.EXE,0\r\n"
    iso = fx.el_torito_cd(tmp_path, floppy, {"AUTORUN.INF": autorun, "SETUP.EXE": fx.pe(),
                                             "DATA/README.TXT": b"hello"})
    env = run(iso, pool).environment
    torito = next(b for b in env["boot"] if b["kind"] == "el-torito")
    info = _isoinfo(iso)
    catalog = int(re.search(r"boot catalog is in sector (\d+)", info).group(1))
    bootoff = int(re.search(r"Bootoff\s+([0-9a-fA-F]+)\s+(\d+)", info).group(2))
    assert torito["catalog_lba"] == catalog and torito["load_rba"] == bootoff
    assert "Boot media 2 (1.44MB Floppy)" in info and torito["emulation"] == "1.44M floppy"
    assert torito["bootable"] is True and torito["platform"] == "pc"
    # the floppy image's own root directory holds the IO.SYS its boot code loads
    assert torito["image_boot_sector"] == {"oem": "MSDOS5.0", "loads": ["MS-DOS"],
                                           "bootable": True, "system_files": ["IO.SYS"]}
    run_ = env["autorun"][0]
    assert run_["open"] == "SETUP.EXE" and run_["icon"] == "SETUP.EXE,0"
    assert run_["target"]["platform"] == "win32"
    assert env["platform"] == "dos"  # the boot floppy wins over the Windows installer
    assert [p["platform"] for p in env["platforms"]][:2] == ["dos", "win32"]


def test_el_torito_no_emulation_and_plain_iso(tmp_path, pool):
    iso = fx.el_torito_cd(tmp_path, None, {"README.TXT": b"x"},
                          no_emul=b"\xfa\xeb\xfe" + b"ISOLINUX" + bytes(2037))
    torito = next(b for b in run(iso, pool).environment["boot"] if b["kind"] == "el-torito")
    assert torito["emulation"] == "no emulation" and torito["loader"] == "ISOLINUX"
    assert torito["sectors"] == 4
    assert "Boot media 0 (No Emulation Boot)" in _isoinfo(iso)
    (tmp_path / "cdroot" / "LOADER.BIN").unlink()
    plain = fx.el_torito_cd(tmp_path / "cdroot", None, {"README.TXT": b"x"})
    env = run(plain, pool).environment
    assert env["boot"][0]["bootable"] is False and env["bootable"] is False
    assert env["platform"] == "" and env["emulators"] == []


def test_premis_environment_is_schema_valid(tmp_path, pool):
    from workbench.identify.emulation_premis import premis_environments
    img = fx.pc98_floppy(tmp_path, {"GAME.EXE": bytes(fx.mz())})
    env = json.loads(json.dumps(run(img, pool).environment))
    envs = premis_environments(env, "PC98-1/data/image.img")
    doc = PremisDocument(objects=[PremisObject("PC98-1/data/image.img", "image.img", 1,
                                               {"sha256": "ab"}, "disk image",
                                               requires=(envs[0].identifier,))],
                         environments=envs)
    xml = doc.to_xml()
    SCHEMA.validate(xml.decode())
    root = ET.fromstring(xml)
    entity = root.find("p:object[p:environmentDesignation]", NS)
    assert entity.findtext("p:environmentDesignation/p:environmentName", namespaces=NS) == \
        "NEC PC-9801/PC-9821"
    assert [e.text for e in entity.findall(".//wb:emulator", NS)][:2] == [
        "Neko Project II", "Neko Project 21/W"]
    assert entity.findtext(".//wb:bootable", namespaces=NS) == "true"
    rel = root.find("p:object/p:relationship", NS)
    assert rel.findtext("p:relatedObjectIdentifier/p:relatedObjectIdentifierValue",
                        namespaces=NS) == "PC98-1/data/image.img#environment"
    assert premis_environments({"platform": ""}, "x") == []
    # the schema is able to fail: an environment function without its level
    broken = xml.replace(b"<premis:environmentFunctionLevel>1</premis:"
                         b"environmentFunctionLevel>", b"")
    assert not SCHEMA.is_valid(broken.decode())


def test_hard_disk_mbr_boots_through_its_active_partition(tmp_path, pool):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from fatimage import mbr
    img = tmp_path / "hdd.img"
    total = 16 * 2048
    with open(img, "wb") as fh:
        fh.truncate(total * 512)
        sector = bytearray(mbr([(0x06, 2048, total - 2048)]))
        sector[0:4] = b"\xfa\x33\xc0\x8e"  # boot code ...
        sector[0x8B:0x8B + 23] = b"Invalid partition table"
        sector[446] = 0x80  # ... and an active partition
        fh.write(sector)
    subprocess.run([tool("mkfs.fat"), "-F", "16", "--offset", "2048", str(img),
                    str((total - 2048) // 2)], check=True, capture_output=True)
    with open(img, "r+b") as fh:
        fh.seek(2048 * 512 + 62)
        fh.write(fx.DOS_BOOT_CODE)
    subprocess.run([tool("mcopy"), "-i", f"{img}@@1048576", "-", "::/IO.SYS"],
                   input=b"\xe9" + bytes(511), check=True)
    env = run(img, pool).environment
    disk, vbr = env["boot"][0], env["boot"][1]
    assert disk["kind"] == "mbr" and disk["loader"] == "MS-DOS/Windows MBR"
    assert disk["partitions"] == [{"type": "0x06", "active": True, "start": 2048}]
    assert disk["active_volumes"] == [0] and vbr["bootable"] is True
    assert disk["bootable"] is True and env["platform"] == "dos"
    # sfdisk (independent) reads the same table
    dump = subprocess.run([tool("sfdisk"), "-d", str(img)], capture_output=True, text=True,
                          check=True).stdout
    assert re.search(r"start=\s*2048, size=\s*30720, type=6, bootable", dump)


def test_mac_applications_from_appledouble_finder_info(tmp_path):
    ad = fx.appledouble
    observer = EnvironmentObserver()
    observer.file(FileRecord(1, 0, "/Apps/._TeachText", 70), ad(b"APPL", b"ttxt", (b"CODE",)))
    observer.file(FileRecord(2, 0, "/Apps/._Fat App", 70), ad(b"APPL", b"fat!",
                                                                (b"CODE", b"cfrg", b"SIZE")))
    observer.file(FileRecord(3, 0, "/Apps/._Old", 70), ad(b"APPL", b"old!"))
    observer.file(FileRecord(4, 0, "/Sys/._System", 70), ad(b"zsys", b"MACS"))
    observer.file(FileRecord(5, 0, "/Sys/._Finder", 70), ad(b"FNDR", b"MACS"))
    observer.file(FileRecord(6, 0, "/Sys/._Broken", 30), b"\x00\x05\x16\x07" + bytes(20)
                  + b"\x00\x09")
    assert [(a["path"], a["platform"]) for a in observer.mac_apps] == [
        ("/Apps/TeachText", "mac68k"), ("/Apps/Fat App", "macppc"), ("/Apps/Old", "")]
    assert observer.errors == [] and observer.mac_folders[(0, "/Sys")] == {"System", "Finder"}
    img = tmp_path / "blank.img"
    img.write_bytes(bytes(4096))
    with Image(img) as image:
        env = observer.environment(image, [])
    assert [p["platform"] for p in env["platforms"]] == ["mac68k", "macppc", "mac"]


def test_summary_line_in_both_languages():
    from workbench.cli_tools import environment_line
    env = {"platform": "pc98", "bootable": True,
           "emulators": [{"name": "Neko Project II"}, {"name": "Neko Project 21/W"}]}
    assert environment_line(env) == ("environment: NEC PC-9801/PC-9821, bootable; "
                                     "emulators: Neko Project II, Neko Project 21/W")
    from workbench.i18n import t
    assert "起動可能" in t("emulation.summary", lang="ja", platform="x", emulators="y",
                         boot=t("emulation.boot_yes", lang="ja"))
    assert environment_line({"platform": ""}) == t("emulation.none")


def test_bag_premis_carries_the_environment(tmp_path):
    from dataclasses import replace

    from workbench import PROJECT_ROOT
    from workbench.imaging.engine import image
    from workbench.package.carrier import bag_job
    from workbench.profiles import load_profiles
    base = Settings()
    station = replace(base, organisation="Library", operator="Sato", free_space_margin=0,
                      paths=replace(base.paths, staging=tmp_path / "staging",
                                    bags=tmp_path / "bags"))
    fx.dos_floppy(tmp_path, files={"SETUP.EXE": fx.ne(2)}, name="disk.img")
    drive = tmp_path / "dos.drive.toml"
    drive.write_text('model = "Test floppy drive"\nvendor = "Test"\nserial = "EMU-1"\n'
                     'transport = "virtual"\nimage = "disk.img"\nprofile = "fd35-2hd"\n'
                     'label.en = "DOS boot floppy"\nlabel.ja = "DOS 起動フロッピー"\n')
    profiles = load_profiles(PROJECT_ROOT / "profiles")
    image(drive, profiles["fd35-2hd"], "EMU-1", station)
    bag = bag_job(station.paths.staging / "EMU-1", station).path
    xml = (bag / "metadata" / "premis.xml").read_bytes()
    SCHEMA.validate(xml.decode())
    root = ET.fromstring(xml)
    entity = root.find("p:object[p:environmentDesignation]", NS)
    assert entity.findtext(".//wb:platform", namespaces=NS) == "dos"
    assert entity.findtext(".//wb:installer", namespaces=NS) == "/SETUP.EXE"
    assert root.find("p:object/p:relationship/p:relationshipSubType", NS).text == "requires"
    report = json.loads((bag / "metadata" / "formats.json").read_text())
    assert report["environment"]["bootable"] is True


def test_ntfs_boot_sector_from_mkntfs_is_not_bootable(tmp_path, pool):
    img = tmp_path / "ntfs.img"
    img.write_bytes(bytes(8 << 20))
    subprocess.run([tool("mkntfs"), "-q", "-F", "-Q", str(img)], check=True,
                   capture_output=True)
    env = run(img, pool).environment
    ntfs = env["boot"][0]
    assert ntfs["kind"] == "ntfs-boot-sector" and ntfs["oem"] == "NTFS"
    assert ntfs["bootable"] is False and env["bootable"] is False


def test_partition_boot_sectors_on_a_pc98_disk_are_pc98(tmp_path):
    from types import SimpleNamespace

    from workbench.identify.emulation_boot import boot_records
    img = fx.pc98_hdd(tmp_path)
    with open(img, "r+b") as fh:
        fh.truncate(32 << 20)
    subprocess.run([tool("mkfs.fat"), "-F", "16", "--offset", "64", str(img), "16000"],
                   check=True, capture_output=True)
    volume = SimpleNamespace(index=0, offset=64 * 512, size=16000 * 1024, fs_type="fat16")
    with Image(img) as image:
        records = boot_records(image, [volume])
    assert [r["kind"] for r in records] == ["pc98-ipl", "fat-boot-sector"]
    assert records[1]["platform"] == "pc98"


def test_autorun_shellexecute_names_the_program(tmp_path):
    observer = EnvironmentObserver()
    observer.file(FileRecord(1, 0, "/autorun.inf", 60),
                  b"[autorun]\nshellexecute=Setup\\Install.exe\n")
    observer.file(FileRecord(2, 0, "/Setup/Install.exe", 1024), fx.pe())
    img = tmp_path / "blank.img"
    img.write_bytes(bytes(4096))
    with Image(img) as image:
        env = observer.environment(image, [])
    assert env["autorun"][0]["target"]["path"] == "/Setup/Install.exe"
    assert env["platform"] == "win32" and env["bootable"] is False


def test_el_torito_sections_bios_and_uefi_agree_with_xorriso(tmp_path, pool):
    root = tmp_path / "root"
    root.mkdir()
    (root / "isolinux.bin").write_bytes(b"ISOLINUX".ljust(2048, b"\0"))
    (root / "efi.img").write_bytes(bytes(1_474_560))
    (root / "SETUP.EXE").write_bytes(fx.pe())
    iso = tmp_path / "hybrid.iso"
    subprocess.run([tool("xorriso"), "-as", "mkisofs", "-quiet", "-o", str(iso), "-b",
                    "isolinux.bin", "-c", "boot.cat", "-no-emul-boot", "-boot-load-size", "4",
                    "-eltorito-alt-boot", "-e", "efi.img", "-no-emul-boot", str(root)],
                   check=True, capture_output=True)
    env = run(iso, pool).environment
    mine = [(b["platform"], b["bootable"], b["emulation"], b["load_rba"])
            for b in env["boot"] if b["kind"] == "el-torito"]
    said = subprocess.run([tool("xorriso"), "-indev", str(iso), "-report_el_torito", "plain"],
                          capture_output=True, text=True, check=True).stdout
    theirs = [({"BIOS": "pc", "UEFI": "efi"}[m[0]], m[1] == "y", m[2], int(m[3]))
              for m in re.findall(r"boot img :\s+\d+\s+(\w+)\s+(\w)\s+(\w+)\s+\S+\s+\S+"
                                  r"\s+\d+\s+(\d+)", said)]
    assert len(theirs) == 2
    assert [(p, b, "none" if e == "no emulation" else e, r) for p, b, e, r in mine] == theirs
    assert [p["platform"] for p in env["platforms"]][:2] == ["pc", "efi"]


def test_sample_data_floppy_names_no_platform(pool):
    from tests.conftest import MEDIA
    env = run(MEDIA / "fd35-2hd-good.img", pool).environment
    assert env["boot"][0]["bootable"] is False and env["boot"][0]["reason"] == "no boot code"
    assert env["platform"] == "" and env["emulators"] == [] and env["bootable"] is False


def test_pc98_game_floppy_with_its_own_ipl(tmp_path, pool):
    img = tmp_path / "game.hdm"
    data = bytearray(1_261_568)
    data[0:3] = b"\xeb\x1e\x90"  # x86 code, no BPB: the game's own loader
    data[0x20:0x30] = b"\xfa\xb8\x00\x00\x8e\xd8\xbe\x00\x7c\xcd\x1b\xea\x00\x00\x00\x10"
    img.write_bytes(bytes(data))
    env = run(img, pool).environment
    assert env["boot"][0]["kind"] == "pc98-floppy-ipl" and env["platform"] == "pc98"
    assert env["bootable"] is None and emulator_ids(env)[0] == "np2"
    img.write_bytes(bytes(data[:1_474_560 - 213_000]).ljust(1_474_560, b"\0"))
    assert run(img, pool).environment["boot"] == []  # a 1.44M size: not PC-98 by itself


def test_resource_types_agree_with_macresources():
    import macresources  # machfs's companion package: an independent resource-map reader

    from workbench.identify import emulation_mac
    for types in ((b"CODE",), (b"CODE", b"cfrg", b"SIZE"), (b"vers", b"ICN#")):
        data = fx.appledouble(b"APPL", b"test", types)
        offset, length = emulation_mac.entries(data)[emulation_mac.RESOURCE_FORK]
        theirs = {bytes(r.type).decode() for r in
                  macresources.parse_file(data[offset:offset + length])}
        assert emulation_mac.resource_types(data) == theirs == {t.decode() for t in types}
    assert emulation_mac.resource_types(fx.appledouble(b"APPL", b"test")) is None
