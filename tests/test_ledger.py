"""The ledger and the whole pipeline: outcomes, crash-safety, concurrency, statistics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import MEDIA, workbench_cmd, workbench_run
from tests.pg_fixtures import *  # noqa: F403 (the fixtures backend, pg_server, pg_url)
from workbench import PROJECT_ROOT
from workbench.errors import ExitCode
from workbench.ledger import record as ledger
from workbench.ledger.db import connect
from workbench.ledger.export import merge_ledger
from workbench.ledger.query import Filters, statistics, wilson

TABLES = ("carriers", "attempts", "events", "formats", "bags", "tape_copies")


def counts(db: Path | str) -> dict[str, int]:
    con = connect(db)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        con.close()


def migrate(cwd: Path, drive: str, profile: str, item: str, *extra: str):
    return workbench_run("migrate", str(MEDIA / f"{drive}.drive.toml"), "--profile", profile,
                         "--item", item, "--batch", "B1", *extra, cwd=cwd)


def test_end_to_end_on_the_sample_media(tmp_path, backend):
    good = migrate(tmp_path, "fd35-2hd-good", "fd35-2hd", "FD-1")
    assert good.returncode == ExitCode.SUCCESS, good.stderr
    bad = migrate(tmp_path, "fd35-2hd-damaged", "fd35-2hd", "FD-2")
    assert bad.returncode == ExitCode.PARTIAL
    cd = migrate(tmp_path, "cd-truncated", "cd", "CD-1")
    assert cd.returncode == ExitCode.FAILED
    con = connect(backend.station_ledger(tmp_path))
    rows = {r["item_id"]: r for r in con.execute("SELECT * FROM current_attempts")}
    assert rows["FD-1"]["outcome"] == "success" and rows["FD-1"]["bad_sectors"] == 0
    assert rows["FD-2"]["outcome"] == "partial" and rows["FD-2"]["bad_sectors"] == 6
    assert rows["CD-1"]["outcome"] == "failed" and rows["CD-1"]["reason_code"] == "truncated"
    steps = [r["step"] for r in con.execute(
        "SELECT step FROM events WHERE item_id = 'FD-2' ORDER BY started, rowid")]
    assert steps == ["imaging", "verification", "identification", "packaging"]
    assert con.execute("SELECT COUNT(*) FROM bags").fetchone()[0] == 2
    # the floppy's 12 files and the 2 members of its zip: the formats a carrier holds,
    # archives opened
    assert con.execute("SELECT SUM(files) FROM formats WHERE item_id = 'FD-1'"
                       ).fetchone()[0] == 14
    shown = workbench_run("show", "FD-2", cwd=tmp_path).stdout
    assert "packaging" in shown and "fmt/11" in shown and "bags/FD-2" in shown


def test_two_processes_migrating_at_once_lose_nothing(tmp_path, backend):
    args = [[sys.executable, "-m", "workbench", "migrate", str(MEDIA / f"{d}.drive.toml"),
             "--profile", p, "--item", i] for d, p, i in
            [("fd35-2hd-good", "fd35-2hd", "FD-1"), ("usb-sample", "usb", "USB-1"),
             ("fd35-2hd-damaged", "fd35-2hd", "FD-2"), ("cd-sample", "cd", "CD-1")]]
    procs = [subprocess.Popen(a, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for a in args]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0, 3, 0], [p.stderr.read() for p in procs]
    c = counts(backend.station_ledger(tmp_path))
    assert c["carriers"] == 4 and c["bags"] == 4 and c["events"] == 16


def seed(con, item: str, profile: str, family: str, outcome: str,
         started: str, station: str = "S1", batch: str = "B1", reason: str = "",
         rate: float = 100.0, size: int = 1000) -> None:
    con.execute("INSERT OR IGNORE INTO carriers (item_id, profile_id, family, station_id, "
                "created) VALUES (?, ?, ?, ?, ?)", (item, profile, family, station, started))
    ledger.add_version(con, {
        "attempt": f"{station}-{item}-{started}", "item_id": item, "station_id": station,
        "operator": "op", "drive": "drive-1", "drive_serial": "", "profile_id": profile,
        "family": family, "batch": batch, "started": started, "ended": started,
        "outcome": outcome, "reason_code": reason, "reason": reason, "bytes": size,
        "bytes_rescued": size if outcome != "failed" else 0, "bad_sectors": 0,
        "read_errors": 0, "rate": rate, "md5": "", "sha256": "", "job_dir": "", "note": ""})


@pytest.fixture
def figures(tmp_path, backend):
    """440 3.5-inch floppies, 418 succeeded (as one national library reported), 20
    partial, 2 failed; one 2DD floppy that failed first and succeeded on a retry; 47 USB
    sticks; 5 MO disks (one routed to flux... as needs-flux); 24 optical discs."""
    con = connect(backend.target(tmp_path / "figures.sqlite"))
    n = 0
    for outcome, count in (("success", 417), ("partial", 20), ("failed", 2)):
        for _ in range(count):
            n += 1
            seed(con, f"FD{n:04d}", "fd35-2hd", "FD", outcome, f"2026-03-{1 + n % 28:02d}T10:00Z",
                 reason="truncated" if outcome == "failed" else "", rate=float(n))
    seed(con, "FD-RETRY", "fd35-2dd", "FD", "failed", "2026-03-01T09:00Z", reason="unreadable")
    seed(con, "FD-RETRY", "fd35-2dd", "FD", "success", "2026-03-02T09:00Z")
    for i in range(47):
        seed(con, f"USB{i:03d}", "usb", "USB", "success", "2026-04-01T10:00Z", station="S2")
    for i in range(5):
        seed(con, f"MO{i}", "mo-230", "MO", "needs_flux" if i == 0 else "success",
             "2026-05-01T10:00Z", reason="needs_flux" if i == 0 else "")
    for i in range(24):
        seed(con, f"CD{i:02d}", "cd", "optical", "success" if i < 22 else "failed",
             "2026-06-01T10:00Z", reason="vanished" if i >= 22 else "")
    return con


def media_label(key: str) -> str:
    from workbench.profiles import load_profiles
    return load_profiles(PROJECT_ROOT / "profiles")[key].report_label("en")


def test_report_figures_match_hand_computed(figures):
    rows = {r.label: r for r in statistics(figures, "media", label=media_label)}
    fd = rows["3.5-inch FD"]
    assert (fd.carriers, fd.succeeded, fd.partial, fd.failed) == (440, 418, 20, 2)
    assert fd.attempts == 441 and fd.attempts_succeeded == 418
    assert fd.rate == pytest.approx(418 / 440)
    low, high = fd.interval
    assert (low, high) == pytest.approx(wilson(418, 440))
    # by hand: p = 0.95, n = 440, z^2 = 3.8416; centre 0.954366, half 0.020827,
    # denominator 1.008731: (0.9254, 0.9668) at four places
    assert round(low, 4) == 0.9255 and round(high, 4) == 0.9668
    assert dict(fd.top_reasons) == {"truncated": 2, "unreadable": 1}
    assert fd.median_rate == pytest.approx(219.0, abs=1.0)
    mo = rows["MO"]
    assert (mo.carriers, mo.succeeded, mo.needs_flux, mo.rate) == (5, 4, 1, 1.0)
    assert rows["USB memory"].carriers == 47 and rows["CD"].failed == 2
    by_station = {r.key: r.carriers for r in statistics(figures, "station")}
    assert by_station == {"S1": 440 + 5 + 24, "S2": 47}
    march = statistics(figures, "family", Filters(date_from="2026-03-01",
                                                  date_to="2026-03-31"))
    assert [(r.key, r.carriers) for r in march] == [("FD", 440)]


def test_text_report_in_english_and_japanese(figures, tmp_path):
    import io

    from workbench.ledger.export import write_text
    rows = {"media": statistics(figures, "media", label=media_label)}
    out = io.StringIO()
    write_text(rows, out, "en")
    assert "3.5-inch FD: 440 carriers (418 succeeded)" in out.getvalue()
    from workbench.profiles import load_profiles
    profiles = load_profiles(PROJECT_ROOT / "profiles")
    ja = {"media": statistics(figures, "media",
                              label=lambda k: profiles[k].report_label("ja"))}
    out = io.StringIO()
    write_text(ja, out, "ja")
    assert "FD（3.5インチ）440点（うち成功点数418点）" in out.getvalue()


def test_xlsx_holds_the_same_numbers(figures, tmp_path):
    from workbench.ledger.export import write_xlsx
    slices = {"media": statistics(figures, "media", label=media_label),
              "station": statistics(figures, "station")}
    path = tmp_path / "r.xlsx"
    write_xlsx(slices, path, "en")
    book = openpyxl.load_workbook(path)
    sheet = book["media type"]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["3.5-inch FD"][1:5] == (440, 418, 20, 2)
    assert rows["3.5-inch FD"][7] == pytest.approx(0.95)
    assert len(sheet._charts) == 1 and "station" in book.sheetnames


def test_cli_report_formats(tmp_path, backend):
    assert migrate(tmp_path, "fd35-2hd-good", "fd35-2hd", "FD-1").returncode == 0
    text = workbench_run("report", cwd=tmp_path).stdout
    assert "3.5-inch FD: 1 carrier (1 succeeded)" in text
    js = json.loads(workbench_run("report", "--format", "json", "--by", "family",
                                  cwd=tmp_path).stdout)
    assert js["family"][0]["carriers"] == 1 and js["family"][0]["success_rate"] == 1.0
    csv_out = workbench_run("report", "--format", "csv", cwd=tmp_path).stdout
    assert csv_out.startswith("\ufeff") and "3.5-inch FD" in csv_out
    assert "| 3.5-inch FD |" in workbench_run("report", "--format", "md", cwd=tmp_path).stdout
    ja = workbench_run("report", "--lang", "ja", cwd=tmp_path).stdout
    assert "FD（3.5インチ）1点（うち成功点数1点）" in ja
    x = workbench_run("report", "--format", "xlsx", "--out", "r.xlsx", cwd=tmp_path)
    assert x.returncode == 0 and (tmp_path / "r.xlsx").exists()


def test_merging_twice_changes_nothing(tmp_path, backend):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (b / "workbench.toml").write_text('[station]\nid = "station-2"\n')
    assert migrate(a, "fd35-2hd-good", "fd35-2hd", "FD-1").returncode == 0
    own_file = {"WORKBENCH_LEDGER_URL": ""}  # b: a station with its own SQLite file
    assert workbench_run("migrate", str(MEDIA / "usb-sample.drive.toml"), "--profile", "usb",
                         "--item", "USB-1", "--batch", "B1", cwd=b, env=own_file
                         ).returncode == 0
    export = workbench_run("ledger", "export", str(tmp_path / "b.sqlite"), cwd=b, env=own_file)
    assert export.returncode == 0, export.stderr
    con = connect(backend.station_ledger(a))
    first = merge_ledger(con, tmp_path / "b.sqlite")
    assert first["carriers"] == 1 and first["attempts"] >= 1
    second = merge_ledger(con, tmp_path / "b.sqlite")
    assert set(second.values()) == {0}
    stations = {r.key for r in statistics(con, "station")}
    assert stations == {"station-1", "station-2"}
    con.close()
    cli = workbench_run("ledger", "merge", str(tmp_path / "b.sqlite"), cwd=a)
    assert cli.returncode == 0 and "attempts 0" in cli.stdout


def test_the_ledger_is_append_only(tmp_path, backend):
    assert migrate(tmp_path, "fd35-2hd-good", "fd35-2hd", "FD-1").returncode == 0
    con = connect(backend.station_ledger(tmp_path))
    for sql in ("UPDATE attempts SET outcome = 'failed'", "DELETE FROM events",
                "DELETE FROM carriers", "UPDATE bags SET path = 'x'"):
        with pytest.raises(Exception, match="append-only"):
            con.execute(sql)


def test_marks_stand_and_supersede(tmp_path, backend):
    assert migrate(tmp_path, "cd-truncated", "cd", "CD-1").returncode == ExitCode.FAILED
    assert workbench_run("mark", "CD-1", "audio-disc", "--note", "mixed mode",
                         cwd=tmp_path).returncode == 0
    again = migrate(tmp_path, "cd-truncated", "cd", "CD-1")  # routing is a state
    assert again.returncode == ExitCode.REFUSED and "routed" in again.stderr
    con = connect(backend.station_ledger(tmp_path))
    current = con.execute("SELECT outcome, note FROM current_attempts").fetchall()
    assert [tuple(r) for r in current] == [("audio_disc", "mixed mode")]
    assert con.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 2  # both kept
    assert workbench_run("mark", "NOPE", "needs-flux", cwd=tmp_path).returncode == 6


def test_retry_merges_into_the_same_map(tmp_path, backend):
    out = migrate(tmp_path, "fd35-2hd-damaged", "fd35-2hd", "FD-2", "--review-partial")
    assert out.returncode == ExitCode.PARTIAL and not (tmp_path / "bags" / "FD-2").exists()
    clean = tmp_path / "clean.drive.toml"  # the same disk in a better drive
    clean.write_text(f'image = "{MEDIA / "fd35-2hd-damaged.img"}"\nmodel = "Better drive"\n'
                     'serial = "B-2"\n')
    retry = workbench_run("retry", "FD-2", "--drive", str(clean), cwd=tmp_path)
    assert retry.returncode == ExitCode.SUCCESS, retry.stderr
    job = json.loads((tmp_path / "staging" / "FD-2" / "job.json").read_text())
    assert [r["drive"]["serial"] for r in job["runs"]] == ["TRAIN-FD-02", "B-2"]
    assert job["runs"][1]["bytes_read_from_medium"] == 6 * 512  # only the bad sectors
    con = connect(backend.station_ledger(tmp_path))
    outcomes = [r[0] for r in con.execute("SELECT outcome FROM current_attempts "
                                          "ORDER BY started")]
    assert outcomes == ["partial", "success"]
    rows = statistics(con, "media", label=media_label)
    assert (rows[0].carriers, rows[0].succeeded, rows[0].attempts) == (1, 1, 2)
    refused = workbench_run("retry", "FD-2", cwd=tmp_path)  # bagged now
    assert refused.returncode == ExitCode.REFUSED and "withdraw" in refused.stderr


def test_queue_walks_a_batch_and_skips_what_is_done(tmp_path, backend):
    (tmp_path / "batch.csv").write_text(
        "item,profile,notes,source\n"
        f"FD-1,fd35-2hd,first,{MEDIA / 'fd35-2hd-good.drive.toml'}\n"
        f"USB-1,usb,second,{MEDIA / 'usb-sample.drive.toml'}\n", encoding="utf-8")
    out = workbench_run("queue", "batch.csv", "--yes", "--batch", "Q1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "success 2" in out.stdout
    again = workbench_run("queue", "batch.csv", "--yes", cwd=tmp_path)
    assert again.stdout.count("already done") == 2


def test_log_pages(tmp_path, backend):
    # two processes, as before: in one process both attempts start within the same
    # second, and paging on the start time alone (started < TIME) then loses the older
    # one (reported with issue 13; not this test's subject)
    for drive, profile, item in (("fd35-2hd-good", "fd35-2hd", "FD-1"),
                                 ("usb-sample", "usb", "USB-1")):
        assert workbench_cmd("migrate", str(MEDIA / f"{drive}.drive.toml"), "--profile",
                             profile, "--item", item, "--batch", "B1", cwd=tmp_path
                             ).returncode == 0
    first = workbench_run("log", "--limit", "1", cwd=tmp_path).stdout
    assert "USB-1" in first and "FD-1" not in first and "--before" in first
    hint = first.strip().splitlines()[-1]
    assert hint.endswith("--limit 1")  # the next page keeps the options of this one
    before = hint.split("--before ")[1].split()[0]
    second = workbench_run("log", "--limit", "1", "--before", before, cwd=tmp_path).stdout
    assert "FD-1" in second and "USB-1" not in second


def test_derived_tables_agree_with_the_history(figures, tmp_path):
    """heads and carrier_heads are indexes over the append-only history: they must say
    exactly what a full scan of the history says (also after marks and merges)."""
    from workbench.ledger.query import _medians
    con = figures
    ledger.mark(con, "FD0007", "needs_flux", "weak signal", "sup")
    heads = {r[0] for r in con.execute("SELECT row FROM heads")}
    truth = {r[0] for r in con.execute(
        "SELECT rowid FROM attempts a WHERE NOT EXISTS "
        "(SELECT 1 FROM attempts b WHERE b.supersedes = a.id)")}
    assert heads == truth
    latest = dict(con.execute(
        "SELECT item_id, outcome FROM (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY item_id "
        "ORDER BY started DESC, ended DESC, rowid DESC) rn FROM attempts a WHERE rowid IN "
        "(SELECT row FROM heads) AND outcome IN ('success', 'partial', 'failed', "
        "'needs_flux', 'audio_disc')) WHERE rn = 1").fetchall())
    assert dict(con.execute("SELECT item_id, outcome FROM carrier_heads").fetchall()) == latest
    assert latest["FD0007"] == "needs_flux" and latest["FD-RETRY"] == "success"
    everything = Filters(date_from="1900-01-01")  # forces the general (window) path
    fast = _medians(con, "profile_id", Filters(), *Filters().where())
    slow = _medians(con, "profile_id", everything, *everything.where())
    assert fast == pytest.approx(slow)
    counted = {r.key: r.median_rate for r in statistics(con, "profile")}  # its own counts
    assert {k: counted[k] for k in fast} == pytest.approx(fast)
    other = tmp_path / "other.sqlite"
    connect(other).close()  # a new, empty SQLite ledger
    merge_ledger(con, other)  # an empty merge leaves the derived tables as they were
    assert {r[0] for r in con.execute("SELECT row FROM heads")} == heads


def test_several_opening_a_new_ledger_at_once_all_open_it(tmp_path):
    """The drives' workers of one runner open the station's new ledger at once: the
    switch to WAL and the migrations went 'database is locked' without waiting."""
    import threading
    errors: list[str] = []

    def open_it(path) -> None:
        try:
            connect(path).close()
        except Exception as exc:  # any error counts
            errors.append(repr(exc))
    for n in range(15):
        threads = [threading.Thread(target=open_it, args=(tmp_path / f"l{n}.sqlite",))
                   for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
    assert errors == []
