"""Issue 10, items 6-8: every fault a station meets gives a clear message and its
documented exit code (never a traceback); identification workers die with their parent;
reports are safe to open. Each test reproduces its fault."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import IS_ROOT, MEDIA, workbench_cmd, workbench_run
from workbench.errors import ExitCode

GOOD = str(MEDIA / "fd35-2hd-good.drive.toml")


def clean(out: subprocess.CompletedProcess, code: int) -> str:
    """The command exited with code and a message, not a traceback; returns stderr."""
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    last = out.stderr.strip().splitlines()[-1]  # after any reminders
    assert last.startswith(("workbench: ", "workbench：")), out.stderr
    return out.stderr


def migrate(tmp_path: Path, item: str = "FD-1", *extra: str) -> subprocess.CompletedProcess:
    return workbench_cmd("migrate", GOOD, "--profile", "fd35-2hd", "--item", item, *extra,
                         cwd=tmp_path)


def migrated(tmp_path: Path, item: str = "FD-1", *extra: str) -> subprocess.CompletedProcess:
    """A migration as a test's setting up, in this process (not the test's subject)."""
    return workbench_run("migrate", GOOD, "--profile", "fd35-2hd", "--item", item, *extra,
                         cwd=tmp_path)


@contextmanager
def tmpfs(folder: Path, options: str):
    folder.mkdir(parents=True, exist_ok=True)
    if os.system(f"mount -t tmpfs -o {options} tmpfs {folder}") != 0:
        pytest.skip("this machine cannot mount tmpfs")
    try:
        yield folder
    finally:
        os.system(f"umount -l {folder}")


def fill(folder: Path) -> None:
    """Fill a file system to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


# -- the ledger ---------------------------------------------------------------------------

def test_report_out_into_a_missing_folder(tmp_path: Path):
    assert migrated(tmp_path).returncode == 0
    for fmt in ("csv", "xlsx"):
        out = workbench_run("report", "--format", fmt, "--out",
                            str(tmp_path / "nowhere" / f"r.{fmt}"), cwd=tmp_path)
        assert "does not exist" in clean(out, ExitCode.BAD_INPUT)
    out = workbench_run("ledger", "export", str(tmp_path / "nowhere" / "l.sqlite"),
                        cwd=tmp_path)
    clean(out, ExitCode.BAD_INPUT)


