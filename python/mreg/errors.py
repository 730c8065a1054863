"""Exceptions raised by mreg.

Every failure is an :class:`Error` (catch that to catch everything mreg raises), of a
subclass that says what kind of failure it was. Each carries the same message and hint the
``mreg`` command line prints, the library's stable error ``code`` (the variant name, e.g.
``"UnknownRevision"`` or ``"AliasMoved"``; for an area's error the area and its variant,
e.g. ``"RemoteCredentials"``, ``"GitUnknownRevision"``, ``"RunCommandFailed"``) and its
``category``.

When mreg raises, the store is unchanged: nothing is half-written.
"""

from __future__ import annotations

from typing import Dict, Type

__all__ = [
    "Error",
    "NotARepoError",
    "NotFoundError",
    "UnknownRevisionError",
    "UnknownModelError",
    "ConflictError",
    "PrunedError",
    "CorruptStoreError",
    "InvalidArgumentError",
    "RefusedError",
    "RemoteError",
    "RunError",
    "GitError",
    "StoreIOError",
]


class Error(Exception):
    """Base class of every mreg error.

    Attributes:
        message: what went wrong (as ``error: ...`` in the CLI).
        hint: the next step (as ``hint: ...`` in the CLI).
        code: the library's stable error code, e.g. ``"UnknownRevision"``, ``"RemoteNoRemote"``.
        category: the kind of failure, e.g. ``"not_found"``.
    """

    category = "error"

    def __init__(self, message: str, hint: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class NotARepoError(Error):
    """No store was found (or one already exists where ``init`` was asked to create one)."""

    category = "not_a_repo"


class NotFoundError(Error, LookupError):
    """A revision, model, alias, tag, file or metric key does not exist."""

    category = "not_found"


class UnknownRevisionError(NotFoundError):
    """A revision names no version (or is ambiguous, or goes back too far)."""


class UnknownModelError(UnknownRevisionError):
    """No model of that name in the store (a revision naming it is unknown too)."""


class ConflictError(Error):
    """A compare-and-swap lost: someone moved the alias first, the tag exists, or a name
    clashes. Re-read (``repo.history``) and retry."""

    category = "conflict"


class PrunedError(Error):
    """The version's file data was pruned (its metadata is still readable)."""

    category = "pruned"


class CorruptStoreError(Error):
    """The store (or a remote) holds bytes that fail verification, or lacks objects.
    ``mreg fsck`` reports everything."""

    category = "corrupt"


class InvalidArgumentError(Error, ValueError):
    """The request is wrong: a bad name, path, value, filter expression or file."""

    category = "invalid_argument"


class RefusedError(Error):
    """mreg refused something unsafe (overwriting files it did not write, archiving an
    aliased version, ...). Nothing was changed."""

    category = "refused"


class RemoteError(Error):
    """A remote could not be used (unreachable, credentials, configuration)."""

    category = "remote"


class RunError(Error):
    """A run, replay or training failed."""

    category = "run"


class GitError(Error):
    """Git could not be read."""

    category = "git"


class StoreIOError(Error, OSError):
    """The operating system refused a read or write."""

    category = "io"


_BY_CATEGORY: Dict[str, Type[Error]] = {
    cls.category: cls
    for cls in (
        NotARepoError,
        NotFoundError,
        ConflictError,
        PrunedError,
        CorruptStoreError,
        InvalidArgumentError,
        RefusedError,
        RemoteError,
        RunError,
        GitError,
        StoreIOError,
    )
}

_BY_CODE: Dict[str, Type[Error]] = {
    "UnknownRevision": UnknownRevisionError,
    "AmbiguousRevision": UnknownRevisionError,
    "HistoryTooShort": UnknownRevisionError,
    "AliasHistoryTooShort": UnknownRevisionError,
    "UnknownModel": UnknownModelError,
    "UnknownVersionNumber": UnknownRevisionError,
}


def _from_native(category: str, code: str, message: str, hint: str) -> Error:
    """Build the exception for an error of the compiled module (called from Rust)."""
    cls = _BY_CODE.get(code) or _BY_CATEGORY.get(category, Error)
    return cls(message, hint, code)
