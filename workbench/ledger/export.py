"""Reports from the ledger, one writer per format (CSV, XLSX, JSON, Markdown, text),
and moving ledgers between stations (export, idempotent merge)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from workbench.i18n import human_bytes, t
from workbench.ledger.db import (
    APPEND_ONLY,
    MIGRATIONS,
    Con,
    connect,
    last_attempt_row,
    refresh_heads,
)
from workbench.ledger.query import SliceRow, total

if TYPE_CHECKING:
    from workbench.ledger.query import Filters
    from workbench.profiles import MediaProfile

COLUMNS = ["label", "carriers", "succeeded", "partial", "failed", "needs_flux", "audio_disc",
           "success_rate", "ci95_low", "ci95_high", "attempts", "attempts_succeeded",
           "attempt_success_rate", "bytes", "median_rate", "top_failure_reasons"]


def _headers(lang: str, by: str) -> list[str]:
    first = t(f"report.by_{by}", lang=lang)
    return [first[:1].upper() + first[1:], *[t(f"report.col_{c}", lang=lang)
                                              for c in COLUMNS[1:]]]


def _cells(row: SliceRow, lang: str) -> list[object]:
    """A row's cells, safe to open: a text cell a spreadsheet would run as a formula
    (a batch named "=HYPERLINK(...)") is quoted, invisible characters escaped."""
    from workbench.identify.report import safe_row
    d = row.as_dict()
    reasons = "; ".join(f"{t('reason_short.' + r, lang=lang)} ({n})"
                        for r, n in row.top_reasons)
    cells = safe_row([d["label"], *[d[c] for c in COLUMNS[1:-1]], reasons])
    # nothing judged: no rate at all, never a 0% one (set after safe_row: "-" is no formula)
    none = [*(("success_rate", "ci95_low", "ci95_high") if not row.judged else ()),
            *(("attempt_success_rate",)
              if row.attempts - row.needs_flux - row.audio_disc <= 0 else ())]
    for name in none:
        cells[COLUMNS.index(name)] = "-"
    return cells


def write_csv(slices: dict[str, list[SliceRow]], out: TextIO, lang: str) -> None:
    out.write("\ufeff")  # spreadsheets read UTF-8 (Japanese labels) with a BOM
    writer = csv.writer(out, lineterminator="\r\n")
    for by, rows in slices.items():
        writer.writerow([t("report.slice", lang=lang, by=t(f"report.by_{by}", lang=lang))])
        writer.writerow(_headers(lang, by))
        for row in rows:
            writer.writerow(_cells(row, lang))
        writer.writerow([])


def write_json(slices: dict[str, list[SliceRow]], out: TextIO, lang: str) -> None:
    json.dump({by: [r.as_dict() for r in rows] for by, rows in slices.items()}, out,
              ensure_ascii=False, indent=2)
    out.write("\n")


def write_markdown(slices: dict[str, list[SliceRow]], out: TextIO, lang: str) -> None:
    for by, rows in slices.items():
        out.write(f"## {t('report.slice', lang=lang, by=t(f'report.by_{by}', lang=lang))}\n\n")
        heads = _headers(lang, by)
        out.write("| " + " | ".join(heads) + " |\n|" + "---|" * len(heads) + "\n")
        for row in rows:
            cells = [md_cell(c) for c in _cells(row, lang)]
            out.write("| " + " | ".join(cells) + " |\n")
        out.write("\n")


def md_cell(value: object) -> str:
    """A Markdown table cell: '|' and line breaks would end the cell or the row."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _ingest(row: SliceRow) -> bool:
    return row.key == "ingest" or row.key.startswith("ingest-")


def totals(rows: list[SliceRow], lang: str) -> list[SliceRow]:
    """The totals row: carriers migrated, and ingests apart from them (issue 16: files
    ingested are counted apart, never in the carriers' success rate). Slices that do not
    tell them apart (batch, station) keep one total."""
    if not rows:
        return []
    ingests = [r for r in rows if _ingest(r)]
    if not ingests:
        return [total(rows, t("report.total", lang=lang))]
    carriers = [r for r in rows if not _ingest(r)]
    return [*([total(carriers, t("report.total", lang=lang))] if carriers else []),
            total(ingests, t("report.total_ingests", lang=lang))]


