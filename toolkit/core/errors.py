"""The one user-error type: a bad input names its field, the value received and the fix.

The CLI prints it as a single line on stderr and exits with code 2; anything else is a bug and
keeps its traceback.
"""
from __future__ import annotations

import difflib
from typing import Iterable

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake in what the user gave us (a name, a YAML key, a file), never a bug."""

    def __init__(self, field: str, value: object, hint: str):
        self.field, self.value, self.hint = field, value, hint
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.field}: got {self.value!r} — {self.hint}"
        return " ".join(text.split())  # one line, whatever the parts hold


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """'did you mean X? available: …' for an unknown name."""
    names = sorted(choices)
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    avail = ", ".join(names)
    return (f"did you mean '{close[0]}'? " if close else "") + f"available: {avail}"
