"""The station board's words and cells: a drive's row, a carrier's row in the background
queue, a text progress bar (drawn by tui/rowlist.py). Read from the runner's snapshots
(never its workers)."""

from __future__ import annotations

from workbench.devices import Drive
from workbench.i18n import human_bytes, t
from workbench.station.runner import DONE, FINISHED, IDLE, CarrierView, DriveView
from workbench.tui.rowlist import Column

# (key, cells wide, right-aligned); the label is the i18n text, a cell never moves a
# column (numbers are right-aligned in a column wide enough for their longest form)
DRIVE_COLUMNS = (("drive", 14, False), ("carrier", 12, False), ("phase", 12, False),
                 ("progress", 11, False), ("rate", 11, True), ("eta", 7, True),
                 ("media", 8, False))
QUEUE_COLUMNS = (("carrier", 14, False), ("drive", 14, False), ("status", 20, False),
                 ("detail", 0, False))
# the latest carriers after the drives, and the oldest of the work list; the rest are
# counted on one line. Each list has this many lines from the start (blank until used)
QUEUE_SHOWN = 5
WORK_SHOWN = 4


def board_columns(columns: tuple[tuple[str, int, bool], ...]) -> tuple[Column, ...]:
    return tuple(Column(key, t(f"board.col_{key}"), width, right)
                 for key, width, right in columns)


def eta_words(seconds: float | None) -> str:
    """An ETA that fits a narrow column: 4:05, 1:02:03."""
    if seconds is None:
        return "--:--"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
        f"{rest // 60}:{rest % 60:02d}"


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
        return (short(view.drive, drives), "-", phase_words(view), "", "", "", media)
    busy = view.busy and view.progress is not None
    return (short(view.drive, drives), view.item_id, phase_words(view),
            bar(view.fraction) if busy or view.phase == FINISHED else "",
            f"{human_bytes(view.rate)}/s" if busy else "",
            eta_words(view.eta) if busy else "", media)


def carrier_cells(view: CarrierView, drives: dict[str, Drive]) -> tuple[str, ...]:
    status = t(f"board.status.{view.status}")
    if view.status == DONE and view.state:
        status = t(f"state.{view.state}")
    detail = view.error or (t(f"outcome.{view.outcome}") if view.outcome and
                            view.outcome != "error" else "")
    return (view.item_id, short(view.drive, drives) if view.drive else "-", status,
            detail.replace("\n", " "))
