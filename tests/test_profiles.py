from pathlib import Path

import pytest

from tests.conftest import workbench_cmd
from workbench import PROJECT_ROOT
from workbench.errors import BadInput, ConfigError
from workbench.profiles import get_profile, load_profiles, parse_profile, suggest_profile

REQUIRED = {"fd35-2hd", "fd35-2dd", "fd35-2ed", "fd525-2hd", "fd525-2d", "pc98-2hd",
            "mo-128", "mo-230", "mo-540", "mo-640", "mo-1300", "mo-2300", "usb", "cd", "dvd",
            "bd", "hdd"}


def test_every_carrier_type_has_a_valid_profile(profiles):
    assert set(profiles) >= REQUIRED
    for p in profiles.values():
        assert p.labels["en"] and p.labels["ja"]
        assert "sha256" in p.digests
        assert p.cluster_size % p.sector_size == 0
    assert profiles["pc98-2hd"].sector_size == 1024
    assert profiles["pc98-2hd"].expected_sizes == (1261568,)
    assert profiles["fd35-2hd"].expected_sizes == (1474560,)
    assert profiles["cd"].iso9660_check and profiles["cd"].sector_size == 2048
    assert {p.family for p in profiles.values()} == {"FD", "MO", "USB", "optical", "HDD"}
    assert profiles["fd35-2hd"].reminders_for("ja")


@pytest.mark.parametrize("size,sector,transport,expected", [
    (1474560, 512, "usb", "fd35-2hd"),
    (737280, 512, "usb", "fd35-2dd"),
    (2949120, 512, "usb", "fd35-2ed"),
    (1228800, 512, "usb", "fd525-2hd"),
    (368640, 512, "usb", "fd525-2d"),
    (1261568, 1024, "usb", "pc98-2hd"),
    (127_398_912, 512, "scsi", "mo-128"),
    (228_518_400, 512, "usb", "mo-230"),
    (635_600_896, 2048, "usb", "mo-640"),
    (1_240_772_608, 2048, "scsi", "mo-1300"),
    (700_000_000, 2048, "sr", "cd"),
    (4_700_000_000, 2048, "sr", "dvd"),
    (25_000_000_000, 2048, "sr", "bd"),
    (8_000_000_000, 512, "usb", "usb"),
    (500_000_000_000, 512, "ata", "hdd"),
    (12345 * 512, 512, "virtio", None),
    (0, 512, "usb", None),
])
def test_profile_suggested_from_geometry(profiles, size, sector, transport, expected):
    found = suggest_profile(profiles, size, sector, transport)
    assert (found.id if found else None) == expected


def _write(folder: Path, name: str, text: str) -> Path:
    (folder / "media").mkdir(exist_ok=True)
    path = folder / "media" / f"{name}.toml"
    path.write_text(text)
    return path


GOOD = ('id = "x"\nfamily = "FD"\nsector_size = 512\n[label]\nen = "X"\nja = "X"\n'
        '[size]\nexpected = [1474560]\n')


@pytest.mark.parametrize("text,words", [
    (GOOD.replace('id = "x"', 'id = "y"'), ["id", "file name"]),
    (GOOD.replace('"FD"', '"Floppy"'), ["family", "FD, MO, USB, optical, HDD"]),
    (GOOD.replace("1474560", "1474561"), ["size.expected", "multiples of sector_size"]),
    (GOOD.replace("sector_size = 512\n", 'sector_size = 512\ndigests = ["md5"]\n'),
     ["'digests'", "sha256 plus"]),
    (GOOD.replace('ja = "X"\n', ''), ["label.ja", "required"]),
    (GOOD + "[read]\nretry = 3\n", ["read.retry", "retries"]),
    (GOOD.replace("sector_size = 512", "sector_size = 500"), ["sector_size", "2048"]),
])
def test_bad_profiles_are_refused_clearly(tmp_path: Path, text, words):
    path = _write(tmp_path, "x", text)
    with pytest.raises(ConfigError) as err:
        parse_profile(path)
    assert str(path) in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_good_custom_profile_and_unknown_profile(tmp_path: Path):
    _write(tmp_path, "x", GOOD.replace(
        "sector_size = 512\n", 'sector_size = 512\ndigests = ["md5", "sha256", "sha512"]\n'))
    loaded = load_profiles(tmp_path)
    assert loaded["x"].digests == ("md5", "sha256", "sha512")
    with pytest.raises(BadInput) as err:
        get_profile(loaded, "fd35")
    assert "fd35" in str(err.value) and "x" in str(err.value)


def test_profiles_command_lists_all(tmp_path: Path):
    result = workbench_cmd("profiles", cwd=tmp_path)
    assert result.returncode == 0
    for pid in REQUIRED:
        assert pid in result.stdout
    ja = workbench_cmd("--lang", "ja", "profiles", cwd=tmp_path)
    assert "3.5インチFD 2HD" in ja.stdout and "種別" in ja.stdout


def test_profiles_are_data_not_code():
    files = sorted((PROJECT_ROOT / "profiles" / "media").glob("*.toml"))
    assert len(files) >= len(REQUIRED)
