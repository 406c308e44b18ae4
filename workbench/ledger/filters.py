"""One check of the report and log filters, used by the CLI and the station UI: dates
in the accepted forms, outcomes among the known ones. A filter that matches nothing by
mistake (25/11/2026, a misspelt outcome) is refused instead of giving an all-zero report."""

from __future__ import annotations

from datetime import date, datetime

from workbench.errors import BadInput
from workbench.ledger.query import ENDED, UNFINISHED, Filters

DATE_FORMS = "YYYY-MM-DD (2026-11-25)"
OUTCOMES = (*ENDED, *UNFINISHED)


def _date(value: str, option: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise BadInput("error.bad_filter_date", option=option, value=repr(value),
                       forms=DATE_FORMS) from None


def make_filters(date_from: str = "", date_to: str = "", batch: str = "", station: str = "",
                 operator: str = "", drive: str = "", outcome: str = "") -> Filters:
    """Filters from what a person typed; BadInput naming the accepted forms."""
    start, end = _date(date_from, "--from"), _date(date_to, "--to")
    if start and end and start > end:
        raise BadInput("error.bad_filter_range", start=start, end=end)
    outcome = outcome.strip()
    if outcome and outcome not in OUTCOMES:
        raise BadInput("error.bad_filter_outcome", value=repr(outcome),
                       allowed=", ".join(OUTCOMES))
    return Filters(start, end, batch.strip(), station.strip(), operator.strip(), drive.strip(),
                   outcome)


def check_before(value: str) -> str:
    """The log's page cursor as typed: a time (ISO 8601, as the log prints it) or the
    "more:" line's TIME@ROW. Anything else is refused, not compared as text."""
    value = value.strip()
    if not value:
        return ""
    time, _, row = value.partition("@")
    try:
        datetime.fromisoformat(time.replace("Z", "+00:00"))
        if "@" in value and not row.isdigit():
            raise ValueError(row)
    except ValueError:
        raise BadInput("error.bad_before", value=repr(value)) from None
    return value
