"""describe and set-up after the issue 13 try-out: every refused describe exits 2 and
records nothing; photos are images by their bytes (named when skipped or refused);
volume sets that contradict each other are said; set-up edits a value written over
several lines, refuses nan and Unicode "code pages"; the set-up screen shows its
refusals at 80x24 and says where it writes."""

from __future__ import annotations

import asyncio
import os
import tomllib
from pathlib import Path

import pytest

from tests.conftest import workbench_run
from tests.test_metadata import JPEG, PNG, settings_in
from workbench.config import load_settings
from workbench.errors import BadInput, ConfigError, ExitCode
from workbench.station import Station
from workbench.station.metadata import current, describe
from workbench.station.setup import save

GIF = b"GIF89a" + bytes(200)
TIFF = b"II*\x00" + bytes(200)
FLOPPY = b"\xeb\x3c\x90MSDOS5.0" + bytes(499) + b"\x55\xaa"  # a boot sector


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "workbench.toml"
    path.write_text('[station]\norganisation = "National Library"\n'
                    '[imaging]\nfree_space_margin_mb = 0\n')
    return path


# -- (9) every refusal exits 2 and records nothing -----------------------------------

@pytest.mark.parametrize("args", [
    ["--title", "Disk one", "--volume", "1 of 2", "--condition", "mould,scratches"],
    ["--title", "Disk one", "--volume", "1 of 2", "--photo", "label={png}"],
    ["--volume", "3/2", "--catalogue", "C-1"],
    ["--volume", "x", "--catalogue", "C-1"],
    ["--condition", "mould,nosuch"],
    ["--photo", "label"],
    ["--photo", "spine={png}"],
    ["--photo", "label={tmp}/missing.jpg"],
    ["--photos", "{tmp}/nofolder"],
    ["--title", "a\x07b"],
    ["--photo", "label={floppy}"],
])
def test_every_refused_describe_exits_2_and_records_nothing(tmp_path, args):
    _config(tmp_path)
    (tmp_path / "label.png").write_bytes(PNG)
    (tmp_path / "other.png").write_bytes(FLOPPY)
    args = [a.format(png=tmp_path / "label.png", tmp=tmp_path, floppy=tmp_path / "other.png")
            for a in args]
    done = workbench_run("describe", "D-1", *args, cwd=tmp_path)
    assert done.returncode == ExitCode.BAD_INPUT, (done.stdout, done.stderr)
    assert done.stderr.strip()
    shown = workbench_run("describe", "D-1", "--json", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.strip() == "{}"


def test_a_camera_without_a_command_is_refused_with_its_exit_code(tmp_path):
    _config(tmp_path)
    done = workbench_run("describe", "D-1", "--camera", "label", cwd=tmp_path)
    assert done.returncode == ExitCode.REFUSED and "camera" in done.stderr


# -- (11) photos are images by their bytes -------------------------------------------

@pytest.fixture
def station(tmp_path: Path):
    with Station(settings_in(tmp_path)) as st:
        yield st


def test_a_folder_names_every_entry_it_skips(station, tmp_path):
    folder = tmp_path / "pd"
    folder.mkdir()
    (folder / "label.jpg").write_bytes(JPEG)
    (folder / "carrier.jpg").mkdir()
    os.mkfifo(folder / "sleeve.jpg")
    (folder / "label-zero.jpg").symlink_to("/dev/zero")
    (folder / "notes.txt").write_text("not a photo")
    warnings: list[str] = []
    info = describe(station, "DS-5", photo_folder=folder, warnings=warnings)
    assert [p.file for p in info.photos] == ["photos/label-1.jpg"]
    said = "\n".join(warnings)
    for name in ("carrier.jpg", "sleeve.jpg", "label-zero.jpg", "notes.txt"):
        assert name in said, said
    assert len(warnings) == 4
    assert "folder" in said and "FIFO" in said and "device" in said


def test_the_cli_prints_a_warning_per_skipped_entry(tmp_path):
    _config(tmp_path)
    folder = tmp_path / "pd"
    folder.mkdir()
    (folder / "label.png").write_bytes(PNG)
    os.mkfifo(folder / "sleeve.jpg")
    done = workbench_run("describe", "DS-5", "--photos", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "sleeve.jpg" in done.stderr and "Warning" in done.stderr


@pytest.mark.parametrize("name,data,found", [
    ("other.png", FLOPPY, "disk image"),
    ("label.jpg", b"%PDF-1.4\n" + bytes(100), "PDF"),
    ("cd.iso", bytes(32769) + b"CD001" + bytes(100), "ISO 9660"),
    ("x.jpg", b"hello, this is text\n" * 10, "text"),
    ("y.jpg", bytes(range(7, 107)), "07 08 09"),
], ids=["floppy", "pdf", "iso", "text", "bytes"])
def test_a_file_that_is_not_an_image_is_refused_naming_what_it_is(station, tmp_path,
                                                                   name, data, found):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(BadInput) as err:
        describe(station, "FD-1", title="t", photos=[("label", path)])
    assert name in str(err.value) and found in str(err.value), str(err.value)
    assert current(station, "FD-1") is None  # nothing recorded


def test_a_folder_with_a_false_photo_records_nothing(station, tmp_path):
    folder = tmp_path / "pd"
    folder.mkdir()
    (folder / "label.jpg").write_bytes(JPEG)
    (folder / "other.png").write_bytes(FLOPPY)
    with pytest.raises(BadInput, match=r"other\.png"):
        describe(station, "DS-5", photo_folder=folder)
    assert current(station, "DS-5") is None


def test_the_extension_in_the_bag_follows_the_detected_type(station, tmp_path):
    (tmp_path / "scan.png").write_bytes(JPEG)  # a JPEG named .png
    (tmp_path / "IMG.dat").write_bytes(GIF)
    (tmp_path / "s.jpeg").write_bytes(TIFF)
    info = describe(station, "FD-1", photos=[("label", tmp_path / "scan.png"),
                                             ("sleeve", tmp_path / "IMG.dat"),
                                             ("other", tmp_path / "s.jpeg")])
    assert [(p.file, p.format) for p in info.photos] == [
        ("photos/label-1.jpg", "JPEG"), ("photos/sleeve-1.gif", "GIF"),
        ("photos/other-1.tif", "TIFF")]


# -- (10) volume sets ------------------------------------------------------------------

def test_a_second_carrier_as_the_same_volume_is_said(station):
    describe(station, "D-1", record_id="CAT-9", volume="1/2")
    warnings: list[str] = []
    info = describe(station, "D-2", record_id="CAT-9", volume="1/2", warnings=warnings)
    assert info.volume == 1  # recorded (a library re-describes), but said
    assert any("D-1" in w and "CAT-9" in w and "volume 1" in w for w in warnings), warnings


def test_a_set_of_another_size_is_said(station):
    describe(station, "D-1", record_id="CAT-9", volume="1/2")
    warnings: list[str] = []
    describe(station, "S-1", record_id="CAT-9", volume="2/3", warnings=warnings)
    assert any("D-1" in w and "of 2" in w and "of 3" in w for w in warnings), warnings
    quiet: list[str] = []
    describe(station, "D-2", record_id="CAT-9", volume="2/2", warnings=quiet)
    assert not any("D-1" in w for w in quiet), quiet  # D-1 and D-2 agree; S-1 is said
    assert any("S-1" in w for w in quiet), quiet


def test_the_cli_warns_about_a_contradicting_set(tmp_path):
    _config(tmp_path)
    assert workbench_run("describe", "D-1", "--catalogue", "CAT-9", "--volume", "1/2",
                         cwd=tmp_path).returncode == 0
    done = workbench_run("describe", "D-2", "--catalogue", "CAT-9", "--volume", "1/2",
                         cwd=tmp_path)
    assert done.returncode == 0 and "D-1" in done.stderr, done.stderr


# -- (12) set-up ---------------------------------------------------------------------

MULTI = '''# station 3
[station]
id = "x"
organisation = """multi
line"""
contact_name = "A"

[tape]
pools = [
  "north",  # building 1
  "south",
]
'''


def test_setup_replaces_a_value_written_over_several_lines(tmp_path):
    path = tmp_path / "ml.toml"
    path.write_text(MULTI)
    settings = save(path, {"organisation": "Z", "pools": "east, west"})
    assert settings.organisation == "Z" and settings.tape_pools == ("east", "west")
    assert settings.contact_name == "A" and settings.station_id == "x"
    text = path.read_text()
    assert "# station 3" in text and "line\"\"\"" not in text and "north" not in text
    assert tomllib.loads(text)["station"]["organisation"] == "Z"


def test_setup_keeps_a_multi_line_value_it_does_not_change(tmp_path):
    path = tmp_path / "ml.toml"
    path.write_text(MULTI)
    settings = save(path, {"contact_name": "B"})
    assert settings.organisation == "multi\nline" and settings.tape_pools == ("north", "south")
    assert settings.contact_name == "B"


def test_a_key_inside_a_multi_line_string_is_not_taken_for_the_key(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text('[station]\ncontact_name = """\norganisation = "fake"\n[tape]\n"""\n')
    settings = save(path, {"organisation": "Real"})
    assert settings.organisation == "Real"
    assert settings.contact_name == 'organisation = "fake"\n[tape]\n'


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_a_timeout_that_is_not_a_number_of_seconds_is_refused(tmp_path, value):
    path = tmp_path / "w.toml"
    path.write_text(MULTI)
    with pytest.raises(BadInput) as err:
        save(path, {"camera_timeout": value})
    assert "several lines" not in str(err.value)
    assert path.read_text() == MULTI


def test_cli_setup_nan_says_it_is_not_a_number(tmp_path):
    path = _config(tmp_path)
    done = workbench_run("--config", str(path), "setup", "--camera-timeout", "nan")
    assert done.returncode == ExitCode.BAD_INPUT
    assert "not a number" in done.stderr and "several lines" not in done.stderr


@pytest.mark.parametrize("codec,ok", [
    ("cp437", True), ("cp850", True), ("cp932", True), ("shift_jis", True),
    ("euc-jp", True), ("cp1252", True), ("latin-1", True), ("big5", True),
    ("utf-16", False), ("utf-8", False), ("utf-7", False), ("utf-32-le", False),
    ("base64", False), ("rot13", False), ("cp037", False), ("klingon", False),
])
def test_only_legacy_code_pages_are_accepted(tmp_path, codec, ok):
    path = _config(tmp_path)
    before = path.read_text()
    if ok:
        assert save(path, {"codepage": codec}).legacy_codepage == codec
        return
    with pytest.raises(ConfigError, match="legacy code page"):
        save(path, {"codepage": codec})
    assert path.read_text() == before
    assert load_settings(path).legacy_codepage == "cp932"


# -- (14) the set-up screen at 80x24 ----------------------------------------------------

def _notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def test_the_setup_screen_shows_a_refusal_at_80x24(tmp_path):
    from textual.widgets import Input

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.setup import SetupScreen
    path = _config(tmp_path)

    async def run() -> None:
        app = WorkbenchApp(load_settings(path))
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(SetupScreen())
            await pilot.pause()
            field = app.screen.query_one("#setup-station_id", Input)
            field.value = "bad id"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen)  # refused: stays
            said = "\n".join(_notes(app))
            assert "station ID" in said and "letters" in said, said
            assert app.focused is field  # the field to correct
            # the message line is on screen (the form scrolled to the top)
            message = app.screen.query_one("#setup-message")
            assert message.region.height and message.region.bottom <= 24
    asyncio.run(run())
    assert 'id = "bad id"' not in path.read_text()


def test_training_setup_says_where_it_writes_and_writes_nothing_unchanged(tmp_path):
    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.setup import SetupScreen

    async def run() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(SetupScreen())
            await pilot.pause()
            where = str(app.screen.query_one("#setup-where").render())
            assert "workbench.toml" in where and "training" in where.lower(), where
            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, SetupScreen)
            assert any("nothing" in n.lower() for n in _notes(app)), _notes(app)
    asyncio.run(run())
    assert not (tmp_path / "workbench.toml").exists()  # nothing changed: nothing written


def test_a_folder_of_no_photos_says_what_it_holds(station, tmp_path):
    folder = tmp_path / "pd"
    folder.mkdir()
    os.mkfifo(folder / "sleeve.jpg")
    (folder / "carrier.jpg").mkdir()
    with pytest.raises(BadInput) as err:
        describe(station, "DS-5", title="t", photo_folder=folder)
    assert "sleeve.jpg" in str(err.value) and "carrier.jpg" in str(err.value)
    assert current(station, "DS-5") is None
