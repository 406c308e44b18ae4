"""`workbench ingest`: placeholder while it is being built."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    pass
