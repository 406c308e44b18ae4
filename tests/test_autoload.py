"""Unattended disc batches (workbench.station.autoload): the simulated autoloader through
a 20-disc stack, the configured robot commands (fake scripts), a person at a plain
drive, cancel and crash mid-batch then resume, and the morning report."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from workbench.config import AutoloaderSettings, Settings, load_settings
from workbench.errors import ConfigError, Refused
from workbench.station import Cancelled, State, Station
from workbench.station.autoload import (
    AutoloadBatch,
    AutoloaderFailed,
    BatchOptions,
    autoloader_for,
    build_stack,
    night_report,
    read_items,
    write_night,
)
from workbench.station.autoload.loaders import CommandAutoloader, ManualAutoloader
from workbench.station.autoload.sim import SimAutoloader
from workbench.station.autoload.tray import VirtualTray, wait_for_medium

_IDENTIFIERS: dict[str, Any] = {}  # fido's signature set, loaded once for this module


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training drives at full speed; identification in this process with the
    signatures loaded once (a worker pool per disc would cost ~1 s a disc); no fsync
    (~45 a disc: these tests stop batches by exceptions, not by power cuts)."""
    import workbench.identify.pool as pool
    monkeypatch.setenv("WORKBENCH_TRAINING_SPEED", "fast")
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    monkeypatch.setattr(pool, "spawn_can_start", lambda: False)
    real = pool.FormatIdentifier

    def once(signatures: Any = None) -> Any:
        # every station here is new (no signatures loaded): fido's own set, whatever
        # the station's folder
        if "fido" not in _IDENTIFIERS:
            _IDENTIFIERS["fido"] = real(signatures)
        return _IDENTIFIERS["fido"]
    monkeypatch.setattr(pool, "FormatIdentifier", once)


@pytest.fixture
def station_settings(settings: Settings) -> Settings:
    return replace(settings, autoloader=AutoloaderSettings(medium_wait_seconds=0.3))


def sim_batch(station: Station, stack: Path, batch: str = "NIGHT-1",
              notify: Any = None, **options: Any) -> AutoloadBatch:
    loader, tray, drive = autoloader_for(station, "sim", "", batch, stack)
    return AutoloadBatch(station, loader, tray,
                         BatchOptions(batch, drive, **{"prefix": "CD-", **options}), notify)


def attempts_per_item(station: Station) -> dict[str, int]:
    return {r[0]: r[1] for r in station.con.execute(
        "SELECT item_id, COUNT(DISTINCT attempt) FROM attempts GROUP BY item_id")}


def test_the_simulated_autoloader_runs_20_discs_unattended_with_two_rejects(
        station_settings: Settings, tmp_path: Path):
    stack = tmp_path / "stack"
    build_stack(stack, 20, unreadable=(7, 15), partial=(11,))
    said: list[tuple[str, dict]] = []
    with Station(station_settings) as station:
        summary = sim_batch(station, stack, notify=lambda k, f: said.append((k, f))).run()
        assert summary.ended == "empty"
        assert (summary.count("done"), summary.count("partial"), summary.count("rejected")) \
            == (17, 1, 2)
        robot = SimAutoloader(stack).state
        assert robot.rejected == ["disc-07.drive.toml", "disc-15.drive.toml"]
        assert len(robot.done) == 18 and robot.in_drive == "" and robot.next == 20
        assert not (stack / "drive.drive.toml").exists()  # the drive is empty
        ids = [f"CD-{n:04d}" for n in range(1, 21)]
        states = {i: station.state(i).state for i in ids}
        assert states["CD-0007"] is State.FAILED and states["CD-0015"] is State.FAILED
        assert all(states[i] is State.BAGGED for i in ids if i not in ("CD-0007", "CD-0015"))
        assert station.result_of("CD-0011").record.outcome == "partial"
        assert attempts_per_item(station) == dict.fromkeys(ids, 1)
        # every disc read differs (its own volume name): 18 distinct images
        digests = {station.result_of(i).record.digests["sha256"] for i in ids
                   if i not in ("CD-0007", "CD-0015")}
        assert len(digests) == 18
        report = night_report(station, batch="NIGHT-1")
    assert [k for k, _ in said].count("out") == 20 and said[-1][0] == "empty"
    assert report.counts() == {"done": 17, "partial": 1, "rejected": 2}
    rejected = [(x.item, x.bin, x.reason) for x in report.lines if x.status == "rejected"]
    assert rejected == [("CD-0007", "reject", "unreadable"), ("CD-0015", "reject", "unreadable")]
    partial = [x for x in report.lines if x.status == "partial"]
    assert [(x.item, x.bin, x.reason) for x in partial] == [("CD-0011", "done", "bad_sectors")]
    assert "2 bad sectors" in partial[0].detail