def write_text(slices: dict[str, list[SliceRow]], out: TextIO, lang: str) -> None:
    """In the style of an annual progress report: one line per media type."""
    for by, rows in slices.items():
        out.write(t("report.text_heading", lang=lang, by=t(f"report.by_{by}", lang=lang))
                  + "\n")
        ingest_total = t("report.total_ingests", lang=lang)
        for row in [*rows, *totals(rows, lang)]:
            # an ingest is not a carrier and is never routed: its own words (tryout 16c)
            ingest = _ingest(row) or (row.key == "*" and row.label == ingest_total)
            low, high = row.interval
            # 「FD（3.5インチ）440点」: a label ending in a bracket runs on, others get a space
            label = row.label if row.label.endswith(("）", ")")) else row.label + \
                t("report.label_gap", lang=lang)
            key = "ingest2.report_line" if ingest else "report.text_line_one" \
                if row.carriers == 1 else "report.text_line"
            out.write(t(key, lang=lang, label=label, carriers=f"{row.carriers:,}",
                        succeeded=f"{row.succeeded:,}") + "\n")
            rates = t("report.text_rate", lang=lang, rate=f"{row.rate * 100:.1f}",
                      low=f"{low * 100:.1f}", high=f"{high * 100:.1f}") if row.judged \
                else t("ingest2.report_no_rate" if ingest else "report.text_no_rate", lang=lang)
            out.write("  " + t("ingest2.report_detail" if ingest else "report.text_detail",
                               lang=lang, partial=row.partial,
                               failed=row.failed, routed=row.needs_flux + row.audio_disc,
                               rates=rates, bytes=human_bytes(row.bytes)) + "\n")
        out.write("\n")


RATES = ("success_rate", "ci95_low", "ci95_high", "attempt_success_rate")


def write_xlsx(slices: dict[str, list[SliceRow]], path: Path, lang: str) -> None:
    """A sheet per slice: rates as percentages, a totals row (sums and the overall
    rates), the header frozen, columns as wide as their text; a bar chart of rates."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    from workbench.console import width

    book = Workbook()
    for blank in list(book.worksheets):  # a new workbook comes with one empty sheet
        book.remove(blank)
    for by, rows in slices.items():
        sheet = book.create_sheet(t(f"report.by_{by}", lang=lang)[:31])
        sheet.append(_headers(lang, by))
        for row in rows:
            sheet.append(_cells(row, lang))
        for row in totals(rows, lang):
            sheet.append(_cells(row, lang))
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "B2"  # the header and the labels stay in view
        for name in RATES:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=COLUMNS.index(name) + 1,
                                           max_col=COLUMNS.index(name) + 1):
                cell.number_format = "0.0%"
        for n, column in enumerate(sheet.iter_cols(values_only=True), 1):
            cells = [width(str(v)) for v in column if v is not None]
            sheet.column_dimensions[get_column_letter(n)].width = min(
                60, max(8, max(cells, default=0) + 2))
        if rows:
            chart = BarChart()
            chart.type = "bar"
            chart.title = t("report.chart_title", lang=lang)
            chart.y_axis.title = t("report.col_success_rate", lang=lang)
            chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 1
            chart.y_axis.number_format = "0%"
            rate_col = COLUMNS.index("success_rate") + 1
            chart.add_data(Reference(sheet, min_col=rate_col, min_row=1,
                                     max_row=len(rows) + 1), titles_from_data=True)
            chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=len(rows) + 1))
            chart.height, chart.width = 7 + len(rows) * 0.6, 18
            sheet.add_chart(chart, f"A{len(rows) + 5}")
    book.save(path)


TEXT_WRITERS: dict[str, Callable[[dict[str, list[SliceRow]], TextIO, str], None]] = {
    "csv": write_csv, "json": write_json, "md": write_markdown, "text": write_text}
FORMATS = (*TEXT_WRITERS, "xlsx")


def report_slices(con: Con, bys: list[str], filters: Filters,
                  profiles: dict[str, MediaProfile], lang: str) -> dict[str, list[SliceRow]]:
    """The statistics of every slice asked for, labelled in lang."""
    from workbench.ledger.query import statistics

    def label_for(by: str) -> Callable[[str], str]:
        if by == "media":
            return lambda k: profiles[k].report_label(lang) if k in profiles else k
        if by == "profile":
            return lambda k: profiles[k].label(lang) if k in profiles else k
        if by in ("disc_kind", "disc_class", "method"):  # words, not codes
            return lambda k: t(f"disc.{k}", lang=lang) if k else k
        return str
    return {by: statistics(con, by, filters, label_for(by)) for by in bys}


def write_report(slices: dict[str, list[SliceRow]], fmt: str, lang: str,
                 out: Path | None = None) -> str:
    """Write a report in one of FORMATS: to out (atomically), or return its text."""
    from workbench.atomic import write_atomic
    from workbench.errors import BadInput
    if out is not None and not out.parent.is_dir():
        raise BadInput("error.out_folder_missing", file=str(out), folder=str(out.parent))
    if out is not None and out.is_dir():
        raise BadInput("error.not_a_folder", path=str(out), detail="a folder, not a file")
    if fmt == "xlsx":
        if out is None:
            raise BadInput("error.xlsx_needs_out")
        write_xlsx(slices, out, lang)
        return ""
    buf = io.StringIO()
    TEXT_WRITERS[fmt](slices, buf, lang)
    if out is not None:
        write_atomic(out, buf.getvalue())
    return buf.getvalue()


# -- several stations ------------------------------------------------------------------

def export_ledger(con: Con, target: Path) -> dict[str, int]:
    """A consistent copy of the whole ledger (SQLite online backup; from a server, its
    rows copied into a new file) for another station. Returns the rows of the copy per
    main table (carriers, attempts), to say."""
    from workbench.errors import BadInput
    if not target.parent.is_dir():
        raise BadInput("error.out_folder_missing", file=str(target), folder=str(target.parent))
    if target.is_dir():
        raise BadInput("error.not_a_folder", path=str(target), detail="a folder, not a file")
    if target.exists():
        target.unlink()
    if not isinstance(con, sqlite3.Connection):
        from workbench.ledger.copy import copy_rows
        out_con = connect(target)
        try:
            con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")  # one snapshot
            try:
                copy_rows(con, out_con)
            finally:
                con.execute("ROLLBACK")
            return {table: out_con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                    for table in ("carriers", "attempts")}
        finally:
            out_con.close()
    out = sqlite3.connect(str(target))
    try:
        with out:
            con.backup(out)
        return {table: out.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("carriers", "attempts")}
    finally:
        out.close()


def check_mergeable(source: Path, con: Con | None = None) -> None:
    """BadInput unless source is a workbench ledger (a SQLite file with its tables),
    and not con's own file (by path, a symbolic or a hard link: it would lock itself)."""
    from workbench.errors import BadInput
    own = next((r[2] for r in con.execute("PRAGMA database_list") if r[1] == "main"),
               "") if isinstance(con, sqlite3.Connection) else ""
    with contextlib.suppress(OSError):
        if own and os.path.samefile(own, source):
            raise BadInput("mfix.own_ledger", file=str(source), ledger=own)
    try:
        with open(source, "rb") as fh:
            header = fh.read(16)
    except OSError as exc:
        raise BadInput("error.not_a_ledger", file=str(source), detail=str(exc)) from exc
    if header != b"SQLite format 3\0":
        raise BadInput("error.not_a_ledger", file=str(source), detail="not a SQLite database")
    try:
        other = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master")}
        finally:
            other.close()
    except sqlite3.DatabaseError as exc:
        raise BadInput("error.not_a_ledger", file=str(source), detail=str(exc)) from exc
    missing = [t_ for t_ in ("carriers", "attempts") if t_ not in tables]
    if missing:
        raise BadInput("error.not_a_ledger", file=str(source),
                       detail="no table " + ", ".join(missing))


