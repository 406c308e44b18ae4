"""Reading the ledger: the one query layer behind the CLI, the TUI and the exports.

Carrier level: the final outcome of each carrier (its latest attempt that ended); a
carrier counts in the slice, and within the filters (dates, batch, station...), of that
final attempt. Attempt level: every attempt that ended. Success rates leave out carriers
routed to other equipment (needs flux imaging, audio disc), which are counted apart.

Statistics read the derived tables heads (the current version of every attempt) and
carrier_heads (each carrier's final attempt), kept current by triggers, so a report on a
million attempts scans narrow tables instead of sorting the history.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from workbench.ledger.db import Con, Row, sort_time
from workbench.slices import SLICES

ENDED = ("success", "partial", "failed", "needs_flux", "audio_disc")
UNFINISHED = ("aborted", "running")


@dataclass(frozen=True)
class Filters:
    date_from: str = ""  # YYYY-MM-DD, inclusive
    date_to: str = ""  # YYYY-MM-DD, inclusive
    batch: str = ""
    station: str = ""
    operator: str = ""
    drive: str = ""
    outcome: str = ""

    def where(self, unfinished: bool = False) -> tuple[str, list[object]]:
        """SQL for the filters. Statistics count attempts that ended; the log
        (unfinished=True) also lists interrupted ones (aborted, or running/crashed)."""
        outcomes = (*ENDED, *UNFINISHED) if unfinished else ENDED
        clauses: list[str] = [f"outcome IN ({', '.join('?' * len(outcomes))})"]
        params: list[object] = list(outcomes)
        if self.date_from:
            clauses.append("started >= ?")
            params.append(self.date_from)
        if self.date_to:
            clauses.append("started < date(?, '+1 day')")
            params.append(self.date_to)
        for column, value in (("batch", self.batch), ("station_id", self.station),
                              ("operator", self.operator), ("drive", self.drive),
                              ("outcome", self.outcome)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        return " AND ".join(clauses), params


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95% by default) for a proportion."""
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denom = 1 + z * z / n
    return max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom)


@dataclass
class SliceRow:
    key: str
    label: str
    carriers: int = 0
    succeeded: int = 0
    partial: int = 0
    failed: int = 0
    needs_flux: int = 0
    audio_disc: int = 0
    attempts: int = 0
    attempts_succeeded: int = 0
    bytes: int = 0
    median_rate: float = 0.0
    top_reasons: list[tuple[str, int]] = field(default_factory=list)

    @property
    def judged(self) -> int:
        return self.succeeded + self.partial + self.failed

    @property
    def rate(self) -> float:
        return self.succeeded / self.judged if self.judged else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.succeeded, self.judged)

    @property
    def attempt_rate(self) -> float:
        judged = self.attempts - self.needs_flux - self.audio_disc
        return self.attempts_succeeded / judged if judged > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        low, high = self.interval
        return {"key": self.key, "label": self.label, "carriers": self.carriers,
                "succeeded": self.succeeded, "partial": self.partial, "failed": self.failed,
                "needs_flux": self.needs_flux, "audio_disc": self.audio_disc,
                "success_rate": round(self.rate, 4), "ci95_low": round(low, 4),
                "ci95_high": round(high, 4), "attempts": self.attempts,
                "attempts_succeeded": self.attempts_succeeded,
                "attempt_success_rate": round(self.attempt_rate, 4), "bytes": self.bytes,
                "median_rate": round(self.median_rate, 1),
                "top_failure_reasons": [{"reason": r, "count": c} for r, c in self.top_reasons]}


