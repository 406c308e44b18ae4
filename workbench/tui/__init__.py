"""The station UI (Textual). Screens are thin: every action calls the same core
functions as the CLI (workbench.pipeline, workbench.ledger, workbench.devices)."""
