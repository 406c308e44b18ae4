"""The station board's words and cells: a drive's row, a carrier's row in the background
queue, a text progress bar. Read from the runner's snapshots (never its workers)."""

from __future__ import annotations

from textual.widgets import DataTable

from workbench.devices import Drive
from workbench.i18n import human_bytes, t
from workbench.station.runner import DONE, FINISHED, IDLE, CarrierView, DriveView

DRIVE_COLUMNS = ("drive", "carrier", "phase", "progress", "rate", "eta", "media")
QUEUE_COLUMNS = ("carrier", "drive", "status", "detail")


def add_columns(table: DataTable[str], columns: tuple[str, ...],
                labels: tuple[str, ...]) -> None:
    for key, label in zip(columns, labels, strict=True):
        table.add_column(label, key=key)


def eta_words(seconds: float | None) -> str:
    """An ETA that fits a narrow column: 4:05, 1:02:03."""
    if seconds is None:
        return "--:--"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
        f"{rest // 60}:{rest % 60:02d}"


def fit(text: str, width: int) -> str:
    """Text cut to width columns (wide characters count two), with … when cut."""
    from rich.cells import cell_len, set_cell_size
    return text if cell_len(text) <= width else set_cell_size(text, width - 1) + "…"


def bar(fraction: float, width: int = 6) -> str:
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
        return (fit(short(view.drive, drives), 14), "-", fit(phase_words(view), 12), "", "",
                "", fit(media, 8))
    busy = view.busy and view.progress is not None
    return (fit(short(view.drive, drives), 14), fit(view.item_id, 12),
            fit(phase_words(view), 12),
            bar(view.fraction) if busy or view.phase == FINISHED else "",
            # numbers padded to a steady width: a column that keeps its width is drawn
            # again alone, one that changes it re-lays the whole screen out
            f"{human_bytes(view.rate)}/s".rjust(11) if busy else "",
            eta_words(view.eta).rjust(7) if busy else "", fit(media, 8))


def carrier_cells(view: CarrierView, drives: dict[str, Drive]) -> tuple[str, ...]:
    status = t(f"board.status.{view.status}")
    if view.status == DONE and view.state:
        status = t(f"state.{view.state}")
    detail = view.error or (t(f"outcome.{view.outcome}") if view.outcome and
                            view.outcome != "error" else "")
    return (fit(view.item_id, 14), fit(short(view.drive, drives), 14) if view.drive else "-",
            fit(status, 20), fit(detail.replace("\n", " "), 200))


def sync_rows(table: DataTable[str], rows: list[tuple[str, tuple[str, ...]]],
              columns: tuple[str, ...]) -> None:
    """Bring a table to rows (key, cells) in place: the cursor stays where it is, and a
    refresh twice a second costs only the cells that changed."""
    keys = [str(key.value) for key in table.rows]
    wanted = [key for key, _ in rows]
    if keys != wanted:
        row = table.cursor_row
        selected = keys[row] if 0 <= row < len(keys) else None
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if rows:  # the same drive or carrier stays selected when rows move
            table.move_cursor(row=wanted.index(selected) if selected in wanted
                              else min(max(row, 0), len(rows) - 1))
        return
    from rich.cells import cell_len
    for key, cells in rows:
        current = table.get_row(key)
        for column, old, new in zip(columns, current, cells, strict=True):
            if old != new:  # measured again only when its width changed
                table.update_cell(key, column, new,
                                  update_width=cell_len(str(old)) != cell_len(str(new)))