def merge_ledger(con: Con, source: Path) -> dict[str, int]:
    """Add another station's rows. Stable ids make it idempotent: a second merge of the
    same file adds nothing. Returns the rows added per table."""
    check_mergeable(source, con)
    with tempfile.TemporaryDirectory(prefix="workbench-merge-") as scratch:
        other = _at_this_schema(source, Path(scratch))
        if isinstance(con, sqlite3.Connection):
            return _merge(con, other)
        from workbench.ledger.copy import copy_rows
        reader = sqlite3.connect(f"{other.resolve().as_uri()}?mode=ro", uri=True)
        reader.row_factory = sqlite3.Row
        try:
            return copy_rows(reader, con)  # a server: no ATTACH, the same rows
        finally:
            reader.close()


def _at_this_schema(source: Path, scratch: Path) -> Path:
    """The other ledger at this schema: itself when it is, else a migrated copy in
    scratch. A merge only reads the other station's file, never migrates it in place."""
    other = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        if other.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
            return source
        copy = scratch / "older.sqlite"
        target = sqlite3.connect(copy)
        try:
            other.backup(target)
        finally:
            target.close()
    finally:
        other.close()
    connect(copy).close()  # the copy brought to this schema
    return copy


def _merge(con: sqlite3.Connection, source: Path) -> dict[str, int]:
    added: dict[str, int] = {}
    con.execute("ATTACH DATABASE ? AS other", (str(source),))
    try:
        con.execute("BEGIN IMMEDIATE")  # may fail (locked): then there is nothing to undo
    except BaseException:
        con.execute("DETACH DATABASE other")
        raise
    try:
        since = last_attempt_row(con)
        for table in ("carriers", *[t_ for t_ in APPEND_ONLY if t_ != "carriers"]):
            before = con.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0]
            # in the order the other ledger holds them (its row numbers): a version after
            # the one it supersedes, and each station's rows in the order it recorded them
            # (which of two attempts started at the same time is later: ledger.db.LATEST).
            # Not by the time recorded: clocks tie, and two stations' clocks differ
            con.execute(f"INSERT OR IGNORE INTO main.{table} SELECT * FROM other.{table} "
                        "ORDER BY rowid")
            added[table] = con.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0] \
                - before
        refresh_heads(con, since)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DETACH DATABASE other")
    return added
