"""Screens see the app as the station app: its settings, profiles, drives, the batch,
the carrier being migrated and the station (the one core every action goes through)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen

if TYPE_CHECKING:
    from workbench.tui.app import WorkbenchApp

T = TypeVar("T")


def station_app(node: DOMNode) -> WorkbenchApp:
    from workbench.tui.app import WorkbenchApp
    app = node.app
    assert isinstance(app, WorkbenchApp)
    return app


class StationScreen(Screen[Any]):
    @property
    def wb(self) -> WorkbenchApp:
        return station_app(self)


class StationModal(ModalScreen[T]):
    @property
    def wb(self) -> WorkbenchApp:
        return station_app(self)
