"""Errors a user can cause and fix; the CLI turns them into a message and a non-zero exit."""

__all__ = ["UserError", "CorpusError"]


class UserError(ValueError):
    """A mistake in the user's input or options: the message says what is wrong and what to do."""


class CorpusError(UserError):
    """Corrupt or unreadable corpus input: the message names the file (and offset or line)."""
