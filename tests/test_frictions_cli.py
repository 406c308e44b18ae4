"""Frictions of issue 13 in the CLI, the reports and the words: exact lost bytes, local
times, the log's next-page hint, exports that say what they wrote, the XLSX's formats
and totals, no 0% for nothing judged, a queue that goes on past bad rows, Japanese."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import MEDIA, workbench_cmd
from workbench.console import local_time, lost_bytes, width
from workbench.errors import ExitCode
from workbench.i18n import set_language
from workbench.ledger import record as ledger
from workbench.ledger.db import connect
from workbench.ledger.query import SliceRow


def add_attempts(ledger_path: Path, count: int) -> None:
    """count finished attempts straight into a station's ledger (no imaging)."""
    con = connect(ledger_path)
    for n in range(count):
        item = f"L{n:02d}"
        con.execute("INSERT INTO carriers (item_id, profile_id, family, station_id, created) "
                    "VALUES (?, 'fd35-2hd', 'FD', 'station-1', '2026-01-05')", (item,))
        outcome = "success" if n % 2 == 0 else "failed"
        ledger.add_version(con, {
            "attempt": item, "item_id": item, "station_id": "station-1", "operator": "op",
            "drive": "d", "drive_serial": "", "profile_id": "fd35-2hd", "family": "FD",
            "batch": "B1", "started": f"2026-01-05T10:{n:02d}:00Z",
            "ended": f"2026-01-05T10:{n:02d}:30Z", "outcome": outcome,
            "reason_code": "truncated" if outcome == "failed" else "",
            "reason": "The image is short " * 6 if outcome == "failed" else "",
            "bytes": 1474560, "bytes_rescued": 1474560, "bad_sectors": 0, "read_errors": 0,
            "rate": 60000.0, "md5": "", "sha256": "", "job_dir": "", "note": ""})
    con.commit()
    con.close()


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield {"TZ": "Asia/Tokyo"}
    monkeypatch.delenv("TZ")
    time.tzset()


def test_lost_bytes_are_exact_and_never_round_to_complete(tmp_path):
    assert lost_bytes(0, 1474560) == ""
    assert lost_bytes(3072, 1474560) == "3,072 bytes not read (0.21%)"
    assert lost_bytes(1, 10 ** 12) == "1 bytes not read (<0.01%)"
    cd = workbench_cmd("migrate", str(MEDIA / "cd-truncated.drive.toml"), "--profile", "cd",
                       "--item", "CD-1", cwd=tmp_path)
    assert cd.returncode == ExitCode.FAILED
    line = next(x for x in cd.stdout.splitlines() if "rescued" in x)
    assert "bytes not read (" in line, line  # "rescued 44.0 KiB of 76.0 KiB" alone hid it
    ja = workbench_cmd("--lang", "ja", "migrate", str(MEDIA / "cd-truncated.drive.toml"),
                       "--profile", "cd", "--item", "CD-2", cwd=tmp_path)
    line = next(x for x in ja.stdout.splitlines() if "救出" in x)
    assert "、未読 " in line and "; " not in line, line  # joined in Japanese, not with ";"


def test_people_read_local_times_the_records_stay_utc(tmp_path, tokyo):
    assert local_time("2026-01-05T10:00:00Z") == "2026-01-05 19:00:00"
    assert local_time("2026-01-05") == "2026-01-05" and local_time("") == ""
    workbench_cmd("ledger", "check", cwd=tmp_path)  # makes the ledger
    add_attempts(tmp_path / "logs" / "ledger.sqlite", 2)
    out = workbench_cmd("log", cwd=tmp_path, env=tokyo).stdout
    assert "2026-01-05 19:01:00" in out and "10:01:00Z" not in out
    shown = workbench_cmd("show", "L00", cwd=tmp_path, env=tokyo).stdout
    assert "2026-01-05 19:00:00" in shown
    con = connect(tmp_path / "logs" / "ledger.sqlite")
    assert con.execute("SELECT started FROM attempts WHERE item_id = 'L00'").fetchone()[0] \
        == "2026-01-05T10:00:00Z"  # the record itself is untouched
    con.close()


