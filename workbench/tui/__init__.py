"""The station UI (Textual). Screens are thin: every action on a carrier goes through
workbench.station, as the CLI's do, and the record is read through Station.records."""