def test_filters_are_validated_naming_the_accepted_forms(tmp_path: Path):
    assert migrated(tmp_path).returncode == 0
    for command in ("report", "log"):
        out = workbench_run(command, "--from", "25/11/2026", cwd=tmp_path)
        assert "YYYY-MM-DD" in clean(out, ExitCode.BAD_INPUT)
        out = workbench_run(command, "--outcome", "bogus", cwd=tmp_path)
        err = clean(out, ExitCode.BAD_INPUT)
        assert "success" in err and "partial" in err and "aborted" in err
    ok = workbench_run("report", "--from", "2000-01-01", "--to", "2999-12-31",
                       "--outcome", "success", "--format", "json", cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["media"][0]["carriers"] == 1


def test_merging_a_file_that_is_not_a_ledger(tmp_path: Path):
    (tmp_path / "notes.sqlite").write_text("hello")
    err = clean(workbench_cmd("ledger", "merge", "notes.sqlite", cwd=tmp_path),
                ExitCode.BAD_INPUT)
    assert "not a workbench ledger" in err
    other = sqlite3.connect(tmp_path / "other.sqlite")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    clean(workbench_cmd("ledger", "merge", "other.sqlite", cwd=tmp_path), ExitCode.BAD_INPUT)
    assert (tmp_path / "notes.sqlite").read_text() == "hello"  # left as it was


def test_a_corrupt_ledger_is_detected_with_the_way_to_recover(tmp_path: Path):
    assert migrated(tmp_path).returncode == 0
    ledger = tmp_path / "logs" / "ledger.sqlite"
    assert workbench_cmd("ledger", "check", cwd=tmp_path).returncode == 0
    data = bytearray(ledger.read_bytes())
    data[4096:] = b"\xa5" * (len(data) - 4096)  # every page after the schema
    ledger.write_bytes(bytes(data))
    for command in (("show", "FD-1"), ("report",), ("pending",), ("ledger", "check")):
        err = clean(workbench_cmd(*command, cwd=tmp_path), ExitCode.FAILED)
        assert "damaged" in err and "ledger export" in err, command
    ledger.write_bytes(b"garbage" * 1000)
    err = clean(workbench_cmd("pending", cwd=tmp_path), ExitCode.FAILED)
    assert "ledger export" in err
    ja = workbench_cmd("--lang", "ja", "pending", cwd=tmp_path)
    assert "破損" in clean(ja, ExitCode.FAILED)


@pytest.mark.skipif(not IS_ROOT, reason="mounting a small tmpfs needs root")
def test_ledger_disk_full(tmp_path: Path):
    with tmpfs(tmp_path / "small", "size=256k") as small:
        (tmp_path / "workbench.toml").write_text(f'[paths]\nledger = "{small}/ledger.sqlite"\n')
        fill(small)
        err = clean(workbench_cmd("pending", cwd=tmp_path), ExitCode.ABORTED)
        assert "full" in err


# -- staging and bags ---------------------------------------------------------------------

@pytest.mark.skipif(not IS_ROOT, reason="mounting a small tmpfs needs root")
def test_bags_disk_full(tmp_path: Path):
    with tmpfs(tmp_path / "bags", "size=512k"):
        err = clean(migrate(tmp_path), ExitCode.ABORTED)
        assert "full" in err
        assert f"while writing {tmp_path / 'bags'}" in err  # the file it was writing
    again = migrate(tmp_path)  # space freed (a roomy folder): the same command goes on
    assert again.returncode == 0, again.stderr


@pytest.mark.skipif(not IS_ROOT, reason="a read-only mount needs root (root ignores modes)")
def test_read_only_staging(tmp_path: Path):
    with tmpfs(tmp_path / "staging", "ro,size=4m"):
        err = clean(migrate(tmp_path), ExitCode.REFUSED)
        assert "read-only" in err


def test_a_folder_that_is_a_file(tmp_path: Path):
    (tmp_path / "staging").write_text("not a folder")
    clean(migrate(tmp_path), ExitCode.BAD_INPUT)
    (tmp_path / "taken").write_text("a file")
    out = workbench_cmd("identify", str(MEDIA / "fd35-2hd-good.img"), "--out", "taken",
                        "--workers", "0", cwd=tmp_path)
    clean(out, ExitCode.BAD_INPUT)
    (tmp_path / "logs").mkdir(exist_ok=True)
    for leftover in (tmp_path / "logs").glob("ledger.sqlite*"):
        leftover.unlink()
    (tmp_path / "logs" / "ledger.sqlite").mkdir()
    clean(workbench_cmd("pending", cwd=tmp_path), ExitCode.BAD_INPUT)


def test_job_json_with_wrong_types(tmp_path: Path):
    image = workbench_cmd("image", GOOD, "--profile", "fd35-2hd", "--item", "FD-1",
                          cwd=tmp_path)
    assert image.returncode == 0
    job = tmp_path / "staging" / "FD-1" / "job.json"
    record = json.loads(job.read_text())
    record["digests"] = [1]
    record["size"] = "big"
    job.write_text(json.dumps(record))
    err = clean(workbench_cmd("accept", "FD-1", cwd=tmp_path), ExitCode.BAD_INPUT)
    assert "job.json" in err


def test_a_digest_mismatch_at_verify_is_an_integrity_failure(tmp_path: Path):
    image = workbench_cmd("image", GOOD, "--profile", "fd35-2hd", "--item", "FD-2",
                          cwd=tmp_path)
    assert image.returncode == 0
    img = tmp_path / "staging" / "FD-2" / "image.img"
    with open(img, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"X")
    err = clean(workbench_cmd("accept", "FD-2", cwd=tmp_path), ExitCode.FAILED)
    assert "no longer matches" in err


# -- cancel -------------------------------------------------------------------------------

def many_files_image(path: Path, count: int = 6000) -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
    from fatimage import Entry, FatImage, Geometry, short_name
    folders = [Entry(short_name(f"D{d}"), children=[
        Entry(short_name(f"F{n}.TXT"), f"file {d} {n}\n".encode() * 40)
        for n in range(count // 10)]) for d in range(10)]
    geo = Geometry(total_sectors=65536, sectors_per_cluster=4, root_entries=512, media=0xF8)
    path.write_bytes(FatImage(geo).build(folders))


def _fds(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:  # the process has ended
        return []


def test_ctrl_c_during_identification_is_a_cancel(tmp_path: Path):
    image = tmp_path / "many.img"
    many_files_image(image)
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "identify", str(image),
                             "--workers", "2", "--out", "out"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Ctrl-C once it reads the image (a fixed sleep sent it during start-up's imports
    # on a loaded machine: a KeyboardInterrupt traceback, not the test's subject)
    fds = Path(f"/proc/{proc.pid}/fd")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not any(
            os.path.realpath(fd) == str(image.resolve()) for fd in _fds(fds)):
        time.sleep(0.05)
    assert proc.poll() is None, "identification finished before the Ctrl-C"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == ExitCode.ABORTED, (proc.returncode, stderr)
    assert "Identification stopped: nothing was written" in stderr
    assert "map" not in stderr and "resume" not in stderr  # no imaging promise to keep
    assert not (tmp_path / "out" / "formats.csv").exists()


# -- tapes --------------------------------------------------------------------------------

def test_a_barcode_with_a_quote_is_refused_and_old_labels_still_read(tmp_path: Path):
    out = workbench_cmd("tape", "label", "tape/T1", "--barcode", 'A"1', "--pool", "primary",
                        cwd=tmp_path)
    assert "Barcode" in clean(out, ExitCode.BAD_INPUT)
    assert not (tmp_path / "tape" / "T1").exists()
    out = workbench_cmd("tape", "label", "tape/T1", "--barcode", "A00001L8", "--pool",
                        "tertiary", cwd=tmp_path)
    assert "primary, secondary" in clean(out, ExitCode.BAD_INPUT)
    # a label written by an earlier version, quote unescaped: every tape command failed
    old = tmp_path / "tape" / "OLD"
    old.mkdir(parents=True)
    (old / ".workbench-tape.toml").write_text(
        'barcode = "B"2"\npool = "primary"\ngeneration = "LTO-8"\ncapacity = 50000000\n'
        'full = false\n')
    ok = workbench_cmd("tape", "label", "tape/T2", "--barcode", "A00002L8", "--pool",
                       "secondary", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    for command in (("tape", "plan"), ("tape", "catalog"), ("tape", "verify")):
        out = workbench_cmd(*command, cwd=tmp_path)
        assert out.returncode == 0 and "Traceback" not in out.stderr, (command, out.stderr)
    assert 'B"2' in workbench_cmd("tape", "plan", cwd=tmp_path).stdout


def test_a_corrupt_tape_catalogue(tmp_path: Path):
    from workbench.errors import IntegrityFailure
    from workbench.tape.catalogue import Catalogue
    path = tmp_path / "catalogue.json"
    for damaged in ('[{"bag": "x"', '{"a": 1}', '[{"bag": 1, "nonsense": 2}]'):
        path.write_text(damaged)
        with pytest.raises(IntegrityFailure) as caught:
            Catalogue(path)
        assert caught.value.exit_code == ExitCode.FAILED
        assert "move it aside" in caught.value.message()


# -- pre-flight and item IDs --------------------------------------------------------------

def system_disk() -> str | None:
    from workbench.imaging.preflight import system_disks
    for disk in system_disks():
        uevent = Path(f"/sys/dev/block/{os.major(disk)}:{os.minor(disk)}/uevent")
        names = [line[8:] for line in uevent.read_text().splitlines()
                 if line.startswith("DEVNAME=")] if uevent.exists() else []
        if names and Path("/dev", names[0]).exists():
            return str(Path("/dev", names[0]))
    return None


def test_the_system_disk_is_refused_before_opening(tmp_path: Path):
    from workbench.errors import Refused
    from workbench.imaging.preflight import before_open, refuse_before_open
    disk = system_disk()
    if disk is None:
        pytest.skip("no system disk visible as a block device here")
    checks = {c.key: c.ok for c in before_open(disk)}
    assert checks["not_system_disk"] is False
    with pytest.raises(Refused) as caught:
        refuse_before_open(disk)
    assert "system" in caught.value.message()
    assert before_open(str(MEDIA / "fd35-2hd-good.img")) == []


def test_imaging_the_system_disk_is_refused_with_no_folder_left(tmp_path: Path):
    disk = system_disk()
    if disk is None:
        pytest.skip("no system disk visible as a block device here")
    out = workbench_cmd("image", disk, "--profile", "hdd", "--item", "SYS-1", cwd=tmp_path)
    assert "system" in clean(out, ExitCode.REFUSED)
    assert not (tmp_path / "staging" / "SYS-1").exists()


def test_item_ids_with_spaces_do_not_split_the_ledger(tmp_path: Path):
    assert migrate(tmp_path, " FD-9 ").returncode == 0
    assert workbench_cmd("note", "FD-9  ", "hello", cwd=tmp_path).returncode == 0
    (tmp_path / "q.csv").write_text(f"item,profile,notes,source\n  FD-9 ,fd35-2hd,,{GOOD}\n"
                                    f"FD 10,fd35-2hd,,{GOOD}\n")
    queue = workbench_cmd("queue", "q.csv", "--yes", cwd=tmp_path)
    assert queue.returncode == ExitCode.BAD_INPUT and "Item ID 'FD 10'" in queue.stderr
    con = sqlite3.connect(tmp_path / "logs" / "ledger.sqlite")
    items = {r[0] for t in ("carriers", "attempts", "events")
             for r in con.execute(f"SELECT item_id FROM {t}")}
    assert items == {"FD-9"}
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == ["FD-9"]
    out = workbench_cmd("image", GOOD, "--profile", "fd35-2hd", "--item", "FD/9",
                        cwd=tmp_path)
    assert "Item ID" in clean(out, ExitCode.BAD_INPUT)


# -- workers die with their parent --------------------------------------------------------

PARENT = """
import time
from workbench.identify.pool import IdentifyPool, Job
if __name__ == "__main__":
    pool = IdentifyPool(2)
    futures = [pool.submit([Job("a.txt", 5, b"hello", b"hello")]) for _ in range(4)]
    [f.result() for f in futures]
    print(" ".join(str(p) for p in pool._pool._processes), flush=True)
    time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_identification_workers_die_with_their_parent(tmp_path: Path):
    script = tmp_path / "parent.py"  # spawned workers re-import a main module from a file
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).parent.parent)
    assert parent.stdout is not None
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(alive(p) for p in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    time.sleep(2.0)
    left = [p for p in workers if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert left == []


# -- reports safe to open -----------------------------------------------------------------

def test_formats_csv_neutralises_formulas_and_flags_invisible_characters():
    from workbench.identify.report import FileRecord, FormatReport, write_csv
    names = ["/=HYPERLINK(\"x\")", "/+1.txt", "/-2.txt", "/@SUM(A1).txt",
             "/\tTAB.txt", "/\rCR.txt", "/photo\u202egpj.exe", "/zero\u200bwidth.txt",
             "/line\u2028sep.txt", "/plain.txt"]
    report = FormatReport("x.img", 0, "t", files=[
        FileRecord(n + 1, 0, name, 1) for n, name in enumerate(names)])
    buf = io.StringIO()
    write_csv(report, buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue().lstrip("\ufeff"))))
    cells = [r["NAME"] for r in rows]
    assert cells[:6] == ["'=HYPERLINK(\"x\")", "'+1.txt", "'-2.txt", "'@SUM(A1).txt",
                         "'\tTAB.txt", "'\rCR.txt"]
    assert cells[6:9] == ["photo\\u202egpj.exe", "zero\\u200bwidth.txt", "line\\u2028sep.txt"]
    assert cells[9] == "plain.txt"
    assert not any(ch in buf.getvalue() for ch in "\u202e\u200b\u2028")
    flagged = [r["NAME"] for r in rows if "invisible_characters" in r["WARNINGS"]]
    assert flagged == cells[6:9]


def test_a_name_with_a_slash_and_one_with_a_literal_percent_2f_stay_apart():
    from workbench.identify.model import safe_component
    slash, literal = safe_component("a/b"), safe_component("a%2Fb")
    assert slash[0] != literal[0]
    assert slash == ("a%2Fb", True) and literal == ("a%252Fb", False)


def test_identify_flags_invisible_characters_in_an_image(tmp_path: Path):
    sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
    from fatimage import Entry, FatImage, Geometry, short_name
    entries = [Entry(short_name("A.EXE"), b"MZ", long="photo\u202egpj.exe"),
               Entry(short_name("B.TXT"), b"x", long="=cmd.txt")]
    (tmp_path / "n.img").write_bytes(FatImage(Geometry(total_sectors=2880)).build(entries))
    out = workbench_cmd("identify", "n.img", "--workers", "0", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {r["NAME"]: r for r in csv.DictReader(io.StringIO(out.stdout.lstrip("\ufeff")))}
    assert "invisible_characters" in rows["photo\\u202egpj.exe"]["WARNINGS"]
    assert "'=cmd.txt" in rows


def test_ledger_exports_neutralise_formulas(tmp_path: Path):
    from openpyxl import load_workbook
    assert migrated(tmp_path, "FD-1", "--batch", "=HYPERLINK(\"http://evil\")").returncode == 0
    assert migrated(tmp_path, "FD-2", "--batch", "b\u202eatch|x").returncode == 0
    out = workbench_run("report", "--by", "batch", "--format", "csv", cwd=tmp_path)
    labels = [r[0] for r in csv.reader(io.StringIO(out.stdout.lstrip("\ufeff"))) if r]
    assert "'=HYPERLINK(\"http://evil\")" in labels and "b\\u202eatch|x" in labels
    md = workbench_run("report", "--by", "batch", "--format", "md", cwd=tmp_path).stdout
    assert "| '=HYPERLINK(\"http://evil\") |" in md and "b\\\\u202eatch\\|x" in md
    assert "\u202e" not in md
    assert workbench_run("report", "--by", "batch", "--format", "xlsx", "--out", "r.xlsx",
                         cwd=tmp_path).returncode == 0
    sheet = load_workbook(tmp_path / "r.xlsx").worksheets[0]
    cells = [sheet.cell(row=n, column=1) for n in range(2, sheet.max_row + 1)]
    assert all(c.data_type == "s" for c in cells)
    assert "'=HYPERLINK(\"http://evil\")" in [c.value for c in cells]


def test_the_supervisor_screen_says_why_a_filter_is_refused(tmp_path: Path):
    import asyncio

    from textual.widgets import DataTable, Input, Static

    from workbench.config import Settings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.supervisor import StatsScreen
    assert migrated(tmp_path).returncode == 0

    async def scenario() -> None:
        app = WorkbenchApp(Settings())
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("s")
            assert isinstance(app.screen, StatsScreen)
            table = app.screen.query_one("#stats", DataTable)
            assert table.row_count == 1
            app.screen.query_one("#date_from", Input).value = "25/11/2026"
            await pilot.press("ctrl+f")
            message = str(app.screen.query_one("#filter-message", Static).render())
            assert "YYYY-MM-DD" in message
            assert table.row_count == 1  # the last valid figures stay
            app.screen.query_one("#date_from", Input).value = ""
            app.screen.query_one("#outcome", Input).value = "bogus"
            await pilot.press("ctrl+f")
            assert "success" in str(app.screen.query_one("#filter-message", Static).render())
            app.screen.query_one("#outcome", Input).value = "success"
            await pilot.press("ctrl+f")
            assert str(app.screen.query_one("#filter-message", Static).render()) == ""
    asyncio.run(scenario())


def test_an_atomic_write_that_fails_names_the_file_asked_for(tmp_path):
    """Not the hidden temporary file beside it: the message must name what the user
    typed (a report's --out, a night report's --out, a settings file)."""
    from workbench.atomic import write_atomic
    target = tmp_path / "no-such-folder" / "night.csv"
    with pytest.raises(FileNotFoundError) as caught:
        write_atomic(target, "x")
    assert caught.value.filename == str(target)
    assert not list(tmp_path.rglob("*.tmp"))