def test_the_morning_report_in_words_csv_json_and_japanese(station_settings: Settings,
                                                           tmp_path: Path):
    stack = tmp_path / "stack"
    build_stack(stack, 4, unreadable=(2,), partial=(3,))
    with Station(station_settings) as station:
        sim_batch(station, stack, batch="B1").run()
        text = write_night(night_report(station, batch="B1"), "text", "en")
        report_ja = night_report(station, since="2000-01-01", lang="ja")
        assert night_report(station, batch="OTHER").lines == []
        assert night_report(station, since="2999-01-01").lines == []  # none since then
    assert "4 discs: 2 done, 1 partial, 1 rejected." in text
    assert "CD-0002  [rejected] nothing readable: Nothing could be read from the medium." \
        in text
    assert "CD-0003  [partial] bad sectors: 2 bad sectors (4,096 bytes)" in text
    data = json.loads(write_night(report_ja, "json"))
    assert data["counts"] == {"done": 2, "partial": 1, "rejected": 1} and data["total"] == 4
    assert [c["item"] for c in data["carriers"]] == ["CD-0001", "CD-0002", "CD-0003",
                                                     "CD-0004"]
    assert data["carriers"][1]["why"] == "読み取れる部分なし"
    csv_text = write_night(report_ja, "csv")
    assert csv_text.splitlines()[0].startswith("ended,item,status,bin,reason,why,detail")
    assert len(csv_text.splitlines()) == 5
    ja = write_night(report_ja, "text", "ja")
    assert "ディスク 4 枚：完了 2、部分 1、リジェクト 1。" in ja
    assert "不良セクターあり" in ja
    # the Japanese table lines up by display width (wide characters take two cells)
    from workbench.console import width
    rows = [line for line in ja.splitlines() if line.rstrip().endswith("B1")]
    assert len(rows) == 4
    assert len({width(line[:line.rindex("B1")]) for line in rows}) == 1


