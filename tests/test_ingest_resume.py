"""An ingest killed part-way and run again is one attempt: its first ("in progress")
version is superseded, as a resumed imaging's is, and `show` marks it so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_ingest import master_folder
from tests.test_tape_retrieve import cli
from workbench import PROJECT_ROOT
from workbench.ledger.db import connect

KILL = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import workbench.station.ingest as ingest
ingest.copy_files = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
from workbench.cli import main
sys.exit(main(["ingest", sys.argv[2], "--item", "I-K"]))
"""


def test_an_ingest_killed_then_run_again_supersedes_its_in_progress_attempt(tmp_path: Path):
    root = tmp_path / "station"
    root.mkdir()
    source = tmp_path / "disc"
    master_folder(source)
    (root / "workbench.toml").write_text("[tape]\nheadroom_percent = 0\n")
    killed = subprocess.run([sys.executable, "-c", KILL, str(PROJECT_ROOT), str(source)],
                            cwd=root, timeout=120)
    assert killed.returncode == -9
    assert cli(root, "ingest", str(source), "--item", "I-K").returncode == 0
    con = connect(root / "logs" / "ledger.sqlite")
    try:
        current = con.execute("SELECT outcome FROM current_attempts WHERE item_id = 'I-K'"
                              ).fetchall()
        versions = con.execute("SELECT outcome FROM attempts WHERE item_id = 'I-K' "
                               "ORDER BY rowid").fetchall()
    finally:
        con.close()
    assert [r[0] for r in current] == ["success"]  # one attempt, not a stray one running
    assert versions[0][0] == "running"
    shown = cli(root, "show", "I-K").stdout
    running = [line for line in shown.splitlines() if "in progress" in line]
    assert running and all("[superseded]" in line for line in running), shown