def statistics(con: Con, by: str, filters: Filters = Filters(),
               label: Callable[[str], str] = str) -> list[SliceRow]:
    """One row per slice (media, family, batch, station, operator, drive), plus totals."""
    column = SLICES[by]
    where, params = filters.where()
    rows: dict[str, SliceRow] = {}
    # grouped by outcome too, counted here: the covering index's own order, no expression
    # per row (a 1,000,000-attempt ledger: 0.2 s instead of 0.35 s)
    tally = {"success": "succeeded", "partial": "partial", "failed": "failed",
             "needs_flux": "needs_flux", "audio_disc": "audio_disc"}
    for r in con.execute(f"""SELECT {column} AS g, outcome, COUNT(*) n, SUM(bytes_rescued) b
                             FROM carrier_heads WHERE {where} GROUP BY g, outcome""", params):
        row = rows.setdefault(r["g"], SliceRow(r["g"], ""))
        row.carriers += r["n"]
        row.bytes += r["b"] or 0
        if r["outcome"] in tally:
            setattr(row, tally[r["outcome"]], getattr(row, tally[r["outcome"]]) + r["n"])
    # attempts and their reasons in one pass over heads (an index-only scan by media)
    reasons: dict[str, dict[str, int]] = {}
    read_data: dict[str, int] = {}  # attempts that read data (success, partial): medians
    for r in con.execute(f"""SELECT {column} AS g, outcome, reason_code, COUNT(*) n
                             FROM heads WHERE {where} GROUP BY g, outcome, reason_code""",
                         params):
        row = rows.setdefault(r["g"], SliceRow(r["g"], ""))
        row.attempts += r["n"]
        if r["outcome"] in ("success", "partial"):
            read_data[r["g"]] = read_data.get(r["g"], 0) + r["n"]
        if r["outcome"] == "success":
            row.attempts_succeeded += r["n"]
        elif r["outcome"] in ("failed", "needs_flux", "audio_disc"):
            counts = reasons.setdefault(r["g"], {})
            code = r["reason_code"] or "unknown"
            counts[code] = counts.get(code, 0) + r["n"]
    for key, counts in reasons.items():
        rows[key].top_reasons = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    for key, median in _medians(con, column, filters, where, params, read_data).items():
        if key in rows:
            rows[key].median_rate = median
    result = []
    for key, row in rows.items():
        row.label = label(key) if key else "-"
        result.append(row)
    if by == "media":
        result = _merge_by_label(result)
    return sorted(result, key=lambda r: (-r.carriers, r.label))


