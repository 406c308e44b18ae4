"""LTO staging: tapes and pools, capacity planning, write with read-back, catalogue."""
