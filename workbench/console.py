"""Terminal output for the headless commands: tables and a progress line."""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from workbench.i18n import human_bytes, t

if TYPE_CHECKING:
    from workbench.imaging.rescue import Progress
    from workbench.ledger.db import Row


def width(text: str) -> int:
    """Display width: East Asian wide characters take two cells."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, cells: int) -> str:
    return text + " " * max(0, cells - width(text))


def fit(text: str, cells: int) -> str:
    """text cut to cells display columns, with "…" when something was cut."""
    if width(text) <= cells:
        return text
    out, used = "", 0
    for c in text:
        w = width(c)
        if used + w > cells - 1:
            break
        out, used = out + c, used + w
    return out + "…"


def local_time(stamp: str) -> str:
    """A UTC ISO time from the records ("2026-01-05T10:00:00Z") in the station's own
    time zone, for people; the records themselves stay UTC. Anything else is returned
    as it is."""
    from datetime import datetime
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return stamp
    if when.tzinfo is None:  # a date, or a time written without a zone: as it is
        return stamp
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def lost_bytes(lost: int, total: int) -> str:
    """Bytes not read, exactly, with their share of the whole: never rounded to nothing
    ("1.4 MiB of 1.4 MiB" can hide 43 KB). "" when nothing is lost."""
    if lost <= 0:
        return ""
    share = 100 * lost / total if total else 100.0
    percent = f"{share:.2f}" if share >= 0.01 else "<0.01"
    return t("ui.lost_bytes", bytes=f"{lost:,}", percent=percent)


def more_line(shown: int, total: int) -> list[str]:
    """["… and N more"] when a list was cut to shown of total entries, else []."""
    return [t("ui.and_more", count=total - shown)] if total > shown else []


def reason_words(row: Row | Mapping[str, Any], cells: int = 60) -> str:
    """An attempt's reason in the user's words: the recorded text (English, with its
    numbers) for English, else the code's short words in the user's language; cut to
    cells with "…"."""
    from workbench.i18n import catalog, language
    code = row["reason_code"] if "reason_code" in row.keys() else ""  # noqa: SIM118
    if language() != "en" and code and f"reason_short.{code}" in catalog("en"):
        return t(f"reason_short.{code}")
    return fit(str(row["reason"] or ""), cells)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    out.write("  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write("  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--:--"
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def imaging_line(p: Progress, cols: int) -> str:
    """The whole medium during the copy passes; the pass on its own during trim, scrape
    and retry, which run when the whole is nearly done and may still take long."""
    bar_cells = max(10, min(30, cols - 80))
    fraction = p.pass_fraction if p.per_pass else p.fraction
    filled = int(bar_cells * fraction)
    bar = "#" * filled + "." * (bar_cells - filled)
    if p.per_pass:
        return t("progress.pass_line", bar=bar, phase=t(f"phase.{p.phase}"),
                 number=p.pass_number, percent=f"{fraction * 100:.1f}",
                 size=human_bytes(p.pass_size), eta=duration(p.pass_eta),
                 rescued=human_bytes(p.rescued), bad=human_bytes(p.bad),
                 errors=p.read_errors, since=duration(p.since_last_good))
    return t("progress.line", bar=bar, percent=f"{p.fraction * 100:5.1f}",
             phase=t(f"phase.{p.phase}"), number=p.pass_number,
             rate=human_bytes(p.rate), eta=duration(p.eta),
             rescued=human_bytes(p.rescued), bad=human_bytes(p.bad),
             errors=p.read_errors, since=duration(p.since_last_good))


def identify_line(p: object, cols: int) -> str:
    from workbench.identify.engine import IdentifyProgress  # loaded once identifying
    if not isinstance(p, IdentifyProgress):
        return ""
    return t("progress.identify", volume=p.volume + 1, volumes=p.volumes,
             files=p.files, bytes=human_bytes(p.bytes), path=p.path)


class ProgressLine:
    """One self-overwriting line on a terminal; silent when it is not a terminal."""

    def __init__(self, out: TextIO | None = None, min_interval: float = 0.2,
                 render: Callable[[Any, int], str] = imaging_line) -> None:
        self.out = out or sys.stderr  # the stream of now, not of import time
        self.enabled = self.out.isatty()
        self.min_interval = min_interval
        self.render = render
        self._last = 0.0

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < self.min_interval:
            return
        self._last = now
        cols = shutil.get_terminal_size((100, 24)).columns
        text = self.render(p, cols)
        self.out.write("\r" + text[: cols - 1].ljust(cols - 1))
        self.out.flush()

    def close(self) -> None:
        if self.enabled and self._last:
            self.out.write("\n")
            self.out.flush()


def cancel_on_sigint(saying: str = "cli.cancelling") -> threading.Event:
    """First Ctrl-C stops cleanly (map saved, resumable), saying so (`saying`: the
    message key for work that is not imaging); a second one kills."""
    cancel = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if cancel.is_set():
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            raise KeyboardInterrupt
        cancel.set()
        print("\n" + t(saying), file=sys.stderr)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    return cancel