def _medians(con: Con, column: str, filters: Filters, where: str,
             params: list[object], read_data: dict[str, int] | None = None
             ) -> dict[str, float]:
    """Median rate of the attempts that read data (success, partial), per slice;
    read_data: how many there are in each (statistics() counts them in its pass over
    heads; None: counted here)."""
    ok = "outcome IN ('success', 'partial')"
    if column == "profile_id" and filters == Filters():
        # the index on (profile_id, ok, rate) walks straight to the middle
        if read_data is None:
            read_data = {r["g"]: r["n"] for r in con.execute(
                f"SELECT profile_id g, COUNT(*) n FROM heads WHERE ({ok}) = 1 "
                "GROUP BY profile_id").fetchall()}
        out = {}
        for g, n in read_data.items():
            middle = con.execute(f"SELECT rate FROM heads WHERE profile_id = ? AND ({ok}) = 1 "
                                 "ORDER BY rate LIMIT ? OFFSET ?",
                                 (g, 2 - n % 2, (n - 1) // 2)).fetchall()
            if middle:
                out[g] = sum(m[0] for m in middle) / len(middle)
        return out
    return {r["g"]: r["m"] or 0.0 for r in con.execute(
        f"""SELECT g, AVG(rate) m FROM (
                SELECT {column} AS g, rate,
                       ROW_NUMBER() OVER (PARTITION BY {column} ORDER BY rate) rn,
                       COUNT(*) OVER (PARTITION BY {column}) cnt
                FROM heads WHERE {where} AND {ok})
            WHERE rn IN ((cnt + 1) / 2, (cnt + 2) / 2) GROUP BY g""", params)}


def _merge_by_label(rows: list[SliceRow]) -> list[SliceRow]:
    """Media types as supervisors count them: profiles with one report label add up
    (3.5-inch 2HD, 2DD and 2ED are all "3.5-inch FD"). Medians do not add: the largest
    profile's median stands for the group."""
    merged: dict[str, SliceRow] = {}
    for row in sorted(rows, key=lambda r: -r.carriers):
        into = merged.get(row.label)
        if into is None:
            merged[row.label] = SliceRow(row.label, row.label, **{
                k: getattr(row, k) for k in ("carriers", "succeeded", "partial", "failed",
                                             "needs_flux", "audio_disc", "attempts",
                                             "attempts_succeeded", "bytes", "median_rate")},
                top_reasons=list(row.top_reasons))
            continue
        for k in ("carriers", "succeeded", "partial", "failed", "needs_flux", "audio_disc",
                  "attempts", "attempts_succeeded", "bytes"):
            setattr(into, k, getattr(into, k) + getattr(row, k))
        counts = dict(into.top_reasons)
        for reason, n in row.top_reasons:
            counts[reason] = counts.get(reason, 0) + n
        into.top_reasons = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
    return list(merged.values())


def total(rows: list[SliceRow], label: str) -> SliceRow:
    out = SliceRow("*", label)
    for row in rows:
        for k in ("carriers", "succeeded", "partial", "failed", "needs_flux", "audio_disc",
                  "attempts", "attempts_succeeded", "bytes"):
            setattr(out, k, getattr(out, k) + getattr(row, k))
    return out


def attempts_page(con: Con, filters: Filters = Filters(), limit: int = 50,
                  before: str = "") -> list[Row]:
    """Attempts, newest first, one page at a time; interrupted attempts included.
    before: page_cursor() of the last row of the page before (keyset paging on the start
    time and the row, so attempts started at the same time are neither lost nor shown
    twice), or a time (the attempts started before it)."""
    where, params = filters.where(unfinished=True)
    started, _, row = before.rpartition("@")
    if before and started and row.isdigit():
        where += " AND (started, row) < (?, ?)"
        params += [sort_time(started), int(row)]
    elif before:
        where += " AND started < ?"
        params.append(sort_time(before))
    # the page's rows come from the heads index in order; only they are fetched whole
    return con.execute(
        f"SELECT a.*, a.rowid AS seq, h.started AS sort_started FROM (SELECT row, started "
        f"FROM heads WHERE {where} ORDER BY started DESC, row DESC LIMIT ?) h "
        "JOIN attempts a ON a.rowid = h.row ORDER BY h.started DESC, h.row DESC",
        [*params, limit]).fetchall()


def page_cursor(row: Row) -> str:
    """Where the page after the one ending with row (of attempts_page) begins."""
    return f"{row['sort_started']}@{row['seq']}"  # nothing a shell would quote


def carrier_history(con: Con, item_id: str) -> dict[str, list[Row]]:
    q = {"carrier": "SELECT * FROM carriers WHERE item_id = ?",
         "attempts": "SELECT * FROM attempts WHERE item_id = ? ORDER BY started, recorded",
         "events": "SELECT * FROM events WHERE item_id = ? ORDER BY started, step",
         "formats": "SELECT * FROM formats WHERE item_id = ? ORDER BY files DESC",
         "bags": "SELECT b.*, w.reason AS withdrawn, w.at AS withdrawn_at, r.at AS released "
                 "FROM bags b LEFT JOIN withdrawals w ON w.bag_id = b.id "
                 "LEFT JOIN releases r ON r.bag_id = b.id WHERE b.item_id = ? "
                 "ORDER BY b.version, b.created, b.rowid",
         "tape_copies": "SELECT * FROM tape_copies WHERE item_id = ? "
                        "ORDER BY MAX(written, verified), rowid"}
    return {k: con.execute(sql, (item_id,)).fetchall() for k, sql in q.items()}


def abandoned_attempts(attempts: list[Row]) -> dict[str, Row]:
    """Unfinished attempts (their current version) that another station's later ended
    attempt overtook: a station killed mid-imaging whose carrier another station then
    imaged (the item lock died with the first). Nothing resumes them: the carrier's
    state is the later attempt's. A view only (the ledger is append-only): attempt row
    id -> the later attempt's row."""
    superseded = {a["supersedes"] for a in attempts if a["supersedes"]}
    current = [a for a in attempts if a["id"] not in superseded]
    ended = [a for a in current if a["outcome"] not in ("running", "aborted")]
    out = {}
    for a in current:
        if a["outcome"] not in ("running", "aborted"):
            continue
        key = (sort_time(a["started"]), a["station_id"])
        later = [b for b in ended if b["station_id"] != a["station_id"] and
                 (sort_time(b["started"]), b["station_id"]) > key]
        if later:
            out[a["id"]] = min(later, key=lambda b: (sort_time(b["started"]), b["station_id"]))
    return out


def abandoned_in(con: Con, rows: list[Row]) -> dict[str, Row]:
    """abandoned_attempts for a log page: attempt row id -> the later attempt (another
    station's, ended) that overtook it, in one query."""
    open_rows = [r for r in rows if r["outcome"] in ("running", "aborted")]
    items = sorted({str(r["item_id"]) for r in open_rows})
    if not items:
        return {}
    ended = con.execute(
        "SELECT item_id, station_id, started FROM heads WHERE outcome NOT IN "
        f"('running', 'aborted') AND item_id IN ({', '.join('?' * len(items))})",
        items).fetchall()
    out = {}
    for r in open_rows:
        key = (sort_time(r["started"]), r["station_id"])
        later = [e for e in ended if e["item_id"] == r["item_id"] and
                 e["station_id"] != r["station_id"] and (e["started"], e["station_id"]) > key]
        if later:
            out[str(r["id"])] = min(later, key=lambda e: (e["started"], e["station_id"]))
    return out


def history_lines(h: dict[str, list[Row]]) -> list[str]:
    """A carrier's whole history as lines (the CLI's `show` and the UI's detail)."""
    from workbench.console import local_time, reason_words
    from workbench.i18n import human_bytes, t
    from workbench.station.result import step_line

    c = h["carrier"][0]
    lines = [t("show.carrier", item=c["item_id"], profile=c["profile_id"], family=c["family"],
               label=c["label"]), t("show.attempts")]
    superseded = {a["supersedes"] for a in h["attempts"] if a["supersedes"]}
    abandoned = abandoned_attempts(h["attempts"])
    for a in h["attempts"]:
        mark = t("show.superseded") if a["id"] in superseded else ""
        later = abandoned.get(a["id"])
        outcome = t("outcome." + a["outcome"]) if later is None else t(
            "ledgerfix.abandoned", station=later["station_id"],
            at=local_time(later["started"]))
        why = reason_words(a, 80) if later is None else ""  # no "run it again to resume"
        lines.append(f"  {local_time(a['started'])}  {outcome}  "
                     f"{a['bad_sectors']} / {human_bytes(a['bytes'])}  {a['drive']} "
                     f"{a['drive_serial']}  {a['operator']}@{a['station_id']}  {why} "
                     f"{mark}".rstrip())
    lines.append(t("show.events"))
    # people read local times and their own words; the ledger keeps UTC and English
    gone = {a["attempt"] for a in h["attempts"] if a["id"] in abandoned}
    for e in h["events"]:
        if e["attempt"] in gone and e["outcome"] in ("running", "aborted"):
            step = step_line(e["step"], t("ledgerfix.abandoned_step"), "")
        else:
            step = step_line(e["step"], e["outcome"], e["detail"])
        lines.append(f"  {local_time(e['started'])}  {step}".rstrip())
    if h["formats"]:
        lines.append(t("show.formats"))
        lines += [f"  {f['files']:5}  {f['puid']:12} {f['format_name']}" for f in h["formats"]]
    # the latest state of each copy, by the bag it is of (its id; older rows: the name of
    # a bag of the station that wrote it): another station's bag of the same name has its
    # own copies, which are not this bag's
    copies: dict[tuple[str, str], Row] = {}
    for tc in h["tape_copies"]:
        owner = tc["bag_id"] or f"{tc['station_id']}|{tc['bag'] or tc['item_id']}"
        copies[(owner, tc["barcode"])] = tc
    for b in h["bags"]:
        name = b["name"] or b["item_id"]
        mine = (b["id"], f"{b['station_id']}|{name}")
        tags = " ".join(
            ([t("station.superseded", reason=b["withdrawn"])] if b["withdrawn"] else [])
            + ([t("station.released_tag")] if b["released"] else []))
        # several stations' bags: each path is on its own station's disk
        where = f"{b['station_id']}:{b['path']}" if len(
            {x["station_id"] for x in h["bags"]}) > 1 else b["path"]
        lines.append(t("station.bag_line", version=b["version"], path=where,
                       oxum=b["payload_oxum"], tags=tags).rstrip())
        lines += [t("stagefix.copy_line", copy=tc["copy"], barcode=tc["barcode"],
                    pool=tc["pool"], result=t(f"tape.state_{tc['result']}"),
                    verified=tc["verified"] or "-")
                  for (owner, _), tc in sorted(copies.items()) if owner in mine]
    return lines


def recent_attempts(con: Con, station_id: str, limit: int
                    ) -> list[Row]:
    """The station's latest attempts, newest first (item and job folder): what its
    drives held last."""
    return con.execute("SELECT a.item_id, a.job_dir FROM heads h JOIN attempts a "
                       "ON a.rowid = h.row WHERE h.station_id = ? "
                       "ORDER BY h.started DESC, h.row DESC LIMIT ?",
                       (station_id, limit)).fetchall()


def has_attempt(con: Con, item_id: str) -> bool:
    return con.execute("SELECT 1 FROM attempts WHERE item_id = ? LIMIT 1",
                       (item_id,)).fetchone() is not None


def same_image(con: Con, sha256: str, item_id: str, limit: int = 10
               ) -> list[str]:
    """Other carriers whose current image has this SHA-256: the same content imaged
    twice (a second copy, a disc put back, or one ID given to two carriers)."""
    if not sha256:
        return []
    rows = con.execute(
        "SELECT DISTINCT a.item_id FROM heads h JOIN attempts a ON a.rowid = h.row "
        "WHERE a.sha256 = ? AND a.item_id != ? AND a.outcome IN ('success', 'partial') "
        "ORDER BY a.item_id LIMIT ?", (sha256, item_id, limit)).fetchall()
    return [str(r["item_id"]) for r in rows]
