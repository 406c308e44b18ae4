"""The station board's words and cells: a drive's row, a carrier's row in the background
queue, a text progress bar. Read from the runner's snapshots (never its workers)."""

from __future__ import annotations

from textual.widgets import DataTable

from workbench.console import duration
from workbench.devices import Drive
from workbench.i18n import human_bytes, t
from workbench.station.runner import DONE, FINISHED, IDLE, CarrierView, DriveView

DRIVE_COLUMNS = ("drive", "carrier", "phase", "progress", "rate", "eta", "media")
QUEUE_COLUMNS = ("carrier", "drive", "status", "detail")


def bar(fraction: float, width: int = 8) -> str:
    """A progress bar in text (block characters are one column wide everywhere)."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    cells = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return f"{cells.ljust(width, '░')} {fraction * 100:3.0f}%"


def short(path: str, drives: dict[str, Drive]) -> str:
    """A drive's name as the board shows it: the detected name, else its file's name."""
    known = drives.get(path)
    if known is not None:
        return known.name
    name = path.rsplit("/", 1)[-1]
    return name.removesuffix(".drive.toml")


def phase_words(view: DriveView) -> str:
    if view.phase == FINISHED and view.outcome:
        return t(f"outcome.{view.outcome}") if view.outcome != "error" else \
            t("board.phase.error")
    return t(f"board.phase.{view.phase}")


def drive_cells(view: DriveView, drive: Drive | None, drives: dict[str, Drive]
                ) -> tuple[str, ...]:
    media = "-"
    if drive is not None:
        media = (drive.suggested_profile or "-") if drive.media_present else \
            t("board.no_medium")
    if view.phase == IDLE and view.job is None:
        return (short(view.drive, drives), "-", phase_words(view), "", "", "", media)
    busy = view.busy and view.progress is not None
    return (short(view.drive, drives), view.item_id, phase_words(view),
            bar(view.fraction) if busy or view.phase == FINISHED else "",
            f"{human_bytes(view.rate)}/s" if busy else "",
            duration(view.eta) if busy and view.eta is not None else "", media)


def carrier_cells(view: CarrierView, drives: dict[str, Drive]) -> tuple[str, ...]:
    status = t(f"board.status.{view.status}")
    if view.status == DONE and view.state:
        status = t(f"state.{view.state}")
    detail = view.error or (t(f"outcome.{view.outcome}") if view.outcome and
                            view.outcome != "error" else "")
    return (view.item_id, short(view.drive, drives) if view.drive else "-", status,
            detail.replace("\n", " ")[:200])


def sync_rows(table: DataTable[str], rows: list[tuple[str, tuple[str, ...]]],
              columns: tuple[str, ...]) -> None:
    """Bring a table to rows (key, cells) in place: the cursor stays where it is, and a
    refresh twice a second costs only the cells that changed."""
    keys = [str(key.value) for key in table.rows]
    if keys != [key for key, _ in rows]:
        row = table.cursor_row
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if rows:
            table.move_cursor(row=min(max(row, 0), len(rows) - 1))
        return
    for key, cells in rows:
        current = table.get_row(key)
        for column, old, new in zip(columns, current, cells, strict=True):
            if old != new:
                table.update_cell(key, column, new)
