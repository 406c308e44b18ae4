"""Identification worker processes start inside the terminal UI too (its sys.stderr is a
capture with no descriptor, which multiprocessing hands to every process it spawns):
the station board's background acceptance then identifies beside the drives, not in
the UI's own process."""

from __future__ import annotations

import asyncio
import sys

import psutil
from textual.app import App

from workbench.identify.pool import IdentifyPool


def test_workers_start_inside_a_textual_app():
    seen: dict[str, object] = {}

    async def scenario() -> None:
        async with App().run_test() as pilot:
            await pilot.pause()
            seen["stderr"] = sys.stderr
            with IdentifyPool(1) as pool:
                assert pool.workers == 1
                assert pool.submit([]).result(timeout=120) == []
                seen["children"] = [p.cmdline() for p in psutil.Process().children()]
            assert sys.stderr is seen["stderr"]  # lent only while a worker starts

    asyncio.run(scenario())
    assert any("multiprocessing" in " ".join(c) for c in seen["children"]), seen
