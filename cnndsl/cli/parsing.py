"""argparse as the command line uses it: help sized to the terminal without ``shutil``, and a
command's parser that reads an argument it cannot take as a flag as a value."""

from __future__ import annotations

import argparse
import os
import re
import sys

OPTION = re.compile(r"--?[A-Za-z][A-Za-z0-9-]*(=.*)?", re.DOTALL)


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, sized to the terminal as argparse sizes it, without ``shutil``.

    argparse loads ``shutil`` (and with it ``bz2`` and ``lzma``) to read the terminal's
    width whenever a parser is built; ``cnndsl check`` builds one on every run and prints
    no help. This is ``shutil.get_terminal_size().columns`` for the standard output.
    """

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class Parser(argparse.ArgumentParser):
    """argparse with help sized to the terminal without ``shutil``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


SHIELD = "\ue000"
"""Marks an argument held back from argparse while it parses (a private-use character)."""


def _cannot_be_a_flag(argument: str) -> bool:
    return argument.startswith("-") and argument != "-" and not OPTION.fullmatch(argument)


class CommandParser(Parser):
    """A command's parser: an unknown flag is reported with that command's usage.

    An argument that starts with '-' but cannot be a flag is read as a value: a spec such
    as ``->FL()`` or a value such as ``--input-shape -1,28,1`` then reaches the checker,
    which says what is wrong with it, instead of being refused as a flag. Before argparse
    parses, such a value is joined to the option before it (``--input-shape=-1,28,1``)
    where that option takes one, and otherwise held back behind a mark and put back after.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.value_options: set[str] = set()

    def add_argument(self, *args, **kwargs):
        return self._remember(super().add_argument(*args, **kwargs))

    def add_argument_group(self, *args, **kwargs):
        group = super().add_argument_group(*args, **kwargs)
        add = group.add_argument
        group.add_argument = lambda *a, **k: self._remember(add(*a, **k))
        return group

    def _remember(self, action: argparse.Action) -> argparse.Action:
        if action.option_strings and action.nargs != 0:
            self.value_options.update(action.option_strings)
        return action

    def parse_known_args(self, args=None, namespace=None):
        held: dict[str, str] = {}
        shielded = self._shielded(sys.argv[1:] if args is None else list(args), held)
        namespace, extras = super().parse_known_args(shielded, namespace)
        for name, value in vars(namespace).items():
            setattr(namespace, name, _restored(value, held))
        extras = _restored(extras, held)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def _shielded(self, args: list[str], held: dict[str, str]) -> list[str]:
        """The arguments with values held back; a first ``--`` ends the options, and is consumed here.

        argparse passes a ``--`` that follows the command on to the command's parser (Python 3.11),
        which would read it as a spec: everything after it is a positional argument, held back if
        it starts with '-'.
        """
        out: list[str] = []
        ended = False
        for argument in args:
            if argument == "--" and not ended:
                ended = True
            elif ended and argument.startswith("-"):
                held[f"{SHIELD}{len(held)}"] = argument
                out.append(f"{SHIELD}{len(held) - 1}")
            elif ended or not _cannot_be_a_flag(argument):
                out.append(argument)
            elif out and out[-1] in self.value_options:
                out[-1] = f"{out[-1]}={argument}"
            else:
                held[f"{SHIELD}{len(held)}"] = argument
                out.append(f"{SHIELD}{len(held) - 1}")
        return out


def _restored(value, held: dict[str, str]):
    """A parsed value with every held-back argument put back."""
    if isinstance(value, list):
        return [_restored(item, held) for item in value]
    return held.get(value, value) if isinstance(value, str) else value