def test_night_report_and_autoload_commands(tmp_path: Path, capsys: pytest.CaptureFixture):
    from workbench.cli import main
    stack = tmp_path / "stack"
    build_stack(stack, 3, unreadable=(3,), partial=())
    code = main(["--training", "autoload", "--batch", "T1", "--prefix", "TR-", "--stack",
                 str(stack)])
    out = capsys.readouterr().out
    assert code == 3  # a disc was rejected: not every disc is clean
    assert "TR-0003: rejected, to the reject bin (nothing readable)." in out
    assert "Batch T1, this run: 2 done, 0 partial, 1 rejected." in out
    assert main(["--training", "night-report", "--batch", "T1", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {"done": 2, "partial": 0, "rejected": 1}
    assert main(["--training", "night-report", "--format", "xml"]) == 2
    assert "No report format" in capsys.readouterr().err
    # the batch is over: run again and it says so, loading nothing
    assert main(["--training", "autoload", "--batch", "T1", "--stack", str(stack)]) == 0
    assert "Batch T1 continues: the next item ID is TR-0004." in capsys.readouterr().out


def test_cancel_mid_disc_then_the_next_run_resumes_it(station_settings: Settings,
                                                      tmp_path: Path):
    stack = tmp_path / "stack"
    build_stack(stack, 6, unreadable=(5,), partial=())
    cancel = threading.Event()

    def stop_at_the_fourth(kind: str, fields: dict) -> None:
        if kind == "imaging" and fields["item"] == "CD-0004":
            cancel.set()  # Ctrl-C while the disc is being imaged
    with Station(station_settings, cancel=cancel) as station, pytest.raises(Cancelled):
        sim_batch(station, stack, notify=stop_at_the_fourth).run()
    robot = SimAutoloader(stack).state
    assert robot.in_drive == "disc-04.drive.toml" and len(robot.done) == 3
    said: list[tuple[str, dict]] = []
    with Station(station_settings) as station:
        summary = sim_batch(station, stack, notify=lambda k, f: said.append((k, f))).run()
        assert ("resume", {"item": "CD-0004", "state": "interrupted"}) in said
        assert [d.item for d in summary.discs] == ["CD-0004", "CD-0005", "CD-0006"]
        assert summary.totals == {"done": 5, "rejected": 1}
        ids = [f"CD-{n:04d}" for n in range(1, 7)]
        assert attempts_per_item(station) == dict.fromkeys(ids, 1)  # nothing imaged twice
        assert station.result_of("CD-0004").record.outcome == "success"
        assert len(station.result_of("CD-0004").record.runs) == 2  # resumed, not redone
        events = station.con.execute("SELECT item_id FROM events WHERE step = 'autoloader' "
                                     "ORDER BY item_id").fetchall()
        assert [e[0] for e in events] == ids  # nothing lost, nothing twice
    robot = SimAutoloader(stack).state
    assert len(robot.done) == 5 and robot.rejected == ["disc-05.drive.toml"]


def test_a_crash_between_the_record_and_the_unload_loses_nothing(
        station_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    stack = tmp_path / "stack"
    build_stack(stack, 3, unreadable=(), partial=())
    real = SimAutoloader.unload
    calls = {"n": 0}

    def crash_on_the_second(self: SimAutoloader, item: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("power cut")  # after the ledger says done, before the move
        real(self, item)
    monkeypatch.setattr(SimAutoloader, "unload", crash_on_the_second)
    with Station(station_settings) as station, pytest.raises(SystemExit):
        sim_batch(station, stack).run()
    assert SimAutoloader(stack).state.in_drive == "disc-02.drive.toml"
    with Station(station_settings) as station:
        summary = sim_batch(station, stack).run()
        assert [d.item for d in summary.discs] == ["CD-0002", "CD-0003"]
        assert attempts_per_item(station) == {"CD-0001": 1, "CD-0002": 1, "CD-0003": 1}
        events = station.con.execute(
            "SELECT COUNT(*) FROM events WHERE step = 'autoloader'").fetchone()[0]
        assert events == 3
    assert len(SimAutoloader(stack).state.done) == 3


def script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def robot(tmp_path: Path) -> dict[str, Any]:
    """A fake robot: shell scripts that log each call and move virtual discs from a
    stack folder into the drive file (a real robot's tools, in the contract's shape)."""
    stack = tmp_path / "robot-stack"
    build_stack(stack, 3, unreadable=(2,), partial=())
    log = tmp_path / "robot.log"
    drive = tmp_path / "robot-stack" / "drive.drive.toml"
    count = tmp_path / "loaded"
    load = script(tmp_path / "load.sh", f"""
n=$(cat {count} 2>/dev/null || echo 0); n=$((n + 1))
echo "load $1" >> {log}
f={stack}/disc-0$n.drive.toml
[ -f "$f" ] || {{ echo "NoDiskError: input queue empty"; exit 3; }}
echo $n > {count}
cp "$f" "$1"
""")
    unload = script(tmp_path / "unload.sh", f'echo "unload $2" >> {log}; rm -f "$1"\n')
    reject = script(tmp_path / "reject.sh", f'echo "reject $2" >> {log}; rm -f "$1"\n')
    return {"load": load, "unload": unload, "reject": reject, "log": log, "drive": drive,
            "count": count}


def configured(settings: Settings, robot: dict[str, Any], **changes: Any) -> Settings:
    commands = AutoloaderSettings(
        load=f"{robot['load']} {{drive}}", unload=f"{robot['unload']} {{drive}} {{item}}",
        reject=f"{robot['reject']} {{drive}} {{item}}", medium_wait_seconds=0.3,
        command_timeout_seconds=20)
    return replace(settings, autoloader=replace(commands, **changes))


def run_configured(settings: Settings, robot: dict[str, Any], batch: str = "R1") -> Any:
    with Station(settings) as station:
        loader, tray, drive = autoloader_for(station, "configured", str(robot["drive"]), batch)
        assert isinstance(loader, CommandAutoloader)
        return AutoloadBatch(station, loader, tray,
                             BatchOptions(batch, drive, prefix="R-", digits=3)).run()


def test_a_configured_robot_is_driven_by_its_commands(settings: Settings,
                                                      robot: dict[str, Any]):
    summary = run_configured(configured(settings, robot), robot)
    assert summary.ended == "empty"
    drive = robot["drive"]
    assert robot["log"].read_text().splitlines() == [
        f"load {drive}", "unload R-001", f"load {drive}", "reject R-002",
        f"load {drive}", "unload R-003", f"load {drive}"]
    assert [(d.item, d.status) for d in summary.discs] == [
        ("R-001", "done"), ("R-002", "rejected"), ("R-003", "done")]


def test_the_stack_is_empty_by_what_the_robot_says(settings: Settings,
                                                   robot: dict[str, Any]):
    """A tool that cannot choose its exit code (nimbie-py raises NoDiskError): its
    words say the stack is empty."""
    robot["count"].write_text("3")
    changed = configured(settings, robot, empty_exit_codes=(99,),
                         empty_output="NoDiskError")
    assert run_configured(changed, robot).ended == "empty"
    with pytest.raises(AutoloaderFailed) as failed:  # without the words: a failure
        run_configured(configured(settings, robot, empty_exit_codes=(99,)), robot, "R2")
    assert "exit 3" in str(failed.value) and "NoDiskError" in str(failed.value)


def test_a_failing_load_stops_the_batch_and_the_next_run_goes_on(
        settings: Settings, robot: dict[str, Any], tmp_path: Path):
    jammed = configured(settings, robot, load=script(tmp_path / "jam.sh",
                                                     'echo "gripper jammed"; exit 1\n'))
    with pytest.raises(AutoloaderFailed) as failed:
        run_configured(jammed, robot)
    message = str(failed.value)
    assert "load command failed (exit 1)" in message and "gripper jammed" in message
    assert failed.value.exit_code == 5
    # fixed: the batch goes on, and the first disc gets the first ID (none was used)
    summary = run_configured(configured(settings, robot), robot)
    assert [d.item for d in summary.discs] == ["R-001", "R-002", "R-003"]


def test_a_robot_that_does_not_answer_in_time_stops_the_batch(
        settings: Settings, robot: dict[str, Any], tmp_path: Path):
    slow = configured(settings, robot, command_timeout_seconds=0.3,
                      load=script(tmp_path / "slow.sh", "sleep 5\n"))
    with pytest.raises(AutoloaderFailed, match="no answer in 0 s"):
        run_configured(slow, robot)


def test_robot_commands_must_be_set_and_well_formed(settings: Settings, tmp_path: Path):
    drive = tmp_path / "d.drive.toml"
    with Station(settings) as station, pytest.raises(ConfigError, match=r"no \[autoloader\] load"):
        autoloader_for(station, "configured", str(drive), "B")
    bad = AutoloaderSettings(load="robot {slot}", unload="u", reject="r")
    with pytest.raises(ConfigError, match="cannot be used"):
        CommandAutoloader(bad, "/dev/sr0", "B").argv("load")
    (tmp_path / "workbench.toml").write_text(
        '[autoloader]\nload = "nimbie load {drive}"\nunload = "u"\nreject = "r"\n'
        'empty_exit_codes = [3, 4]\nempty_output = "NoDisk"\nmedium_wait_seconds = 20\n')
    loaded = load_settings(tmp_path / "workbench.toml").autoloader
    assert loaded.empty_exit_codes == (3, 4) and loaded.medium_wait_seconds == 20.0
    assert CommandAutoloader(loaded, "/dev/sr1", "B").argv("load") == ["nimbie", "load",
                                                                       "/dev/sr1"]
    (tmp_path / "workbench.toml").write_text('[autoloader]\nempty_output = "(["\n')
    with pytest.raises(ConfigError, match="regular expression"):
        load_settings(tmp_path / "workbench.toml")


def test_a_disc_the_drive_never_sees_is_rejected_and_its_id_not_reused(
        station_settings: Settings, tmp_path: Path):
    stack = tmp_path / "stack"
    build_stack(stack, 3, unreadable=(), partial=(), no_medium=(2,))
    with Station(station_settings) as station:
        summary = sim_batch(station, stack).run()
        assert [(d.item, d.status, d.reason) for d in summary.discs] == [
            ("CD-0001", "done", ""), ("CD-0002", "rejected", "no_medium"),
            ("CD-0003", "done", "")]
        assert station.state("CD-0002").state is State.NEW  # nothing was read
    build_stack(stack, 2, unreadable=(), partial=())  # a new stack, the same IDs again
    with Station(station_settings) as station:
        with pytest.raises(Refused, match="CD-0002 is in use already"):
            sim_batch(station, stack, batch="NIGHT-2", start=2).run()
        assert SimAutoloader(stack).state.next == 0  # nothing was loaded


def test_review_holds_partial_discs_in_the_reject_bin(station_settings: Settings,
                                                      tmp_path: Path):
    stack = tmp_path / "stack"
    build_stack(stack, 2, unreadable=(), partial=(2,))
    with Station(station_settings) as station:
        summary = sim_batch(station, stack, accept="review").run()
        assert [(d.item, d.status, d.reason) for d in summary.discs] == [
            ("CD-0001", "done", ""), ("CD-0002", "rejected", "partial_review")]
        assert station.state("CD-0002").state is State.IMAGED  # retry or accept later


def test_items_come_from_a_list_in_stack_order(station_settings: Settings, tmp_path: Path):
    stack = tmp_path / "stack"
    build_stack(stack, 3, unreadable=(), partial=())
    items = tmp_path / "items.csv"
    items.write_text("item,notes\n# the top of the stack first\nAV-17,box 3\n\nAV-09\n")
    assert read_items(items) == ("AV-17", "AV-09")
    with Station(station_settings) as station:
        summary = sim_batch(station, stack, items=read_items(items)).run()
    assert summary.ended == "no_more_ids"
    assert [d.item for d in summary.discs] == ["AV-17", "AV-09"]
    assert SimAutoloader(stack).left() == 1  # the third disc waits in the stack


def test_a_person_at_a_plain_drive(station_settings: Settings, tmp_path: Path):
    """Manual: the disc in the drive is imaged, the tray opens; no next disc within
    next_disc_wait_seconds ends the batch."""
    from workbench import PROJECT_ROOT
    drive = tmp_path / "plain.drive.toml"
    drive.write_text((PROJECT_ROOT / "media" / "cd-sample.drive.toml").read_text().replace(
        'image = "cd-sample.iso"', f'image = "{PROJECT_ROOT / "media" / "cd-sample.iso"}"'))
    settings = replace(station_settings, next_disc_wait_seconds=0.3)
    with Station(settings) as station:
        loader, tray, path = autoloader_for(station, "manual", str(drive), "M1")
        assert isinstance(loader, ManualAutoloader)
        summary = AutoloadBatch(station, loader, tray,
                                BatchOptions("M1", path, prefix="M-")).run()
        assert [(d.item, d.status) for d in summary.discs] == [("M-0001", "done")]
        assert summary.ended == "empty"


def test_a_virtual_tray_waits_with_a_deadline_and_opens(tmp_path: Path):
    drive = tmp_path / "x.drive.toml"
    tray = VirtualTray(str(drive))
    never = threading.Event()
    assert not wait_for_medium(tray, 0.1, never)  # no disc: False by the deadline
    (tmp_path / "x.iso").write_bytes(b"\0" * 4096)
    drive.write_text('image = "x.iso"\n')
    assert wait_for_medium(tray, 0.1, never)
    assert tray.eject() and not tray.medium_present()  # open: the disc is out
    drive.write_text('image = "x.iso"\n# another disc\n')  # another disc put in
    assert tray.medium_present()


def test_the_ui_runs_a_simulated_batch_from_the_command_palette(tmp_path: Path):
    import asyncio
    import time

    from textual.widgets import Input, Log

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.autoload import AutoloadScreen
    stack = tmp_path / "stack"
    build_stack(stack, 3, unreadable=(2,), partial=())

    async def scenario() -> None:
        app = WorkbenchApp(Settings().for_training())
        async with app.run_test(size=(100, 40)) as pilot:
            commands = [c.title for c in app.get_system_commands(app.screen)]
            assert "Unattended disc batch" in commands
            await app.push_screen(AutoloadScreen(stack=stack))
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, AutoloadScreen)
            screen.query_one("#batch", Input).value = "UI-1"
            await pilot.click("#start-batch")
            end = time.monotonic() + 60
            log = screen.query_one("#news", Log)
            while screen.running or not log.lines:
                assert time.monotonic() < end, list(log.lines)
                await pilot.pause(0.05)
            lines = list(log.lines)
            assert "CD-0002: rejected, to the reject bin (nothing readable)." in lines
            assert lines[-1] == "Batch UI-1, this run: 2 done, 0 partial, 1 rejected."
            await pilot.press("escape")  # not running: back
            assert not isinstance(app.screen, AutoloadScreen)
    asyncio.run(scenario())


def test_a_crash_after_a_failed_read_rejects_it_on_the_next_run_without_reading_again(
        station_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    stack = tmp_path / "stack"
    build_stack(stack, 2, unreadable=(1,), partial=())
    real = AutoloadBatch._record

    def crash_once(self: AutoloadBatch, j: Any, d: Any) -> None:
        monkeypatch.setattr(AutoloadBatch, "_record", real)
        raise SystemExit("power cut")  # judged, not yet recorded
    monkeypatch.setattr(AutoloadBatch, "_record", crash_once)
    with Station(station_settings) as station, pytest.raises(SystemExit):
        sim_batch(station, stack).run()
    with Station(station_settings) as station:
        summary = sim_batch(station, stack).run()
        assert [(d.item, d.status, d.reason) for d in summary.discs] == [
            ("CD-0001", "rejected", "unreadable"), ("CD-0002", "done", "")]
        assert len(station.result_of("CD-0001").record.runs) == 1  # not read again


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("losetup") is None,
                    reason="loop devices need root and losetup (util-linux)")
def test_a_person_at_a_real_block_drive_that_cannot_open_its_tray(
        station_settings: Settings, tmp_path: Path):
    """A read-only loop device stands in for a USB floppy drive: the medium is seen, its
    profile found by size, the disk imaged; the same disk still in the drive is never
    taken for the next one (the batch waits for the drive to be empty first)."""
    from tests.test_block_devices import loop_device
    from workbench import PROJECT_ROOT
    from workbench.station.autoload.tray import BlockTray
    backing = tmp_path / "floppy.img"
    shutil.copy(PROJECT_ROOT / "media" / "fd35-2hd-good.img", backing)
    before = backing.read_bytes()
    settings = replace(station_settings, next_disc_wait_seconds=0.5)
    with loop_device(backing, read_only=True) as dev, Station(settings) as station:
        loader, tray, drive = autoloader_for(station, "manual", dev, "LOOP")
        assert isinstance(tray, BlockTray) and tray.medium_present()
        summary = AutoloadBatch(station, loader, tray,
                                BatchOptions("LOOP", drive, prefix="FD-")).run()
        assert [(d.item, d.status) for d in summary.discs] == [("FD-0001", "done")]
        assert summary.ended == "empty"
        assert station.result_of("FD-0001").record.profile_id == "fd35-2hd"
    assert backing.read_bytes() == before  # never written


def test_since_is_local_time_unless_a_zone_is_given(monkeypatch: pytest.MonkeyPatch):
    import time
    from datetime import UTC, datetime

    from workbench.errors import BadInput
    from workbench.station.autoload.night import parse_since
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert parse_since("2026-11-25T18:00") == "2026-11-25T09:00:00Z"
        assert parse_since("2026-11-25") == "2026-11-24T15:00:00Z"
        assert parse_since("2026-11-25T18:00Z") == "2026-11-25T18:00:00Z"
        now = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
        assert parse_since("", now) == "2026-11-25T06:00:00Z"  # the last 24 hours
        with pytest.raises(BadInput, match="--since yesterday"):
            parse_since("yesterday")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_one_batch_one_drive(station_settings: Settings, tmp_path: Path):
    from workbench.errors import BadInput
    stack = tmp_path / "stack"
    build_stack(stack, 1, unreadable=(), partial=())
    with Station(station_settings) as station:
        sim_batch(station, stack).run()
        elsewhere = tmp_path / "other.drive.toml"
        with pytest.raises(BadInput, match="runs on the drive"):
            AutoloadBatch(station, SimAutoloader(stack), VirtualTray(str(elsewhere)),
                          BatchOptions("NIGHT-1", str(elsewhere), prefix="CD-")).run()
        with pytest.raises(BadInput, match="needs item IDs"):
            sim_batch(station, stack, batch="NIGHT-2", prefix="").run()
