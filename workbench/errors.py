"""Domain exceptions that carry a translatable, actionable message and an exit code."""

from __future__ import annotations

from enum import IntEnum

from workbench.i18n import translate


class ExitCode(IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    SUCCESS = 0
    INTERNAL = 1
    BAD_INPUT = 2
    PARTIAL = 3
    FAILED = 4
    ABORTED = 5
    REFUSED = 6


class WorkbenchError(Exception):
    """An error a technician can act on. The message is rendered at display time."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message_key: str, /, **params: object) -> None:
        super().__init__(message_key)
        self.key = message_key
        self.params = params

    def __str__(self) -> str:
        return translate(self.key, self.params)

    def message(self, lang: str | None = None) -> str:
        return translate(self.key, self.params, lang)


class BadInput(WorkbenchError):
    """Wrong arguments, settings, profiles or descriptors."""


class ConfigError(BadInput):
    """Bad station settings or profile files."""


class Refused(WorkbenchError):
    """Pre-flight refused to start: nothing was read, nothing was written."""

    exit_code = ExitCode.REFUSED