def test_the_log_hint_repeats_the_filters_and_reasons_are_cut_visibly(tmp_path):
    workbench_cmd("ledger", "check", cwd=tmp_path)
    add_attempts(tmp_path / "logs" / "ledger.sqlite", 5)
    out = workbench_cmd("log", "--limit", "1", "--outcome", "failed", "--batch", "B1",
                        "--operator", "op", cwd=tmp_path).stdout
    hint = out.strip().splitlines()[-1]
    for option in ("--outcome failed", "--batch B1", "--operator op", "--limit 1"):
        assert option in hint, hint
    assert "…" in out  # a reason longer than its column says it was cut
    assert "L03" in out and "L01" not in out  # failed ones, newest first
    again = workbench_cmd(*hint.split("workbench ", 1)[1].split(), cwd=tmp_path).stdout
    assert "L01" in again and "L03" not in again and "L02" not in again


def test_exports_say_what_they_wrote_where(tmp_path):
    workbench_cmd("ledger", "check", cwd=tmp_path)
    add_attempts(tmp_path / "logs" / "ledger.sqlite", 3)
    report = workbench_cmd("report", "--format", "xlsx", "--out", "r.xlsx", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert str(tmp_path / "r.xlsx") in report.stdout and "1 rows" in report.stdout
    export = workbench_cmd("ledger", "export", "copy.sqlite", cwd=tmp_path)
    assert str(tmp_path / "copy.sqlite") in export.stdout
    assert "3 carriers" in export.stdout and "3 attempts" in export.stdout, export.stdout


def test_xlsx_percentages_totals_frozen_header_widths_and_no_rate_for_nothing(tmp_path):
    from workbench.ledger.export import COLUMNS, write_xlsx
    rows = [SliceRow("FD", "3.5-inch FD", carriers=4, succeeded=3, failed=1, attempts=4,
                     attempts_succeeded=3, bytes=100),
            SliceRow("MO", "MO", carriers=1, needs_flux=1, attempts=1, bytes=0)]
    path = tmp_path / "r.xlsx"
    write_xlsx({"media": rows}, path, "en")
    sheet = openpyxl.load_workbook(path)["media type"]
    values = list(sheet.iter_rows(values_only=True))
    rate = COLUMNS.index("success_rate")
    assert values[1][rate] == pytest.approx(0.75)
    assert values[2][rate] == "-"  # nothing judged: no rate, never 0%
    assert values[3][0] == "All carriers" and values[3][1] == 5 and values[3][2] == 3
    assert values[3][rate] == pytest.approx(0.75)  # the overall rate
    assert sheet.cell(2, rate + 1).number_format == "0.0%"
    assert sheet.cell(4, rate + 1).font.bold
    assert sheet.freeze_panes == "B2"
    assert sheet.column_dimensions["A"].width >= len("3.5-inch FD")
    assert sheet.column_dimensions["P"].width >= 8


def test_zero_carrier_slices_show_no_rate_in_the_ui_table():
    import asyncio

    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.supervisor import StatsScreen

    async def scenario() -> list[object]:
        app = WorkbenchApp(Settings().for_training())
        app.ledger.execute(
            "INSERT INTO carriers (item_id, profile_id, family, station_id, created) "
            "VALUES ('MO-1', 'mo', 'MO', 'station-1', '2026-01-05')")
        ledger.add_version(app.ledger, {
            "attempt": "MO-1", "item_id": "MO-1", "station_id": "station-1",
            "operator": "op", "drive": "d", "drive_serial": "", "profile_id": "mo",
            "family": "MO", "batch": "", "started": "2026-01-05T10:00:00Z",
            "ended": "2026-01-05T10:00:30Z", "outcome": "needs_flux", "reason_code": "",
            "reason": "", "bytes": 0, "bytes_rescued": 0, "bad_sectors": 0,
            "read_errors": 0, "rate": 0.0, "md5": "", "sha256": "", "job_dir": "",
            "note": ""})
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(StatsScreen())
            await pilot.pause()
            from textual.widgets import DataTable
            return list(app.screen.query_one("#stats", DataTable).get_row_at(0))
    row = asyncio.run(scenario())
    assert row[7:10] == ["-", "-", "-"], row


def test_one_bad_queue_row_does_not_stop_the_batch(tmp_path):
    good = MEDIA / "fd35-2hd-good.drive.toml"
    (tmp_path / "batch.csv").write_text(
        "item,profile,notes,source\n"
        f"Q-1,no-such-profile,,{good}\n"
        f",fd35-2hd,empty item,{good}\n"
        f"../../etc/passwd,fd35-2hd,hostile,{good}\n"
        f"Q-4,fd35-2hd,no source,\n"
        f"Q-5,fd35-2hd,good,{good}\n", encoding="utf-8")
    out = workbench_cmd("queue", "--yes", "batch.csv", cwd=tmp_path, timeout=300)
    assert "success 1" in out.stdout and "errors 4" in out.stdout, (out.stdout, out.stderr)
    assert out.returncode == ExitCode.BAD_INPUT
    for n in range(1, 5):  # every bad row is said, by its number
        assert f"{n}/5" in out.stderr, out.stderr
    assert (tmp_path / "bags" / "Q-5").is_dir()
    # without --yes and no one at the keyboard: the batch stops cleanly, said, no traceback
    asked = workbench_cmd("queue", "batch.csv", cwd=tmp_path, timeout=120)
    assert "Traceback" not in asked.stderr, asked.stderr[-2000:]
    assert "no answer" in asked.stderr and "--yes" in asked.stderr, asked.stderr
    assert "queue finished: errors 3" in asked.stdout  # rows 1-3 said, stopped at row 4


def test_japanese_step_details_and_a_width_aware_chart():
    from workbench.station.result import step_line
    from workbench.tui.supervisor import rate_bars
    set_language("ja")
    try:
        verify = step_line("verification", "success", "digests match: md5, sha256")
        files = step_line("identification", "incomplete",
                          "4 files, 0 unidentified; not listed in full: volume 2")
        copy = step_line("tape copy 2", "verified", "T00002 (offsite)")
        chart = rate_bars([SliceRow("FD", "FD（3.5インチ）", carriers=2, succeeded=1, failed=1),
                           SliceRow("CD", "CD", carriers=1, succeeded=1)]).plain
    finally:
        set_language("en")
    assert "ダイジェスト一致：md5, sha256" in verify and verify.startswith("検証")
    assert "digests" not in verify and "files" not in files and "volume" not in files
    assert "テープ複製 2" in copy and "verified" not in copy
    starts = [width(line[:line.index("█")]) for line in chart.splitlines()]
    assert len(set(starts)) == 1, chart  # the bars start in one column


def test_every_recorded_step_has_words_never_a_message_key():
    """`show` after a withdrawal printed 'step.withdrawal'; a step this version has no
    word for (another station's, merged) is shown as recorded."""
    from workbench.i18n import set_language
    from workbench.station.result import step_line
    for lang in ("en", "ja"):
        set_language(lang)
        for step in ("imaging", "note", "withdrawal", "job set aside", "autoloader",
                     "tape copy 2", "tape", "a step from the future"):
            line = step_line(step, "recorded", "x")
            assert "step." not in line and "ui." not in line, (lang, line)
    set_language("en")
    assert step_line("a step from the future", "recorded", "x").startswith(
        "a step from the future")


def test_log_before_takes_a_time_or_the_more_lines_cursor(tmp_path):
    """`--before yesterday` listed everything and `garbage@x` was compared as text: a
    cursor is refused unless it is a time or TIME@ROW."""
    from tests.conftest import workbench_run
    for bad in ("yesterday", "garbage@x", "2026-11-26T03:00:05Z@-1", "0"):
        out = workbench_run("log", "--before", bad, cwd=tmp_path)
        assert out.returncode == 2 and "--before" in out.stderr, (bad, out.stderr)
    for good in ("2026-11-26T03:00:05Z", "2026-11-26T03:00:05.123456Z@42", "2026-11-26"):
        assert workbench_run("log", "--before", good, cwd=tmp_path).returncode == 0, good
