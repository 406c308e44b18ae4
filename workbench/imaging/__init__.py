"""The rescue imaging engine: sources, passes, the ddrescue mapfile, digests, checks."""
