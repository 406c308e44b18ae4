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
    CONFLICTS = 7  # merged whole, but one item ID has different content at two stations


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


class IntegrityFailure(WorkbenchError):
    """Something that must match does not (a digest, a damaged ledger or catalogue)."""

    exit_code = ExitCode.FAILED


class Aborted(WorkbenchError):
    """Cancelled (Ctrl-C) or out of disk space: the work done is kept; run it again."""

    exit_code = ExitCode.ABORTED


_DISK_FULL = (28, 122)  # ENOSPC, EDQUOT
_READ_ONLY = (30, 13, 1)  # EROFS, EACCES, EPERM
_NOT_A_FOLDER = (20, 17, 21)  # ENOTDIR, EEXIST, EISDIR


def from_os_error(exc: OSError) -> WorkbenchError | None:
    """A clear message for the file-system faults a station meets (disk full, read-only,
    a folder that is a file, a missing folder); None for anything else (a bug)."""
    path = exc.filename if exc.filename is not None else "?"
    if exc.errno in _DISK_FULL:
        return Aborted("error.disk_full", path=str(path))
    if exc.errno in _READ_ONLY:
        return Refused("error.read_only", path=str(path), detail=exc.strerror or "")
    if exc.errno in _NOT_A_FOLDER:
        return BadInput("error.not_a_folder", path=str(path), detail=exc.strerror or "")
    if exc.errno == 2:  # ENOENT
        return BadInput("error.path_missing", path=str(path))
    return None


def from_sqlite_error(exc: Exception, path: object) -> WorkbenchError | None:
    """The ledger's SQLite faults: damaged (with the way to recover), disk full,
    read-only, cannot be opened. None for anything else (a bug)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if primary in (11, 26) or "malformed" in text or "not a database" in text:
        return IntegrityFailure("error.ledger_corrupt", path=str(path), detail=text)
    if primary == 13 or "disk is full" in text:
        return Aborted("error.disk_full", path=str(path))
    if primary == 8 or "readonly" in text:
        return Refused("error.read_only", path=str(path), detail=text)
    if primary == 14 or "unable to open" in text:
        return BadInput("error.ledger_cannot_open", path=str(path), detail=text)
    return None
