"""The one error family of the library.

Every error a caller can act on is a `GloreError`. `retryable` tells the caller whether
the same call may succeed later (a backend timeout) or never will (bad input).
"""

from __future__ import annotations


class GloreError(Exception):
    """Base of every error raised on purpose by `glore`."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(GloreError, ValueError):
    """A caller's argument is malformed or out of bounds; the message says what is allowed."""


class ConfigError(GloreError, ValueError):
    """A configuration or recipe names an unknown key or an impossible value."""


class DatasetError(GloreError):
    """A dataset file is missing or malformed; the message names the file and line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class ModelNotFoundError(GloreError):
    """A model directory, store or remote model name does not exist."""


class BackendError(GloreError):
    """A generation or scoring backend failed. Transient failures are retryable."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
