"""``cnndsl fmt``: rewrite spec files in the canonical layout."""

from __future__ import annotations

import argparse
import sys

from cnndsl.cli.common import EXIT_OK, EXIT_SPEC, EXIT_USAGE
from cnndsl.errors import SpecError, render
from cnndsl.inputs import STDIN, STDIN_NAME, UsageError, read_stdin, read_text

TYPE_CHECKING = False
if TYPE_CHECKING:  # pathlib too: fmt imports it when it runs
    from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "fmt",
        help="rewrite spec files in the canonical layout",
        description="Rewrite spec files in place in the canonical layout (comments are kept); "
        "'-' reads standard input and writes standard output. A file with errors is reported and left "
        "untouched (exit 1).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE|-", help="spec files, or - for standard input")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    parser.add_argument(
        "--diff", action="store_true", help="change nothing; print the changes as a diff; exit 1 if there are any"
    )
    parser.set_defaults(handler=cmd_fmt)


def cmd_fmt(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.files.count(STDIN) > 1:
        raise UsageError("'-' (standard input) can be given once")
    status = EXIT_OK
    for name in args.files:
        try:
            status = max(status, _fmt_stdin(args) if name == STDIN else _fmt_file(Path(name), args))
        except UsageError as error:
            print(f"cnndsl: error: {error}", file=sys.stderr)
            status = max(status, EXIT_USAGE)
    return status


def _fmt_stdin(args: argparse.Namespace) -> int:
    """Standard input to standard output (with --check or --diff, only the verdict or the diff)."""
    text = read_stdin()
    formatted = _formatted(text, STDIN_NAME)
    if formatted is None:
        return EXIT_SPEC
    if not (args.check or args.diff):
        sys.stdout.write(formatted)
        return EXIT_OK
    return _verdict(text, formatted, STDIN_NAME, args)


def _fmt_file(path: Path, args: argparse.Namespace) -> int:
    if path.suffix == ".py":
        raise UsageError(f"{path}: fmt formats spec files, not Python")
    text = read_text(path)
    formatted = _formatted(text, str(path))
    if formatted is None:
        return EXIT_SPEC
    if formatted == text or args.check or args.diff:
        return _verdict(text, formatted, str(path), args)
    from cnndsl.outputs import rewrite_text

    rewrite_text(path, formatted)
    print(f"reformatted {path}", file=sys.stderr)
    return EXIT_OK


def _verdict(text: str, formatted: str, name: str, args: argparse.Namespace) -> int:
    """--check and --diff: exit 1 when the text would change (the diff printed, or its name)."""
    if formatted == text:
        return EXIT_OK
    if args.diff:
        sys.stdout.writelines(_diff(text, formatted, name))
    else:
        print(f"would reformat {name}", file=sys.stderr)
    return EXIT_SPEC


def _formatted(text: str, name: str) -> str | None:
    """The canonical form, or None after printing why the text cannot be read.

    Only a text that does not parse is left as it is: formatting never changes what a
    spec means, so a spec the checker rejects is laid out all the same (an editor
    formats on save while a spec is still being written); ``check`` reports its errors.
    """
    from cnndsl.formatter import format_text

    try:
        return format_text(text)
    except SpecError as error:
        print(render(error.diagnostics, text, name), file=sys.stderr)
        return None


def _diff(old: str, new: str, name: str) -> list[str]:
    import difflib

    return list(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{name} (original)", f"{name} (formatted)")
    )
