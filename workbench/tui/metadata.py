"""Describing the carrier, after its item ID: catalogue record, title, volume N of M,
condition (ticked from the controlled list) and a note, photos (files or a folder, or
the station's camera). Enter saves and goes on; an empty form goes on at once."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Input, SelectionList, Static

from workbench.carrier_info import CONDITIONS, CarrierInfo
from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.tui.base import StationScreen
from workbench.tui.widgets import StationFooter


class MetadataScreen(StationScreen):
    BINDINGS = [Binding("escape", "app.pop_screen", t("tui.key_back")),
                Binding("ctrl+s", "save", t("meta.key_save"), priority=True),
                Binding("ctrl+t", "take_photo", t("meta.key_camera"))]
    DEFAULT_CSS = """
    MetadataScreen #conditions { height: 8; }
    MetadataScreen #meta-message { margin: 1 0; }
    """

    def __init__(self, then: Callable[[], Screen] | None = None) -> None:
        super().__init__()
        self.then = then  # the next screen of the flow (None: back where it came from)
        self.camera_busy = False

    def compose(self) -> ComposeResult:
        item = self.wb.carrier.item_id
        info = self._current() or CarrierInfo(item)
        yield Header()
        with VerticalScroll(classes="form"):
            yield Static(t("meta.tui_title", item=item), classes="heading")
            yield Static(t("meta.tui_record"))
            yield Input(info.record_id, id="record")
            yield Static(t("meta.tui_title_field"))
            yield Input(info.title, id="title")
            yield Static(t("meta.tui_volume"))
            yield Input(f"{info.volume}/{info.volumes}" if info.volumes else "", id="volume",
                        placeholder="2/3")
            yield Static(t("meta.tui_conditions"))
            yield SelectionList[str](*[(t(f"condition.{c}"), c, c in info.conditions)
                                       for c in CONDITIONS], id="conditions")
            yield Static(t("meta.tui_note"))
            yield Input(info.condition_note.replace("\n", " "), id="note")
            yield Static(t("meta.tui_photos"))
            yield Input(id="photos", placeholder="label=/media/photos/IMG_0012.jpg; sleeve=...")
            yield Static(t("meta.tui_camera"))
            yield Input("label", id="camera-role")
            yield Static(id="photo-list", markup=False)
            yield Static(id="meta-message", markup=False)
        yield StationFooter()

    def _current(self) -> CarrierInfo | None:
        from workbench.station.metadata import current
        try:
            return current(self.wb.station, self.wb.carrier.item_id)
        except WorkbenchError:
            return None

    def on_mount(self) -> None:
        self.query_one("#record", Input).focus()
        self._show_photos(self._current())

    def _show_photos(self, info: CarrierInfo | None) -> None:
        from workbench.station.metadata import photo_lines
        self.query_one("#photo-list", Static).update("\n".join(photo_lines(info)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "camera-role":
            self.action_take_photo()
        else:
            self.action_save()

    def action_save(self) -> None:
        from workbench.station.metadata import describe, photo_entries
        message = self.query_one("#meta-message", Static)
        text = {name: self.query_one(f"#{name}", Input).value
                for name in ("record", "title", "volume", "note", "photos")}
        ticked = self.query_one("#conditions", SelectionList).selected
        before = self._current()
        if before is None and not any(text.values()) and not ticked:
            self._next()  # nothing to say about this carrier: one key on
            return
        shown_note = before.condition_note.replace("\n", " ") if before else ""
        warnings: list[str] = []
        try:  # a note typed elsewhere with line breaks is kept as it was unless edited
            describe(self.wb.station, self.wb.carrier.item_id, record_id=text["record"],
                     title=text["title"], volume=text["volume"], conditions=list(ticked),
                     note=None if text["note"] == shown_note else text["note"],
                     photos=photo_entries(text["photos"], warnings), warnings=warnings)
        except WorkbenchError as exc:
            message.update(exc.message())
            return
        for line in warnings:  # recorded, but worth a look: seen on the next screen too
            self.app.notify(line, severity="warning", timeout=15)
        self.query_one("#photos", Input).value = ""
        message.update(t("meta.tui_saved"))
        self._next()

    def _next(self) -> None:
        if self.then is not None:
            self.app.push_screen(self.then())
        else:
            self.app.pop_screen()

    def action_take_photo(self) -> None:
        """The camera command runs in a thread (it may take seconds); its own Station
        (a connection per thread)."""
        if self.camera_busy:
            return
        role = self.query_one("#camera-role", Input).value or "label"
        app, item = self.wb, self.wb.carrier.item_id
        message = self.query_one("#meta-message", Static)
        self.camera_busy = True
        message.update("…")

        def shoot() -> None:
            from workbench.station import Station
            from workbench.station.metadata import describe
            try:
                with Station(app.settings) as station:
                    info = describe(station, item, camera=[role])
                app.call_from_thread(self._taken, info, "")
            except WorkbenchError as exc:
                app.call_from_thread(self._taken, None, exc.message())
        self.run_worker(shoot, thread=True, exclusive=True, group="camera")

    def _taken(self, info: CarrierInfo | None, error: str) -> None:
        self.camera_busy = False
        self.query_one("#meta-message", Static).update(error or t("meta.tui_saved"))
        if info is not None:
            self._show_photos(info)
