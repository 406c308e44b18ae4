"""The import rules that keep rules in one place (ARCHITECTURE.md): engines know nothing
of the ledger, the station or the front ends; the CLI and the UI act on carriers only
through the station."""

from __future__ import annotations

import ast
from pathlib import Path

from workbench import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "workbench"
ENGINES = ("imaging", "identify", "package", "tape", "ingest")
FRONT_ENDS = [PACKAGE / "cli.py", PACKAGE / "cli_ledger.py", PACKAGE / "cli_tools.py",
              PACKAGE / "cli_tape.py", PACKAGE / "cli_ingest.py", PACKAGE / "cli_ltfs.py",
              *sorted((PACKAGE / "tui").glob("*.py"))]
# the ledger, the tape engine and the imaging engine are reached through the station
# (acting on carriers and tapes, reading the record); file-level tools (identify an
# image, validate a bag) and data records (the job record) may be used directly
ACTING = ("workbench.ledger", "workbench.tape", "workbench.package.carrier",
          "workbench.imaging.engine", "workbench.imaging.mapfile", "workbench.imaging.rescue",
          "workbench.pipeline")


def imports(path: Path) -> list[tuple[str, set[str], int]]:
    """Every import in a module (also those inside functions): (module, names, line)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, set(), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            out.append((node.module, names, node.lineno))
            out += [(f"{node.module}.{n}", set(), node.lineno) for n in names]
    return out


def test_engines_know_nothing_of_the_ledger_the_station_or_the_front_ends():
    bad = []
    for engine in ENGINES:
        for path in sorted((PACKAGE / engine).rglob("*.py")):
            for module, _, line in imports(path):
                if module.startswith(("workbench.ledger", "workbench.station", "workbench.tui",
                                      "workbench.cli", "textual")):
                    bad.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}")
    assert bad == []


def test_front_ends_act_on_carriers_only_through_the_station():
    bad = []
    for path in FRONT_ENDS:
        for module, _, line in imports(path):
            if module.startswith(ACTING):
                bad.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}")
    assert bad == []


def test_the_rule_checker_sees_imports_inside_functions(tmp_path):
    """The checker itself can fail: a late import of an acting module is found."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from workbench.ledger import record\n"
                      "    from workbench.tape.stage import run_plan\n")
    found = imports(sample)
    assert ("workbench.ledger.record", set(), 2) in found
    assert ("workbench.tape.stage", {"run_plan"}, 3) in found
