"""Errors a user can cause and fix; the CLI turns them into a message and a non-zero exit."""

import re

__all__ = ["UserError", "CorpusError", "user_error_text", "without_beam_step"]


class UserError(ValueError):
    """A mistake in the user's input or options: the message says what is wrong and what to do."""


class CorpusError(UserError):
    """Corrupt or unreadable corpus input: the message names the file (and offset or line)."""


# How a user error reads once a Beam runner has wrapped it in an exception of its own.
_IN_TEXT = re.compile(r"(?:electra_data\.errors\.)?(?:UserError|CorpusError): (.+)")
_BEAM_STEP_SUFFIX = re.compile(r"\s*\[while running '[^']*'\]")


def without_beam_step(text: str) -> str:
    """The text of an error less the Beam step it failed in: ours to know, not the user's."""
    return _BEAM_STEP_SUFFIX.sub("", text)


def user_error_text(exc: BaseException) -> str | None:
    """The message of a user error, also when a Beam runner wrapped it in another exception."""
    text = without_beam_step(str(exc))
    if isinstance(exc, UserError):
        return text
    match = _IN_TEXT.search(text)
    return match.group(1).strip() if match else None
