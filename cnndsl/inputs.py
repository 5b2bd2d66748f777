"""Where specs come from: the notation on the command line, or a file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnndsl.compiler import check
from cnndsl.model import CheckedModel

SPEC_NAME = "<spec>"
MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest spec file read (a real one is a few kilobytes)."""


class UsageError(Exception):
    """A bad command line or an unreadable input: exit code 2."""


@dataclass(frozen=True)
class Source:
    """One model to compile.

    ``name`` is what diagnostics print before the position (a path, or ``<spec>``),
    ``text`` the whole text positions refer to, and ``label`` the model's short
    name for tables and output folders.
    """

    name: str
    text: str
    label: str

    def check(self, input_shape=None, num_classes=None) -> CheckedModel:
        """Check this model (see :func:`cnndsl.check`); raises SpecError."""
        return check(self.text, input_shape, num_classes)


def read_models(argument: str) -> list[Source]:
    """Every model a command-line argument names: a FILE, or the notation itself."""
    path = Path(argument)
    if argument.strip() and (_looks_like_path(argument) or path.exists()):  # "" is no path, not "."
        return [Source(argument, read_text(path), path.stem)]
    return [Source(SPEC_NAME, argument, "spec")]


def _looks_like_path(argument: str) -> bool:
    if any(c in argument for c in "()\n"):
        return False
    return os.sep in argument or argument.endswith((".cnn", ".txt", ".spec"))


def read_text(path: Path) -> str:
    """A spec file's text (UTF-8, a leading byte-order mark dropped), or UsageError."""
    try:
        if path.is_dir():
            raise UsageError(f"{path}: is a directory, not a spec file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not a spec file")
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
