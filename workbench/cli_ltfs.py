"""placeholder"""

from __future__ import annotations

import argparse

from workbench.config import Settings


def cmd_cartridge(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError


def cmd_forecast(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError
