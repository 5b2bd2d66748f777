"""``cnndsl check``: report errors in specs, without TensorFlow."""

from __future__ import annotations

import argparse
import sys

from cnndsl.cli.common import EXIT_OK, EXIT_SPEC, EXIT_USAGE, check_one, project_settings, report
from cnndsl.cli.options import add_budget_options, add_format_option, add_model_options
from cnndsl.errors import USAGE, Diagnostic, SpecError
from cnndsl.inputs import Source, UsageError, read_models
from cnndsl.settings import Settings


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "check",
        help="report errors in specs, without TensorFlow",
        description="Check specs for syntax, value and shape errors.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="SPEC|FILE",
        help="a spec in the notation, a file, FILE:NAME, or - for standard input",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing for specs that pass")
    add_format_option(parser)
    add_model_options(parser)
    add_budget_options(parser)
    parser.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    settings = project_settings(args)
    reporter = Reporter(args.format, args.quiet)
    status = EXIT_OK
    for item in args.inputs:
        try:
            sources = read_models(item, getattr(args, "scale", None))
        except UsageError as error:
            reporter.usage(str(error))
            status = max(status, EXIT_USAGE)
            continue
        if not sources:
            reporter.ok(f"{item}: no specs found (no string literal passed to compile_spec, check, parse or train)")
        for source in sources:
            status = max(status, _check_and_report(source, args, settings, reporter))
    reporter.close()
    return status


def _space_of(source: Source):
    """The search space a model stands for, or None; the search machinery loads only for a text with braces."""
    if "{" not in source.text:
        return None
    from cnndsl.search import space_of

    return space_of(source)


def _check_and_report(source: Source, args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    from cnndsl.budgets import check_budgets

    try:
        space = _space_of(source)
        if space is not None:
            return _check_space(space, source, args, settings, reporter)
        unknown = source.unknown_input(args.input_shape)
        if unknown is not None:
            source.check_values(settings.classes)
            reporter.ok(f"{source.title}: no syntax or value errors; shapes not checked ({unknown})")
            return EXIT_OK
        model = check_one(source, args, settings)
    except SpecError as error:
        reporter.diagnostics(source, error.diagnostics)
        return EXIT_SPEC
    over = source.relocated(check_budgets(model, settings))
    reporter.diagnostics(source, [*model.warnings, *over])
    if over:
        return EXIT_SPEC
    where = source.embedded.input_from if source.embedded is not None and args.input_shape is None else None
    reporter.ok(
        f"{source.title}: OK, {len(model.layers)} layers, {model.total_params:,} parameters, "
        f"{model.inputs_text}{model.outputs_text}" + (f" ({where})" if where else "")
    )
    return EXIT_OK


def _check_space(space, source: Source, args: argparse.Namespace, settings: Settings, reporter: Reporter) -> int:
    """A space's candidates: how many, how many the checker accepts, and why the others fail."""
    from cnndsl.search import Judge, census, describe, rejection_lines

    result = census(Judge(space, args.input_shape, settings.classes, settings))
    errors = result.errors()
    reporter.diagnostics(source, errors)
    for line in describe(result, source.title):
        reporter.ok(line)
    shown = [group for group in result.groups() if group[1] not in errors]
    for line in rejection_lines(shown, source.name, result.total, result.exact):
        reporter.ok(line)
    return EXIT_SPEC if errors or not result.accepted else EXIT_OK


class Reporter:
    """Prints diagnostics as text (carets, on stderr), JSON (one list) or GitHub annotations."""

    def __init__(self, fmt: str = "text", quiet: bool = False):
        self.format, self.quiet = fmt, quiet
        self.records: list[dict] = []

    def diagnostics(self, source: Source, diagnostics) -> None:
        if not diagnostics:
            return
        if self.format == "json":
            from cnndsl.errors import diagnostic_record

            self.records += [diagnostic_record(d, source.name) for d in diagnostics]
        elif self.format == "github":
            from cnndsl.errors import render_github

            print(render_github(diagnostics, source.name))
        else:
            report(diagnostics, source)

    def usage(self, message: str) -> None:
        if self.format == "json":
            from cnndsl.errors import diagnostic_record

            self.records.append(diagnostic_record(Diagnostic(USAGE, message), None))
        elif self.format == "github":
            print(f"::error title=cnndsl usage::{message}")
        else:
            print(f"cnndsl: error: {message}", file=sys.stderr)

    def ok(self, line: str) -> None:
        if self.format == "text" and not self.quiet:
            print(line)

    def close(self) -> None:
        if self.format == "json":
            import json

            print(json.dumps(self.records, indent=2))
