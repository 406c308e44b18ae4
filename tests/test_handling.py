"""Handling words per carrier: each profile's checklist says how its own kind of carrier
is held and write-protected, in English and Japanese, from one place."""

from __future__ import annotations

import shutil

import pytest

from workbench import PROJECT_ROOT
from workbench.errors import ConfigError
from workbench.handling import KINDS, handling_lines
from workbench.i18n import catalog
from workbench.profiles import load_profiles, parse_profile

# words that belong to one kind only: (kind, language) -> words no other kind may show
OWN = {
    "fd525": {"en": ["notch", "5.25-inch disk:"], "ja": ["ノッチ", "ジャケット"]},
    "fd35": {"en": ["write-protect tab", "3.5-inch disk:"], "ja": ["つまみ", "3.5インチFD："]},
    "mo": {"en": ["MO cartridge", "write-protect switch"], "ja": ["MOカートリッジ"]},
    "optical": {"en": ["CD-R or CD-RW", "centre outwards"], "ja": ["CD-R・CD-RW", "中心から外側"]},
    "usb": {"en": ["USB memory:", "slide it to lock"], "ja": ["USBメモリ：", "ロック側"]},
}
EXPECTED = {"fd525-2d": ["fd525"], "fd525-2hd": ["fd525"], "fd35-2dd": ["fd35"],
            "fd35-2hd": ["fd35"], "fd35-2ed": ["fd35"], "pc98-2hd": ["fd35", "fd525"],
            "mo-128": ["mo"], "mo-230": ["mo"], "mo-540": ["mo"], "mo-640": ["mo"],
            "mo-1300": ["mo"], "mo-2300": ["mo"], "cd": ["optical"], "dvd": ["optical"],
            "bd": ["optical"], "usb": ["usb"], "hdd": []}


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(PROJECT_ROOT / "profiles")


def test_every_profile_names_its_kind_of_carrier(profiles):
    assert {p.id: list(p.handling) for p in profiles.values()} == EXPECTED


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_each_checklist_has_its_own_words_and_no_other_kinds(profiles, lang):
    for profile in profiles.values():
        text = "\n".join(profile.reminders_for(lang))
        for kind, words in OWN.items():
            for word in words[lang]:
                if kind in profile.handling:
                    assert word in text, (profile.id, kind, word)
                else:
                    assert word not in text, (profile.id, "shows", kind, word)


def test_a_five_and_a_quarter_inch_disk_never_gets_the_tab_instruction(profiles):
    for pid in ("fd525-2d", "fd525-2hd"):
        en = " ".join(profiles[pid].reminders_for("en")).lower()
        ja = " ".join(profiles[pid].reminders_for("ja"))
        assert "tab" not in en and "shutter" not in en and "slide" not in en
        assert "cover the write-protect notch" in en
        assert "つまみ" not in ja and "シャッター" not in ja and "ノッチ" in ja
    for pid in ("fd35-2hd", "fd35-2dd", "fd35-2ed"):
        assert "notch" not in " ".join(profiles[pid].reminders_for("en"))


def test_the_handling_words_come_first_and_the_profile_keeps_its_own(profiles):
    mo = profiles["mo-640"].reminders_for("en")
    assert mo[:3] == handling_lines(["mo"], "en")
    assert "640 MB" in mo[-1]
    dd = profiles["fd35-2dd"].reminders_for("ja")
    assert dd[0].startswith("3.5インチFD") and "GCR" in dd[-1]


def test_the_words_live_in_one_place_not_in_the_profiles():
    """No profile file carries write-protect or handling words of its own."""
    for path in sorted((PROJECT_ROOT / "profiles" / "media").glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        own = text[text.index("[reminders]"):] if "[reminders]" in text else ""
        for word in ("write-protect", "ライトプロテクト", "shutter", "シャッター",
                     "centre outwards"):
            assert word not in own, (path.name, word)


def test_every_kind_has_every_line_in_both_languages():
    for lang in ("en", "ja"):
        words = catalog(lang)
        for kind, lines in KINDS.items():
            for line in lines:
                assert words.get(f"handling.{kind}.{line}"), (lang, kind, line)


def test_an_unknown_kind_is_refused(tmp_path):
    src = PROJECT_ROOT / "profiles" / "media" / "fd35-2hd.toml"
    bad = tmp_path / "fd35-2hd.toml"
    shutil.copy(src, bad)
    bad.write_text(bad.read_text().replace('handling = ["fd35"]', 'handling = ["fd8"]'))
    with pytest.raises(ConfigError) as err:
        parse_profile(bad)
    assert "fd525" in err.value.message()
