"""Cartridge memory (MAM) reads as the real sg_read_attr (sg3-utils 1.46) prints them:
tests/ltfs_outputs/mam/*.txt, decoded by the tool from READ ATTRIBUTE responses whose
host attributes are the bytes LTFS 2.4.8.4 wrote at mkltfs (SOURCES.md says where every
value comes from). What they showed: LTFS puts its 6-character volume serial into the
barcode attribute, so a cartridge formatted as A00009L9 says "A00009" afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_ltfs import OUT, Drive, recorded
from tests.test_station import settings_in
from workbench.errors import BadInput, Refused
from workbench.station import Station, cartridge
from workbench.tape.ltfs import Completed, Ltfs, parse_mam, same_cartridge

MAM = "mam/"


@pytest.mark.parametrize(("name", "barcode", "serial", "generation", "kind"), [
    ("lto9_ltfs", "A00009", "1624A18156", "LTO-9", "data"),
    ("lto9_blank", "", "1624A18156", "LTO-9", "data"),
    ("lto8_blank", "", "2CX123A456", "LTO-8", "data"),
    ("lto6_barcode", "FJK663L6", "J1K0V4Y4AN", "LTO-6", "data"),
    ("cleaning", "", "CLN0042", "", "cleaning"),
])
def test_the_real_tools_output_is_parsed(name, barcode, serial, generation, kind):
    mam = parse_mam(recorded(f"{MAM}{name}.txt"))
    assert (mam.barcode, mam.serial, mam.generation, mam.medium_type) == (
        barcode, serial, generation, kind)
    # the barcode alone, as `sg_read_attr -f 0x806` prints it (nothing when unset)
    assert parse_mam(recorded(f"{MAM}{name}.barcode.txt")).barcode == barcode


def test_what_the_tool_prints_is_what_the_tests_parse():
    """The outputs come from the tool: its version line is kept, and the attribute it
    does not know (0x080B in 1.46) is printed as such, with a hex line after it."""
    assert "1.13 20191220" in (OUT / MAM / "sg_read_attr.version").read_text()
    text = recorded(f"{MAM}lto9_ltfs.txt")
    assert "Unknown host attribute 0x80b:" in text
    assert parse_mam(text).attributes["Application name"] == "LTFS"
    assert parse_mam(text).attributes["Application version"] == "2.4.8.4"
    assert parse_mam(text).attributes["User medium text label"] == "A00009L9"


def test_an_ltfs_volume_serial_names_its_barcodes_cartridge():
    assert same_cartridge("A00009L9", "A00009")
    assert same_cartridge("A00009L9", "A00009L9                        ")
    assert not same_cartridge("A00008L9", "A00009")
    assert not same_cartridge("A00009L9", "B00009")


class Lto9(Drive):
    """An LTO-9 cartridge: blank memory before mkltfs, LTFS's attributes after it."""

    def __init__(self, shelf: Path) -> None:
        super().__init__(shelf, mam=f"{MAM}lto9_blank.txt")

    def cartridge(self) -> Path:
        return self.shelf / "A00009L9"

    def __call__(self, argv: list[str], timeout: float) -> Completed:
        if argv[0] == "mkltfs":
            assert "--tape-serial=A00009" in argv and "--volume-name=A00009L9" in argv
            self.mam = f"{MAM}lto9_ltfs.txt"  # what LTFS wrote into the memory
        return super().__call__(argv, timeout)


def test_a_cartridge_formatted_here_mounts_again_by_its_memory_alone(tmp_path, monkeypatch):
    playing = Lto9(tmp_path / "shelf")
    monkeypatch.setattr(cartridge, "drive", lambda station: Ltfs(
        "/dev/nst0", "/dev/sg3", playing, which=lambda tool: f"/usr/bin/{tool}",
        ismount=lambda p: p in playing.mounted, running=lambda p: False))
    with Station(settings_in(tmp_path / "station")) as st:
        with pytest.raises(BadInput):  # a blank memory names no barcode: it is asked for
            cartridge.format_cartridge(st, "primary", "LTO-9")
        done = cartridge.format_cartridge(st, "primary", "LTO-9", "A00009L9")
        assert done.tape.barcode == "A00009L9"
        assert cartridge.unmount_cartridge(st, "A00009L9") is not None
        # the memory now says A00009: the same cartridge, by its barcode or without one
        again = cartridge.mount_cartridge(st)
        assert again.tape.barcode == "A00009L9" and again.tape.pool == "primary"
        cartridge.unmount_cartridge(st, "A00009L9")
        assert cartridge.mount_cartridge(st, "A00009L9").tape.barcode == "A00009L9"
        cartridge.unmount_cartridge(st, "A00009L9")
        with pytest.raises(Refused, match="A00009"):
            cartridge.mount_cartridge(st, "A00008L9")  # another cartridge's barcode
