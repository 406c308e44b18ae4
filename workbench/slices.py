"""The dimensions statistics and reports slice carriers by, and the ledger column each
reads: one list for the ledger's queries, the CLI's --by and the UI's choice."""

SLICES = {"media": "profile_id", "profile": "profile_id", "family": "family",
          "batch": "batch", "station": "station_id", "operator": "operator",
          "drive": "drive", "disc_type": "disc_type", "disc_kind": "disc_kind",
          "disc_class": "disc_class"}
