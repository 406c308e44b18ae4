"""Every user-facing message exists in English and Japanese, with the same placeholders."""

import re
import string

import pytest

from workbench import PROJECT_ROOT
from workbench.i18n import catalog, t

SOURCE = PROJECT_ROOT / "workbench"
ERRORS = "t|BadInput|ConfigError|Refused|DiskFull|WorkbenchError"
KEY_CALL = rf'\b(?:{ERRORS})\(\s*"([a-z_]+\.[a-z_.]+)"'


def placeholders(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_catalogs_have_the_same_keys_and_placeholders():
    en, ja = catalog("en"), catalog("ja")
    assert set(en) == set(ja)
    for key in en:
        assert placeholders(en[key]) == placeholders(ja[key]), key


def used_keys() -> set[str]:
    keys = set()
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        keys |= set(re.findall(KEY_CALL, text))
        keys |= {f"reason.{k}" for k in re.findall(r'Reason\.of\(\s*"([a-z_]+)"', text)}
        for k in re.findall(r'Check\(\s*"([a-z_]+)"', text):
            keys |= {f"preflight.{k}.ok", f"preflight.{k}.refused"}
        keys |= {f"reason.{k}" for k in re.findall(r'SourceGone\(\s*"([a-z_]+)"', text)}
    return keys


def test_every_key_used_in_code_is_in_the_catalog():
    keys = used_keys()
    assert len(keys) > 40
    missing = sorted(k for k in keys if k not in catalog("en"))
    assert not missing


def test_outcomes_and_phases_are_translated():
    for word in ("running", "success", "partial", "failed", "aborted"):
        assert t(f"outcome.{word}", lang="ja") != t(f"outcome.{word}", lang="en")
    assert t("reason.bad_sectors", lang="ja", count=3, bytes="1,536").startswith("3 個")


def test_no_user_facing_print_outside_the_catalog():
    """print() calls in the core print catalog text or data, never literal sentences."""
    for path in SOURCE.rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.search(r'print\(\s*"[A-Za-z][a-z]+ [a-z]+', line):
                raise AssertionError(f"{path}: literal message: {line.strip()}")



def test_area_catalogs_merge_and_a_key_twice_is_refused(tmp_path, monkeypatch):
    import workbench.i18n as i18n

    (tmp_path / "en").mkdir()
    (tmp_path / "en.toml").write_text('[error]\nx = "X"\n')
    (tmp_path / "en" / "area.toml").write_text('[area]\ny = "Y"\n')
    monkeypatch.setattr(i18n, "_LOCALES", tmp_path)
    i18n.catalog.cache_clear()
    try:
        assert i18n.catalog("en") == {"error.x": "X", "area.y": "Y"}
        (tmp_path / "en" / "more.toml").write_text('[error]\nx = "again"\n')
        i18n.catalog.cache_clear()
        with pytest.raises(ValueError, match=r"error\.x"):
            i18n.catalog("en")
    finally:
        i18n.catalog.cache_clear()
