"""The migration ledger: every carrier, attempt and step, append-only, in SQLite."""
