from pathlib import Path

import pytest

from tests.conftest import workbench_cmd
from workbench.config import load_settings
from workbench.errors import ConfigError, ExitCode


def test_defaults_are_relative_to_the_current_directory(tmp_path: Path):
    s = load_settings()
    assert s.source is None
    assert s.paths.staging == tmp_path / "staging"
    assert s.paths.ledger == tmp_path / "logs" / "ledger.sqlite"
    assert s.legacy_codepage == "cp932"


def test_local_file_then_env_then_explicit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "workbench.toml").write_text('[station]\nid = "local"\n')
    assert load_settings().station_id == "local"
    other = tmp_path / "etc" / "station.toml"
    other.parent.mkdir()
    other.write_text('[station]\nid = "env"\n[paths]\nstaging = "st"\n')
    monkeypatch.setenv("WORKBENCH_CONFIG", str(other))
    s = load_settings()
    assert s.station_id == "env"
    assert s.paths.staging == other.parent / "st"  # relative to the file's folder
    explicit = tmp_path / "x.toml"
    explicit.write_text('[station]\nid = "explicit"\noperator = "Sato"\n')
    assert load_settings(explicit).operator == "Sato"


@pytest.mark.parametrize("text,words", [
    ("[station\nid = 1", ["bad.toml", "not valid TOML"]),
    ("[station]\ncolour = 'red'\n", ["bad.toml", "station.colour", "organisation"]),
    ("[stations]\n", ["bad.toml", "'stations'", "paths"]),
    ("[station]\nlegacy_codepage = 'klingon'\n", ["station.legacy_codepage", "cp932"]),
    ("[station]\nlanguage = 'fr'\n", ["station.language", "en, ja"]),
    ("[imaging]\nmap_save_seconds = true\n", ["imaging.map_save_seconds", "integer"]),
    ("[station]\nid = '../x'\n", ["station.id", "letters"]),
])
def test_bad_settings_name_file_key_and_what_is_allowed(tmp_path: Path, text: str, words):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    for word in words:
        assert word in str(err.value)


def test_cli_reports_bad_settings_with_exit_code(tmp_path: Path):
    (tmp_path / "workbench.toml").write_text("[paths]\nstagign = 'x'\n")
    result = workbench_cmd("profiles", cwd=tmp_path)
    assert result.returncode == ExitCode.BAD_INPUT
    assert "paths.stagign" in result.stderr and "staging" in result.stderr


def test_missing_explicit_config(tmp_path: Path):
    result = workbench_cmd("--config", "nope.toml", "profiles", cwd=tmp_path)
    assert result.returncode == ExitCode.BAD_INPUT
    assert "nope.toml" in result.stderr
