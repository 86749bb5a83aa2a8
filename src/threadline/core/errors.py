"""Errors a user can cause. Each carries enough to be shown as one line that says what to do."""

from __future__ import annotations

from pathlib import Path


class ThreadlineError(Exception):
    """A problem with the user's input or setup, reported as one line (exit code 1), never a traceback."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        return (where + self.message).replace("\n", " ")


class InputError(ThreadlineError):
    """A file or value given by the user cannot be used as it is."""


class NotFoundError(ThreadlineError):
    """Something the user named (an agency, a user, an operation) does not exist."""


class ConflictError(ThreadlineError):
    """The request clashes with what is already stored (a duplicate name, say)."""


class StoreError(ThreadlineError):
    """The database cannot be reached or is not in a usable state."""
