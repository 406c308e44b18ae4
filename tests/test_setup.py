"""Station set-up (a settings file written atomically, comments kept, checked before
writing), operator sign-in at the start of the UI, and the rule for a station whose
organisation was never set (said by every command that may bag, and by the UI)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

# at collection, not under a test's capsys (console binds sys.stderr on import)
from workbench.cli import main
from workbench.config import UNNAMED, Settings, load_settings, write_settings
from workbench.errors import BadInput
from workbench.i18n import set_language
from workbench.station.setup import save, sign_in

COMMENTED = """# Station 3, reading room
[station]
id = "fd-3"   # on the label of the PC
language = "en"

[tape]
# two copies, two buildings
pools = ["north", "south"]
"""


def test_setup_writes_a_file_that_loads_back_and_keeps_comments(tmp_path):
    path = tmp_path / "workbench.toml"
    path.write_text(COMMENTED)
    settings = save(path, {"organisation": "National Diet Library",
                           "contact_email": "dp@example.jp", "language": "ja",
                           "camera_command": "gphoto2 --filename {path}",
                           "camera_timeout": "20", "pools": "north, south, west"})
    assert settings == load_settings(path)
    assert settings.organisation == "National Diet Library" and settings.language == "ja"
    assert settings.tape_pools == ("north", "south", "west")
    assert settings.camera_command == "gphoto2 --filename {path}"
    assert settings.camera_timeout == 20.0 and settings.station_id == "fd-3"
    text = path.read_text()
    assert "# Station 3, reading room" in text and "# two copies, two buildings" in text
    assert not settings.organisation_unset
    assert [p.name for p in tmp_path.iterdir()] == ["workbench.toml"]  # no temp file left


@pytest.mark.parametrize("values,words", [
    ({"language": "fr"}, ["station.language", "en, ja"]),
    ({"station_id": "../x"}, ["../x", "station ID", "letters"]),
    ({"camera_command": "gphoto2 --capture"}, ["{path}"]),
    ({"camera_timeout": "soon"}, ["not a number"]),
    ({"organisation": UNNAMED}, ["organisation's name"]),
    ({"organisation": "  "}, ["organisation's name"]),
    ({"organisation": "Library\x00"}, ["control character"]),
    ({"contact_email": "nobody"}, ["e-mail"]),
])
def test_a_bad_value_is_refused_and_the_file_is_untouched(tmp_path, values, words):
    path = tmp_path / "workbench.toml"
    path.write_text(COMMENTED)
    with pytest.raises(BadInput) as err:
        save(path, values)
    for word in words:
        assert word in err.value.message()
    assert path.read_text() == COMMENTED


def test_a_key_written_over_several_lines_is_replaced_whole(tmp_path):
    path = tmp_path / "workbench.toml"
    path.write_text('[tape]\npools = [\n  "a",\n  "b",\n]\n')
    assert write_settings(path, {"tape": {"pools": ["c"]}}).tape_pools == ("c",)
    assert path.read_text() == '[tape]\npools = ["c"]\n'


def test_a_bad_station_id_is_refused_in_the_users_language(tmp_path):
    path = tmp_path / "workbench.toml"
    path.write_text(COMMENTED)
    set_language("ja")
    try:
        with pytest.raises(BadInput) as err:
            save(path, {"station_id": "駅 1"})
        said = err.value.message()
    finally:
        set_language("en")
    assert "「駅 1」はステーションIDに使えません" in said and "letters" not in said
    assert path.read_text() == COMMENTED


def test_sign_in_names_the_operator():
    assert sign_in(Settings(), " Sato Hanako ").operator == "Sato Hanako"
    for bad in ("", "   ", "Sato\x1b"):
        with pytest.raises(BadInput):
            sign_in(Settings(), bad)


def test_cli_setup_then_no_warning(tmp_path, capsys):
    assert main(["accept", "NOPE-1"]) == 6  # unset: the warning comes first
    assert "organisation is not set" in capsys.readouterr().err
    assert main(["--training", "accept", "NOPE-1"]) == 6  # training keeps the sample
    assert "organisation is not set" not in capsys.readouterr().err
    assert main(["setup", "--organisation", "National Library", "--station-id", "fd-9",
                 "--pools", "a,b"]) == 0
    out = capsys.readouterr().out
    assert "workbench.toml" in out and "Organisation: National Library" in out
    settings = load_settings(tmp_path / "workbench.toml")
    assert (settings.organisation, settings.station_id, settings.tape_pools) == \
        ("National Library", "fd-9", ("a", "b"))
    assert main(["accept", "NOPE-1"]) == 6
    assert "organisation is not set" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["setup", "--language", "fr"])  # argparse refuses it
    assert main(["setup", "--organisation", ""]) == 2
    assert load_settings(tmp_path / "workbench.toml").organisation == "National Library"


def test_cli_setup_makes_the_settings_file_config_names(tmp_path, capsys):
    target = tmp_path / "etc" / "station.toml"
    assert main(["--config", str(target), "setup", "--organisation", "NL"]) == 0
    assert load_settings(target).organisation == "NL"
    assert main(["--config", str(tmp_path / "other.toml"), "pending"]) == 2  # not setup


def test_sign_in_and_set_up_at_start_of_the_ui(tmp_path):
    from textual.widgets import Input, Static

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.home import HomeScreen
    from workbench.tui.setup import SetupScreen
    from workbench.tui.signin import SignInModal

    async def scenario() -> None:
        app = WorkbenchApp(load_settings(), sign_in=True)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, SignInModal)
            await pilot.press("enter")  # no name: stays, says why
            await pilot.pause()
            assert isinstance(app.screen, SignInModal)
            assert "sign in" in str(app.screen.query_one("#signin-message", Static).render())
            await pilot.press(*"Sato", "enter")
            await pilot.pause()
            assert app.settings.operator == "Sato" and app.station.settings.operator == "Sato"
            assert isinstance(app.screen, SetupScreen)  # no organisation yet
            field = app.screen.query_one("#setup-organisation", Input)
            assert field.has_focus and field.value == ""  # not the placeholder name
            assert field.placeholder == "the name of your library or archive"
            app.screen.query_one("#setup-organisation", Input).value = "National Library"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            assert app.settings.organisation == "National Library"
            assert app.settings.operator == "Sato"  # the sign-in stays
            assert "National Library" in str(app.screen.query_one("#station").render())
            assert "not set" not in str(app.screen.query_one("#station").render())
    asyncio.run(scenario())
    settings = load_settings(Path("workbench.toml"))
    assert settings.organisation == "National Library" and settings.operator == ""


def test_a_set_up_station_with_an_operator_starts_at_home(tmp_path):
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.home import HomeScreen
    Path("workbench.toml").write_text('[station]\norganisation = "NL"\noperator = "Ito"\n')

    async def scenario() -> None:
        app = WorkbenchApp(load_settings(), sign_in=True)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("o")
            await pilot.pause()
            assert type(app.screen).__name__ == "SetupScreen"
    asyncio.run(scenario())
