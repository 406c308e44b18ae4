"""The morning report: what unattended batches did with each disc (done, partial,
rejected, and why), read from the ledger; as text, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from workbench.console import table
from workbench.errors import BadInput
from workbench.i18n import catalog, t, translate
from workbench.ledger.night import dispositions

if TYPE_CHECKING:
    from workbench.station.core import Station

FORMATS = ("text", "csv", "json")
STATUSES = ("done", "partial", "rejected")
DEFAULT_HOURS = 24


@dataclass
class NightLine:
    ended: str  # UTC, as the ledger has it
    item: str
    status: str  # done | partial | rejected
    bin: str  # done | reject
    reason: str  # the code
    why: str  # the code in a few words
    detail: str  # the whole reason in words
    batch: str
    drive: str
    station: str


@dataclass
class NightReport:
    since: str  # UTC
    batch: str
    lines: list[NightLine] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for x in self.lines if x.status == s) for s in STATUSES}


def parse_since(text: str, now: datetime | None = None) -> str:
    """--since: a date or date and time in local time (or with a zone), as the ledger's
    UTC text; "" for the last DEFAULT_HOURS hours."""
    now = now or datetime.now(UTC)
    if not text:
        when = now - timedelta(hours=DEFAULT_HOURS)
    else:
        try:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadInput("autoload.bad_since", since=text) from None
        if when.tzinfo is None:
            when = when.astimezone()  # the station's local time
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def local_time(utc: str) -> str:
    try:
        return datetime.fromisoformat(utc.replace("Z", "+00:00")).astimezone().strftime(
            "%Y-%m-%d %H:%M")
    except ValueError:
        return utc


def why(code: str, lang: str | None = None) -> str:
    key = f"autoload.why.{code or 'none'}"
    return t(key, lang=lang) if key in catalog("en") else code


def detail_of(row: dict[str, Any], lang: str | None = None) -> str:
    """The reason in the report's language: from its message key and parameters when
    they are known, else the English words recorded at the time."""
    code, params = str(row.get("reason", "")), row.get("params") or {}
    if not isinstance(params, dict):
        params = {}
    key = str(params.get("key", "")) or f"reason.{code}"
    if code and key in catalog("en"):
        return translate(key, params, lang)
    return str(row.get("text", ""))


def night_report(station: Station, since: str = "", batch: str = "",
                 lang: str | None = None) -> NightReport:
    """The discs taken out of drives since `since` (parse_since; with a batch and no
    since: the whole batch)."""
    start = "" if batch and not since else parse_since(since)
    report = NightReport(start, batch)
    for row in dispositions(station.con, start, batch):
        report.lines.append(NightLine(
            row["ended"], row["item"], row["status"], str(row.get("bin", "")),
            str(row.get("reason", "")), why(str(row.get("reason", "")), lang),
            detail_of(row, lang), str(row.get("batch", "")), str(row.get("drive", "")),
            row["station"]))
    return report


def write_night(report: NightReport, fmt: str, lang: str | None = None) -> str:
    if fmt not in FORMATS:
        raise BadInput("autoload.bad_format", format=fmt, allowed=", ".join(FORMATS))
    if fmt == "json":
        return json.dumps({"since": report.since, "batch": report.batch,
                           "counts": report.counts(), "total": len(report.lines),
                           "carriers": [asdict(x) for x in report.lines]},
                          ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(list(NightLine.__dataclass_fields__))
        writer.writerows([list(asdict(x).values()) for x in report.lines])
        return buf.getvalue()
    return _text(report, lang)


def _text(report: NightReport, lang: str | None) -> str:
    out = io.StringIO()
    out.write((t("autoload.night.title", lang=lang, since=local_time(report.since))
               if report.since else t("autoload.night.title_all", lang=lang)) +
              (t("autoload.night.of_batch", lang=lang, batch=report.batch)
               if report.batch else "") + "\n")
    counts = report.counts()
    out.write(t("autoload.night.counts", lang=lang, total=len(report.lines), **counts) + "\n")
    if not report.lines:
        out.write(t("autoload.night.none", lang=lang) + "\n")
        return out.getvalue()
    out.write("\n")
    table([t(f"autoload.night.col_{c}", lang=lang) for c in
           ("time", "item", "status", "bin", "why", "batch")],
          [[local_time(x.ended), x.item, t(f"autoload.status.{x.status}", lang=lang),
            t(f"autoload.bin.{x.bin}", lang=lang), x.why if x.status != "done" else "",
            x.batch] for x in report.lines], out)
    troubled = [x for x in report.lines if x.status != "done"]
    if troubled:
        out.write("\n" + t("autoload.night.reasons", lang=lang) + "\n")
        for x in troubled:
            out.write(f"  {x.item}  [{t(f'autoload.status.{x.status}', lang=lang)}] "
                      f"{x.why}: {x.detail}\n")
    return out.getvalue()
