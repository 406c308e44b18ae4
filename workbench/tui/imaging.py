"""Imaging a carrier from the UI: the carrier the technician chose (app.carrier) starts
on the station's runner, and this screen is then that drive's live view (DriveScreen).
The ChecklistScreen goes back to the board instead (app.start_carrier); a retry from the
result screen opens this view to watch the new attempt."""

from __future__ import annotations

from textual.widgets import Static

from workbench.errors import WorkbenchError
from workbench.i18n import t
from workbench.tui.drive import DriveScreen


class ImagingScreen(DriveScreen):
    def __init__(self, retries: int | None = None, drive: str | None = None,
                 keep_going: bool = False) -> None:
        super().__init__(drive or "")
        self.retries, self.keep_going = retries, keep_going

    def on_mount(self) -> None:
        app = self.wb
        self.drive = self.drive or app.carrier.drive
        try:
            app.start_carrier(drive=self.drive, retries=self.retries,
                              keep_going=self.keep_going)
        except WorkbenchError as exc:
            self.left = True
            self.query_one("#numbers", Static).update(t("tui.error", message=exc.message()))
            return
        super().on_mount()
