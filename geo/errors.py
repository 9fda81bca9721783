"""The error hierarchy of dangjian-map.

Every error the product raises on purpose derives from :class:`DangjianError`.
The subclasses also inherit the matching built-in so callers that only know
``ValueError`` or ``LookupError`` still catch them.  The command line turns
them into one line and exit code 2; the HTTP service into a 4xx JSON body
through one mapping table (``api.errors``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

_E = TypeVar("_E", bound=StrEnum)


class DangjianError(Exception):
    """Base class of every deliberate dangjian-map error.

    Parameters
    ----------
    message
        One line a planner can act on.
    field
        The input field, column or parameter at fault, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InputError(DangjianError, ValueError):
    """Input data or an argument is malformed."""


class MissingColumnError(InputError):
    """A layer lacks a required column."""


class InvalidValueError(InputError):
    """A value in a row is out of its domain (negative households, unknown level, ...)."""


class GeometryError(InputError):
    """A geometry is of the wrong type or cannot be used."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or implausible."""


class OutputError(InputError, OSError):
    """An output cannot be written where it was asked for: its folder is missing, not a folder or read-only.

    Also an :class:`OSError`, so callers that fall back to another folder on a
    write error still do.
    """


class DatasetNotFoundError(DangjianError, FileNotFoundError):
    """A dataset path does not exist or holds none of the expected layers."""


class NotFoundError(DangjianError, LookupError):
    """A layer, feature or scenario that was asked for does not exist."""


class DatasetExistsError(DangjianError, FileExistsError):
    """A dataset of that name exists and the import was not asked to replace it (HTTP 409)."""


class NotBuiltError(DangjianError, RuntimeError):
    """A derived layer was asked for before the dataset was built."""


class VersionConflictError(DangjianError):
    """A feature is not at the version the caller expected (a stale ``If-Match``: HTTP 412).

    Parameters
    ----------
    message, field
        As for :class:`DangjianError`.
    expected
        The version the caller sent (``None`` when it expected no feature).
    current
        The version stored now (``None`` when there is no such feature).
    """

    def __init__(
        self, message: str, *, field: str | None = None, expected: int | None = None, current: int | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.expected = expected
        self.current = current


class FeatureExistsError(VersionConflictError):
    """A feature was created with an id that is already taken (HTTP 409)."""


def parse_choice(
    enum: type[_E], value: str | _E, *, field: str, error: type[DangjianError] | None = None, normalised: str | None = None
) -> _E:
    """The member of a string enumeration named by ``value``; an error naming ``field`` lists the valid values.

    Parameters
    ----------
    enum
        The enumeration (``Method``, ``GroupBy`` ...).
    value
        The text given.
    field
        The parameter's name, for the message and the error's ``field``.
    error
        The error class (default :class:`InvalidValueError`).
    normalised
        The text to look up when it differs from ``value`` (e.g. lower-cased);
        the message still quotes ``value``.
    """
    try:
        return enum(value if normalised is None else normalised)
    except ValueError:
        msg = f"`{field}` must be one of {', '.join(m.value for m in enum)}; got {value!r}"
        raise (error or InvalidValueError)(msg, field=field) from None
