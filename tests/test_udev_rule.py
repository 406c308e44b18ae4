"""`workbench setup --udev`: the rule that makes removable media read-only and keeps the
automounters off them, shown (--dry-run) and written atomically into a rules folder (a
temporary folder here: never the machine's own)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from workbench import atomic
from workbench.cli import main
from workbench.errors import Refused
from workbench.station import udev

UDEV_LINE = re.compile(r'^(?:[A-Z_]+(?:\{[A-Za-z_]+\})?(?:==|!=|=|\+=) *"[^"]*"(?:, *|$))+$')


def test_the_rule_text_says_what_it_does():
    text = udev.rule_text("/usr/sbin/blockdev")
    lines = [x for x in text.splitlines() if x and not x.startswith("#")]
    for line in lines:  # every rule line is KEY op "value", ... as udev reads it
        assert UDEV_LINE.match(line), line
    gotos = set(re.findall(r'GOTO="([^"]+)"', text))
    labels = set(re.findall(r'^LABEL="([^"]+)"$', text, re.M))
    assert gotos == labels == {"workbench_readonly_end", "workbench_readonly_protect"}
    assert 'ACTION!="add|change", GOTO="workbench_readonly_end"' in lines
    assert 'SUBSYSTEM!="block", GOTO="workbench_readonly_end"' in lines
    # which devices: optical drives, removable ones, floppies; not by the bus (a USB
    # staging disk reports itself fixed and stays writable: tests/test_guard_cli.py)
    assert 'KERNEL=="sr[0-9]*", GOTO="workbench_readonly_protect"' in lines
    assert 'ATTRS{removable}=="1", GOTO="workbench_readonly_protect"' in lines
    assert 'ENV{ID_DRIVE_FLOPPY}=="1", GOTO="workbench_readonly_protect"' in lines
    # what it does to them: automounters off, read-only at the block layer
    protect = lines[lines.index('LABEL="workbench_readonly_protect"') + 1:]
    assert 'ENV{UDISKS_AUTO}="0", ENV{UDISKS_IGNORE}="1", ENV{UDISKS_SYSTEM}="1"' in protect
    assert 'RUN+="/usr/sbin/blockdev --setro $devnode"' in protect
    assert "--setrw" not in "".join(lines)  # nothing ever makes a medium writable
    assert "Undo: delete this file" in text


def test_dry_run_prints_the_rule_and_where_and_writes_nothing(tmp_path, capsys):
    rules = tmp_path / "rules.d"
    assert main(["setup", "--udev", "--dry-run", "--rules-dir", str(rules)]) == 0
    out = capsys.readouterr().out
    assert f"would write {rules / udev.RULE_NAME} (a new file)" in out
    assert udev.udev_plan(rules).text in out
    assert not rules.exists()


def test_install_writes_the_rule_atomically_into_the_folder(tmp_path, capsys):
    rules = tmp_path / "rules.d"
    assert main(["setup", "--udev", "--rules-dir", str(rules)]) == 0
    target = rules / udev.RULE_NAME
    assert target.read_text() == udev.udev_plan(rules).text
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in rules.iterdir()] == [udev.RULE_NAME]  # no temp file left
    out = capsys.readouterr().out
    assert f"Wrote {target}" in out and "not udev's own rules folder" in out
    assert main(["setup", "--udev", "--rules-dir", str(rules)]) == 0
    assert "holds this rule already: nothing changed" in capsys.readouterr().out
    assert "installed" in udev.summary_line(rules)


def test_a_crash_while_writing_leaves_the_old_rule_whole(tmp_path, monkeypatch):
    rules = tmp_path / "rules.d"
    rules.mkdir()
    old = "# an older workbench rule\n"
    (rules / udev.RULE_NAME).write_text(old)
    plan = udev.udev_plan(rules)
    assert plan.exists and not plan.same
    assert "differs" in udev.summary_line(rules)

    def crash(fd: int) -> None:
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(OSError):
        udev.install(plan, reload=False)
    assert (rules / udev.RULE_NAME).read_text() == old  # never half a rule
    assert [p.name for p in rules.iterdir()] == [udev.RULE_NAME]
    monkeypatch.undo()
    assert udev.install(plan, reload=False).written
    assert (rules / udev.RULE_NAME).read_text() == plan.text


def test_a_folder_that_cannot_be_written_is_refused_with_what_to_do(tmp_path,
                                                                   monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: rights are the reason
    with pytest.raises(Refused) as err:
        udev.run_setup(blocker / "rules.d")
    assert "sudo workbench setup --udev" in err.value.message()
    monkeypatch.undo()
    assert main(["setup", "--udev", "--rules-dir", str(blocker / "rules.d")]) != 0


def test_the_setup_summary_shows_the_rule_and_the_block_setting(tmp_path, capsys):
    assert main(["setup", "--block-read-only", "keep"]) == 0
    out = capsys.readouterr().out
    assert "Block-level read-only while imaging: keep" in out
    assert "Removable-media rule:" in out
    assert 'block_read_only = "keep"' in Path("workbench.toml").read_text()
    missing = udev.summary_line(tmp_path / "none")
    assert "not installed" in missing and "--dry-run" in missing


def test_the_set_up_screen_shows_whether_the_rule_is_installed(tmp_path):
    import asyncio

    from textual.widgets import Static

    from workbench.config import load_settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.setup import SetupScreen

    async def scenario() -> None:
        app = WorkbenchApp(load_settings(), sign_in=True)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            await pilot.press(*"Sato", "enter")
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen)
            shown = str(app.screen.query_one("#setup-udev", Static).render())
            assert shown == udev.summary_line()
            assert shown.startswith("Removable-media rule:")
    asyncio.run(scenario())
