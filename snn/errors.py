"""Errors a user can fix, as one family of types: the command lines print them as one line (exit status 2)
and let every other exception, a bug, show its traceback (exit status 1)."""

from __future__ import annotations

__all__ = ["UserError", "NotFoundError", "AlreadyExistsError"]


class UserError(ValueError):
    """A mistake the user can fix: a bad study file, a value out of range, an action refused with its reason.
    The message names the problem and the fix. A ValueError, so that library callers catching ValueError (as
    before this type existed) keep working."""


class NotFoundError(UserError, FileNotFoundError):
    """Something the user named does not exist (a study file, a study, a checkpoint)."""


class AlreadyExistsError(UserError, FileExistsError):
    """Something the user asked to create exists already (a study, a run directory)."""
