"""The dimensions statistics and reports slice carriers by, and the ledger column each
reads: one list for the ledger's queries, the CLI's --by and the UI's choice."""


def method_column() -> str:
    """The imaging method of an attempt as a column of heads/carrier_heads: "flux" when
    the station recorded the flux method on it (an event 'flux', station/flux.py),
    else "drive". One subquery, read once per statement."""
    return ("(CASE WHEN attempt IN (SELECT attempt FROM events WHERE step = 'flux') "
            "THEN 'flux' ELSE 'drive' END)")


SLICES = {"media": "profile_id", "profile": "profile_id", "family": "family",
          "batch": "batch", "station": "station_id", "operator": "operator",
          "drive": "drive", "disc_type": "disc_type", "disc_kind": "disc_kind",
          "disc_class": "disc_class", "method": method_column()}
