"""The station UI (Textual). Screens are thin: every action on a carrier goes through
workbench.station, as the CLI's do; reads use the same query layer (workbench.ledger)."""
