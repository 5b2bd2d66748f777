"""The ``cnndsl`` command: argument parsing and output only; the work is elsewhere.

Exit codes: 0 success, 1 errors in a spec, 2 a bad command line or unreadable input.

Each command imports what it needs when it runs (JSON, the formatter, the summary,
training), so that ``cnndsl check`` starts in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Sequence

from cnndsl.checker import valid_classes, valid_input_shape
from cnndsl.errors import USAGE, Diagnostic, SpecError, needs, render
from cnndsl.inputs import STDIN, STDIN_NAME, Source, UsageError, read_models, read_stdin, read_text
from cnndsl.layers import MAX_INPUT_SIZE, MAX_UNITS
from cnndsl.settings import Settings, SettingsError, load_settings, parse_bytes, parse_count
from cnndsl.tasks import TASKS, task_named
from cnndsl.version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:  # pathlib too: check never needs it, and it costs start-up time
    from pathlib import Path

    from cnndsl.model import CheckedModel

EXIT_OK, EXIT_SPEC, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_BOXES = 100
"""As :data:`cnndsl.backends.picture.MAX_BOXES`, for ``draw --help`` (``check`` never loads the picture code)."""


def input_shape_arg(text: str) -> tuple[int, int, int]:
    """``32,32,3`` or ``32x32x3`` -> (32, 32, 3), by the library's own rule."""
    try:
        return valid_input_shape(tuple(int(part) for part in text.replace("x", ",").split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHT,WIDTH,CHANNELS such as 32,32,3, each from 1 to {MAX_INPUT_SIZE:,}, not {text!r}"
        ) from None


def fraction_arg(text: str) -> float:
    """A fraction strictly between 0 and 1, such as 0.2."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction above 0 and below 1, such as 0.2, not {text!r}")
    return value


def validation_arg(text: str) -> float | str:
    """A fraction of the training data to hold out, or ``test`` (validate on the test split)."""
    return "test" if text.strip().lower() == "test" else fraction_arg(text)


def classes_arg(text: str) -> int:
    """A class count, by the library's own rule."""
    try:
        return valid_classes(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a class count from 1 to {MAX_UNITS:,}, not {text!r}") from None


def scale_arg(text: str) -> float:
    """A PNG scale: a number from 0.25 to 8."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.25 <= value <= 8:
        raise argparse.ArgumentTypeError(f"expected a scale from 0.25 to 8, such as 2, not {text!r}")
    return value


def depth_arg(text: str) -> int:
    """A picture's depth: 0 or more uses of named blocks deep."""
    if not text.isdigit() or int(text) > 1000:
        raise argparse.ArgumentTypeError(f"expected a depth from 0 to 1000, such as 1, not {text!r}")
    return int(text)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-shape",
        type=input_shape_arg,
        metavar="H,W,C",
        help="input height, width and channels (default: the spec's IN(...), else 28,28,1)",
    )
    parser.add_argument("--classes", type=classes_arg, metavar="N", help="number of classes (default: 10)")
    _add_task_option(parser, "classify", setting=True)


def _add_task_option(parser: argparse.ArgumentParser, default: str | None, setting: bool = False) -> None:
    said = "default: the task setting, else classify" if setting else "default: what the data's labels are"
    parser.add_argument(
        "--task", choices=list(TASKS), default=None if setting else default,
        help=f"what the model does, which sets its head: classify (a class vector), segment (a class per pixel), "
        f"regress (numbers) ({said})",
    )  # fmt: skip


def _budget(parse):
    def convert(text: str) -> int:
        try:
            return parse(text)
        except SettingsError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def _add_budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-params", type=_budget(parse_count), metavar="N", help="parameter budget: 250k, 1M, ...")
    parser.add_argument("--max-flops", type=_budget(parse_count), metavar="N", help="FLOPs per example: 50M, 1G, ...")
    parser.add_argument(
        "--max-activations", type=_budget(parse_bytes), metavar="SIZE",
        help="float32 activation memory per example: 512KB, 2MB, ...",
    )  # fmt: skip


def _check_one(source: Source, args: argparse.Namespace, settings: Settings) -> CheckedModel:
    """Check with the flag's input shape, else the spec's IN(...), else the project's setting."""
    return source.check(args.input_shape, settings.classes, settings.input_shape, task=settings.task)


def _report(diagnostics, source: Source) -> None:
    """Diagnostics as text with carets, on stderr."""
    if diagnostics:
        print(render(diagnostics, source.text, source.name), file=sys.stderr)


# --- commands -------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    reporter = Reporter(args.format, args.quiet)
    status = EXIT_OK
    for item in args.inputs:
        try:
            sources = read_models(item)
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
    from cnndsl.shapes import format_shape

    try:
        space = _space_of(source)
        if space is not None:
            return _check_space(space, source, args, settings, reporter)
        unknown = source.unknown_input(args.input_shape)
        if unknown is not None:
            source.check_values(settings.classes)
            reporter.ok(f"{source.title}: no syntax or value errors; shapes not checked ({unknown})")
            return EXIT_OK
        model = _check_one(source, args, settings)
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
        f"output {format_shape(model.output_shape)}" + (f" ({where})" if where else "")
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
            _report(diagnostics, source)

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


def _settings(args: argparse.Namespace) -> Settings:
    """``[tool.cnndsl]`` of the nearest pyproject.toml, overridden by flags."""
    try:
        settings = load_settings()
    except SettingsError as error:
        raise UsageError(str(error)) from None
    names = ("classes", "task", "max_params", "max_flops", "max_activations")
    flags = {name: getattr(args, name, None) for name in names}
    return settings.merged(**flags)


def _one_model(argument: str, command: str, advice: str = "") -> Source:
    """The single model a one-model command works on; FILE:NAME picks one from a file."""
    sources = read_models(argument)
    if not sources:
        raise UsageError(
            f"{argument}: no specs found (no string literal passed to compile_spec, check, parse or train)"
        )
    if len(sources) != 1:
        names = ", ".join(source.label for source in sources)
        raise UsageError(f"{argument}: holds {len(sources)} models ({names}); {command} takes one: FILE:NAME{advice}")
    return sources[0]


def cmd_summary(args: argparse.Namespace) -> int:
    import json

    from cnndsl.report import errors_json, summary_json, summary_table

    source = _one_model(args.input, "summary")
    if args.svg:
        with contextlib.suppress(SpecError):  # the summary below reports it
            _write_picture(source, args, args.svg, "graph", unfold=False)
    try:
        model = _check_one(source, args, _settings(args))
    except SpecError as error:
        if args.json:
            print(json.dumps(errors_json(error.diagnostics, source.name), indent=2))
        else:
            _report(error.diagnostics, source)
        return EXIT_SPEC
    if args.json:
        print(json.dumps(summary_json(model, source.name), indent=2))
    else:
        _report(model.warnings, source)
        print(summary_table(model, _terminal_width()))
    return EXIT_OK


def _terminal_width() -> int | None:
    """COLUMNS, else the terminal's width; None (no limit) when printing to a file or pipe."""
    import os

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else None
    except (AttributeError, ValueError, OSError):
        return None


def cmd_draw(args: argparse.Namespace) -> int:
    source = _one_model(args.input, "draw")
    try:
        drawable = _write_picture(source, args, args.output, args.style, args.unfold)
    except SpecError as error:
        _report(error.diagnostics, source)
        return EXIT_SPEC
    _report(drawable.diagnostics or drawable.model.warnings, source)
    print(f"Wrote {args.output}")
    return EXIT_SPEC if drawable.failed is not None else EXIT_OK


def _write_picture(source: Source, args: argparse.Namespace, output: str, style: str, unfold: bool):
    """Draw a model (a failing one up to its first shape error) into ``output``; SpecError if unreadable."""
    from cnndsl.backends.svg import check_picture_path, source_drawable, write_svg

    path = check_picture_path(output)
    settings = _settings(args)
    drawable = source_drawable(source, args.input_shape, settings.classes, settings.input_shape, settings.task)
    depth = getattr(args, "depth", None)
    write_svg(drawable, path, style, unfold, title=source.label, scale=getattr(args, "scale", None), depth=depth)
    return drawable


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


def _recipe(args: argparse.Namespace) -> dict:
    names = ("data", "epochs", "batch_size", "optimizer", "learning_rate", "seed", "limit", "distribute", "backend",
             "validation_split", "test_split", "input_shape")  # fmt: skip
    return {name: getattr(args, name) for name in names} | {"output": args.output}


def _training(command: str):
    """The training package; a missing framework is a usage error naming the extra to install."""
    with needs("tensorflow", f"`cnndsl {command}`"):
        import cnndsl.training as training
    return training


def _cluster(args: argparse.Namespace):
    """The data-parallel cluster from the flags and Keras's environment variables; None otherwise."""
    training = _training(args.command)
    flags = {"coordinator": args.coordinator, "num_processes": args.num_processes, "process_id": args.process_id}
    if args.distribute != "data-parallel":
        given = [name for name, value in flags.items() if value is not None]
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} needs --distribute data-parallel")
        return None
    training.Recipe(distribute=args.distribute, backend=args.backend)
    return training.cluster_settings(**flags, timeout=args.connect_timeout)


def _supervised(args: argparse.Namespace, cluster, work) -> int:
    """Run ``work`` as is, or for a cluster in a child process that reports its failures in one line."""
    if cluster is None:
        return work()
    from cnndsl.training.supervise import supervised

    return supervised(lambda: _exit_code(work), cluster, quiet=not args.verbose)


def _exit_code(work) -> int:
    try:
        return work()
    except UsageError as error:
        print(f"cnndsl: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def cmd_run(args: argparse.Namespace) -> int:
    _training("run")
    source = _one_model(args.input, "run", " (use compare for several)")
    cluster = _cluster(args)
    return _supervised(args, cluster, lambda: _run(args, source, cluster))


def _run(args: argparse.Namespace, source: Source, cluster) -> int:
    training = _training("run")
    try:
        result = training.train(
            source, **_recipe(args), cluster=cluster, verbose=1, quiet=not args.verbose, task=args.task
        )
    except SpecError as error:
        _report(error.diagnostics, source)
        return EXIT_SPEC
    except training.TrainingInterrupted as stop:
        _print_interrupted(stop)
        return EXIT_INTERRUPTED
    task = task_named(result.metrics.get("data", {}).get("task", "classify"))
    print("\n".join(f"{label}: {_score(value)}" for label, value in task.score_lines(result.metrics)))
    if result.directory is not None:
        print(f"Wrote {result.directory}/: {', '.join(path.name for path in result.files)}")
    return EXIT_OK


def _score(value) -> str:
    from cnndsl.training.records import score

    return score(value)


def _print_interrupted(stop) -> None:
    if not stop.history:
        print("cnndsl: interrupted before the first epoch finished; nothing was saved", file=sys.stderr)
        return
    if stop.directory is None:
        print(f"cnndsl: interrupted after {stop.epochs} epoch(s)", file=sys.stderr)
        return
    saved = f"best model so far {stop.checkpoint}, " if stop.checkpoint else ""
    print(
        f"cnndsl: interrupted after {stop.epochs} epoch(s); {saved}history {stop.directory / 'history.csv'}",
        file=sys.stderr,
    )


def cmd_compare(args: argparse.Namespace) -> int:
    _training("compare")
    sources = [source for item in args.inputs for source in read_models(item)]
    cluster = _cluster(args)
    return _supervised(args, cluster, lambda: _compare(args, sources, cluster))


def _compare(args: argparse.Namespace, sources: list[Source], cluster) -> int:
    training = _training("compare")
    labels = [entry.label for entry in training.api.entries_of(sources)]

    def rejected(errors) -> None:
        for label, source in zip(labels, sources):
            if label in errors:
                _report(errors[label].diagnostics, source)

    try:
        result = training.compare(
            sources,
            **_recipe(args),
            cluster=cluster,
            verbose=1,
            quiet=not args.verbose,
            on_rejected=rejected,
            task=args.task,
            select=False if args.select is None else args.select,
        )
    except training.TrainingInterrupted as stop:
        if stop.compared is not None:
            print(stop.compared.table)
        _print_interrupted(stop)
        return EXIT_INTERRUPTED
    print(result.table)
    if result.directory:
        folders = " and a folder per trained model" if any(row["folder"] for row in result.rows) else ""
        print(f"Wrote {result.directory}/: {', '.join(path.name for path in result.files)}{folders}")
    return EXIT_SPEC if result.errors else EXIT_OK


def cmd_emit(args: argparse.Namespace) -> int:
    from cnndsl.emit import BINARY, LOGITS, emit

    source = _one_model(args.input, "emit")
    try:
        if args.logits and args.to not in LOGITS:
            raise UsageError(f"--logits is for --to torch or onnx, not --to {args.to}")
        data = emit(_check_one(source, args, _settings(args)), args.to, source.title, logits=args.logits)
    except SpecError as error:
        _report(error.diagnostics, source)
        return EXIT_SPEC
    if args.output:
        from pathlib import Path

        from cnndsl.outputs import write_bytes

        write_bytes(Path(args.output), data)
        print(f"Wrote {args.output}", file=sys.stderr)
    elif args.to in BINARY and sys.stdout.isatty():
        raise UsageError(f"{args.to} is a binary format: write it to a file with -o FILE")
    else:
        sys.stdout.buffer.write(data)
    return EXIT_OK


def cmd_from_keras(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnndsl.backends.keras_reader import ModelFileError, UnsupportedModel, load, to_spec
    from cnndsl.formatter import format_text

    try:
        spec = to_spec(load(Path(args.model)), input_shape=args.input_shape, task=args.task)
    except ModelFileError as error:
        raise UsageError(str(error)) from None
    except UnsupportedModel as error:
        for problem in str(error).splitlines():
            print(f"cnndsl: error: {args.model}: {problem}", file=sys.stderr)
        return EXIT_SPEC
    text = format_text(spec.text)
    if args.output:
        from cnndsl.outputs import write_text

        write_text(Path(args.output), text)
        print(f"Wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_from_torch(args: argparse.Namespace) -> int:
    """Import the named callable (the one place cnndsl imports code it is given), call it, and read its module."""
    from pathlib import Path

    from cnndsl.backends.torch_reader import UnsupportedModel, from_torch, load_module
    from cnndsl.errors import ModelFileError

    try:
        module = load_module(args.target)
    except ModelFileError as error:
        raise UsageError(str(error)) from None
    try:
        spec = from_torch(module, args.input_shape or (224, 224, 3))
    except UnsupportedModel as error:
        for problem in str(error).splitlines():
            print(f"cnndsl: error: {args.target}: {problem}", file=sys.stderr)
        return EXIT_SPEC
    if args.output:
        from cnndsl.outputs import write_text

        write_text(Path(args.output), spec.text)
        print(f"Wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(spec.text)
    return EXIT_OK


def cmd_lsp(args: argparse.Namespace) -> int:
    from cnndsl.lsp.server import main as serve

    serve(args.task)
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from cnndsl.sweeps import SweepInterrupted, sweep

    source = _one_model(args.input, "sweep")
    recipe = {key: value for key, value in _recipe(args).items() if key not in ("data", "output")}
    options = {key: getattr(args, key) for key in ("trials", "sampler", "storage", "study", "objective", "output")}
    options.update(prune_epochs=args.prune_epochs, pruner=args.pruner, keep_models=args.keep_models)
    options.update(heartbeat=args.heartbeat, timeout=args.timeout, task=args.task)
    try:
        sweep(source, args.data, **options, settings=_settings(args), echo=print, **recipe)
    except SpecError as error:
        _report(error.diagnostics, source)
        return EXIT_SPEC
    except SweepInterrupted as stop:
        print(
            f"cnndsl: sweep interrupted; its {len(stop.rows)} trained trial(s) stay in the study and "
            f"{stop.directory}/sweep.csv; run the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------

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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; given a ``command``, with only that command's arguments.

    ``cnndsl check`` then builds its own parser, not every command's: a few milliseconds of
    a start-up that pre-commit hooks and editors pay on every run.
    """
    parser = Parser(
        prog="cnndsl",
        description="Check, summarise and build convolutional networks written in the cnndsl notation.",
        epilog='example: cnndsl summary "CN(32,3)->MP(2)->FL()->DN(128)"',
    )
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser)
    for name, add in COMMANDS.items():
        if command is None or name == command:
            add(commands)
    return parser


def _add_check_parser(commands) -> None:
    check_parser = commands.add_parser(
        "check",
        help="report errors in specs, without TensorFlow",
        description="Check specs for syntax, value and shape errors.",
    )
    check_parser.add_argument(
        "inputs",
        nargs="+",
        metavar="SPEC|FILE",
        help="a spec in the notation, a file, FILE:NAME, or - for standard input",
    )
    check_parser.add_argument("-q", "--quiet", action="store_true", help="print nothing for specs that pass")
    check_parser.add_argument(
        "--format", choices=["text", "json", "github"], default="text",
        help="diagnostics as text with carets (default), one JSON list, or GitHub workflow annotations",
    )  # fmt: skip
    _add_model_options(check_parser)
    _add_budget_options(check_parser)
    check_parser.set_defaults(handler=cmd_check)


def _add_summary_parser(commands) -> None:
    summary_parser = commands.add_parser(
        "summary",
        help="per-layer output shapes and parameters, without TensorFlow",
        description="Print a table like Keras's model.summary(), computed without TensorFlow.",
    )
    summary_parser.add_argument("input", metavar="SPEC|FILE", help="a spec in the notation, or a file")
    summary_parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    summary_parser.add_argument("--svg", metavar="FILE", help="also draw the layer graph into FILE (as draw does)")
    _add_model_options(summary_parser)
    summary_parser.set_defaults(handler=cmd_summary)


def _add_draw_parser(commands) -> None:
    draw_parser = commands.add_parser(
        "draw",
        help="draw a spec as an SVG or PNG picture, without TensorFlow",
        description="Draw a spec's layers with their shapes; a spec that fails the check is drawn up to "
        "its first shape error, marked in red (exit 1).",
    )
    draw_parser.add_argument("input", metavar="SPEC|FILE", help="a spec in the notation, or a file")
    draw_parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the picture: FILE.svg or FILE.png")
    draw_parser.add_argument(
        "--scale", type=scale_arg, metavar="X", help="PNG pixels per picture pixel (default: 2, sharp on any screen)"
    )
    draw_parser.add_argument(
        "--style", choices=["boxes", "graph"], default="boxes",
        help="boxes sized by shape (default) or a layer graph with each layer's spec text",
    )  # fmt: skip
    draw_parser.add_argument("--unfold", action="store_true", help="draw every copy of a repeated block")
    draw_parser.add_argument(
        "--depth", type=depth_arg, metavar="N",
        help="draw each use of a named block N uses deep as one box (0: every use the model writes; "
        f"default: the deepest depth whose picture holds at most {MAX_BOXES} boxes)",
    )  # fmt: skip
    _add_model_options(draw_parser)
    draw_parser.set_defaults(handler=cmd_draw)


def _add_fmt_parser(commands) -> None:
    fmt_parser = commands.add_parser(
        "fmt",
        help="rewrite spec files in the canonical layout",
        description="Rewrite spec files in place in the canonical layout (comments are kept); "
        "'-' reads standard input and writes standard output. A file with errors is reported and left "
        "untouched (exit 1).",
    )
    fmt_parser.add_argument("files", nargs="+", metavar="FILE|-", help="spec files, or - for standard input")
    fmt_parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    fmt_parser.add_argument(
        "--diff", action="store_true", help="change nothing; print the changes as a diff; exit 1 if there are any"
    )
    fmt_parser.set_defaults(handler=cmd_fmt)


def _add_run_parser(commands) -> None:
    run_parser = commands.add_parser(
        "run",
        help="train a spec with the notebook's recipe and evaluate it",
        description="Train a spec on MNIST (or --data) with Adam, batch 128, 12 epochs; save the model, "
        "history, loss plot and metrics.",
    )
    run_parser.add_argument("input", metavar="SPEC|FILE", help="a spec in the notation, or a file")
    _add_train_options(run_parser)
    _add_task_option(run_parser, None)
    run_parser.set_defaults(handler=cmd_run)


def _add_compare_parser(commands) -> None:
    compare_parser = commands.add_parser(
        "compare",
        help="train several specs under one recipe and print the comparison table",
        description="Train each spec as `run` does and print model, parameters, test accuracy, test loss "
        "and seconds per epoch; write compare.csv, compare.md and compare.png. With --select, rank the models "
        "on training data held out for validation and mark the best.",
    )
    compare_parser.add_argument("inputs", nargs="+", metavar="SPEC|FILE", help="a spec in the notation, or a file")
    _add_train_options(
        compare_parser,
        "where to write the comparison, a folder per spec in it (default: runs/<timestamp>-compare-<hash of the specs>)",
        COMPARE_VALIDATION_HELP,
    )
    _add_task_option(compare_parser, None)
    compare_parser.add_argument(
        "--select", nargs="?", const=True, metavar="METRIC",
        help="select the best model on a validation metric measured on held-out training data, never on the "
        "test split: val_accuracy or val_loss for a classifier; val_mean_iou, val_pixel_accuracy or val_loss "
        "for a segmentation; val_loss or val_mae for a regression (default: the first; give the specs first, "
        "or write --select=METRIC)",
    )  # fmt: skip
    compare_parser.set_defaults(handler=cmd_compare)


def _add_emit_parser(commands) -> None:
    emit_parser = commands.add_parser(
        "emit",
        help="write a spec as Keras or PyTorch source, the JSON architecture, or ONNX",
        description="Write the checked model as a standalone Keras script, PyTorch source, the resolved "
        "architecture as JSON (readable back as a spec), or an ONNX file.",
    )
    emit_parser.add_argument("input", metavar="SPEC|FILE", help="a spec in the notation, or a file")
    emit_parser.add_argument("--to", required=True, choices=["keras", "torch", "json", "onnx"], help="what to write")
    emit_parser.add_argument(
        "--logits", action="store_true",
        help="torch and onnx: end in logits, without the head's softmax (for nn.CrossEntropyLoss)",
    )  # fmt: skip
    emit_parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    emit_parser.add_argument(
        "--verbose", action="store_true", help="show the frameworks' own start-up logging (with --to onnx)"
    )
    _add_model_options(emit_parser)
    emit_parser.set_defaults(handler=cmd_emit)


def _add_from_keras_parser(commands) -> None:
    from_keras_parser = commands.add_parser(
        "from-keras",
        help="write a saved Keras model (.keras) in the notation",
        description="Read a .keras model file (safely: a file that needs unsafe loading is refused) and print "
        "its architecture in the canonical notation.",
    )
    from_keras_parser.add_argument("model", metavar="MODEL.keras", help="a model saved by Keras 3 (model.save)")
    from_keras_parser.add_argument("-o", "--output", metavar="FILE", help="write the spec to FILE instead of stdout")
    from_keras_parser.add_argument(
        "--input-shape", type=input_shape_arg, metavar="H,W,C",
        help="the input size to write for a model whose input size is unknown (default: IN(None, None, C))",
    )  # fmt: skip
    from_keras_parser.add_argument("--verbose", action="store_true", help="show the frameworks' own start-up logging")
    from_keras_parser.add_argument(
        "--task", choices=list(TASKS), default="classify",
        help="the head the model ends in: classify (a class vector), segment (a class per pixel), regress (numbers) "
        "(default: classify)",
    )  # fmt: skip
    from_keras_parser.set_defaults(handler=cmd_from_keras)


def _add_from_torch_parser(commands) -> None:
    parser = commands.add_parser(
        "from-torch",
        help="write a PyTorch module in the notation (imports and runs the named module's code)",
        description="Import PACKAGE.MODULE, call CALLABLE with no arguments, and print the nn.Module it returns "
        "in the canonical notation. Importing a module runs its code: name only code you trust.",
    )
    parser.add_argument("target", metavar="PACKAGE.MODULE:CALLABLE", help="such as torchvision.models:resnet18")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the spec to FILE instead of stdout")
    parser.add_argument(
        "--input-shape", type=input_shape_arg, metavar="H,W,C", help="the input's size (default: 224,224,3)"
    )
    parser.add_argument("--verbose", action="store_true", help="show the frameworks' own start-up logging")
    parser.set_defaults(handler=cmd_from_torch)


def _add_lsp_parser(commands) -> None:
    lsp_parser = commands.add_parser(
        "lsp",
        help="run the language server (stdio), for editors",
        description="Serve the Language Server Protocol over standard input and output: diagnostics, "
        "shapes as inlay hints, hover, completion, formatting, names and quick fixes (needs the lsp extra).",
    )
    _add_task_option(lsp_parser, None, setting=True)
    lsp_parser.set_defaults(handler=cmd_lsp)


def _add_sweep_parser(commands) -> None:
    sweep_parser = commands.add_parser(
        "sweep",
        help="train the candidates of a search space as the trials of an Optuna study",
        description="Search a space written with braces ({32,64}, {2..4}, {A | B}): candidates the checker "
        "rejects or over a budget are never trained; the others train as `run` does, one run directory each. "
        "Writes sweep.csv, sweep.md and sweep.png; the same command resumes a stopped sweep.",
    )
    sweep_parser.add_argument("input", metavar="SPACE|FILE", help="a space in the notation, or a file")
    _add_train_options(
        sweep_parser,
        "the sweep's folder, a folder per trial in it (default: runs/<study name>)",
        SELECT_VALIDATION_HELP,
    )
    add = sweep_parser.add_argument
    add("--trials", type=int, default=20, metavar="N", help="candidates to train, all workers together (default: 20)")
    add("--sampler", choices=["grid", "random", "tpe"], default="tpe", help="Optuna's sampler (default: tpe)")
    add("--storage", metavar="URL", help="an Optuna storage URL, or journal:PATH (default: SQLite in the sweep folder)")
    add("--study", metavar="NAME", help="the study's name (default: sweep-<hash of the space and recipe>)")
    add("--objective", default=None, metavar="NAME[,NAME...]",
        help="what the study optimises: val_accuracy, val_loss or test_accuracy for a classifier; val_mean_iou, "
        "val_pixel_accuracy or test_mean_iou for a segmentation; val_mae or test_mae for a regression; "
        "params, macs, seconds_per_epoch; several, separated by commas, make a multi-objective study "
        "(default: val_accuracy, val_mean_iou, val_loss)")  # fmt: skip
    _add_task_option(sweep_parser, None)
    add("--prune-epochs", action="store_true",
        help="report each epoch's validation score; Optuna's pruner stops trials that fall behind")  # fmt: skip
    add("--pruner", choices=["median", "hyperband"], default="median",
        help="with --prune-epochs: Optuna's median or Hyperband pruner (default: median)")  # fmt: skip
    add("--keep-models", action="store_true",
        help="every trial keeps its checkpoints and saved model (default: only the best trials' models)")  # fmt: skip
    add("--heartbeat", type=int, metavar="SECONDS",
        help="on a database storage, seconds between a running trial's heartbeats; one silent for six of them "
        "is failed and its candidate trained by another worker (default: 10)")  # fmt: skip
    add("--timeout", type=float, metavar="SECONDS",
        help="start no new trial after this many seconds (the one training finishes; default: no limit)")  # fmt: skip
    _add_budget_options(sweep_parser)
    sweep_parser.set_defaults(handler=cmd_sweep)


COMMANDS = {
    "check": _add_check_parser,
    "summary": _add_summary_parser,
    "draw": _add_draw_parser,
    "fmt": _add_fmt_parser,
    "run": _add_run_parser,
    "compare": _add_compare_parser,
    "emit": _add_emit_parser,
    "from-keras": _add_from_keras_parser,
    "from-torch": _add_from_torch_parser,
    "sweep": _add_sweep_parser,
    "lsp": _add_lsp_parser,
}
"""Each command and the function that adds its parser, in the order ``cnndsl --help`` lists them."""


RUN_OUTPUT_HELP = "where to write the run (default: runs/<timestamp>-<spec hash>)"


RUN_VALIDATION_HELP = (
    "hold out this fraction of the training data to validate on after each epoch "
    "(default: validate on the test split, as the notebook does)"
)
COMPARE_VALIDATION_HELP = (
    "hold out this fraction of the training data to validate on after each epoch "
    "(default: the test split, as the notebook does; 0.1 with --select, which refuses 'test')"
)
SELECT_VALIDATION_HELP = (
    "the fraction of the training data held out to validate on, which selection reads "
    "(default: 0.1; 'test' validates on the test split)"
)


def _add_train_options(
    parser: argparse.ArgumentParser, output_help: str = RUN_OUTPUT_HELP, validation_help: str = RUN_VALIDATION_HELP
) -> None:
    add = parser.add_argument
    data_help = (
        "mnist (default), sample, fashion_mnist, an .npz, an IDX directory, or an image folder (a folder per class)"
    )
    add("--data", default="mnist", metavar="NAME|PATH", help=data_help)
    add("--validation-split", type=validation_arg, metavar="F|test", help=validation_help)
    add("--test-split", type=fraction_arg, metavar="F",
        help="an image or mask folder without test/: the fraction of (each class's) files tested on, chosen by name (default: 0.2)")  # fmt: skip
    add("--input-shape", type=input_shape_arg, metavar="H,W,C",
        help="an image folder: the size images are resized to when the spec has no IN(...) (default: the first image's)")  # fmt: skip
    add("--epochs", type=int, default=12, metavar="N", help="epochs to train (default: 12)")
    add(
        "--batch-size",
        type=int,
        default=128,
        metavar="N",
        help="examples per batch, all processes together (default: 128)",
    )
    add(
        "--optimizer", default="adam", metavar="NAME", help="adam (default), sgd, rmsprop, adamw, nadam, ... (any case)"
    )
    add("--learning-rate", type=float, metavar="LR", help="the optimizer's learning rate (default: its own)")
    add("--seed", type=int, metavar="N", help="seed everything: the same seed gives the same numbers on CPU")
    add("--limit", type=int, metavar="N", help="train on the first N training images only")
    add("--output", metavar="DIR", help=output_help)
    add(
        "--backend",
        choices=["tensorflow", "jax", "torch"],
        help="Keras's backend (default: KERAS_BACKEND, else tensorflow)",
    )
    add("--verbose", action="store_true", help="show the frameworks' own start-up logging")
    group = parser.add_argument_group("distribution")
    group.add_argument(
        "--distribute", metavar="STRATEGY",
        help="mirrored (this machine's devices) or data-parallel (processes on one or many machines, JAX)",
    )  # fmt: skip
    group.add_argument("--coordinator", metavar="HOST:PORT", help="data-parallel: where process 0 listens")
    group.add_argument("--num-processes", type=int, metavar="N", help="data-parallel: processes in the cluster")
    group.add_argument("--process-id", type=int, metavar="I", help="data-parallel: this process, 0 to N-1")
    group.add_argument(
        "--connect-timeout", type=int, default=60, metavar="S",
        help="data-parallel: seconds to wait for every process to connect (default: 60)",
    )  # fmt: skip


class _CommandParser(Parser):
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return _handled(args)
    except UsageError as error:
        print(f"cnndsl: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cnndsl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


COMMAND_EXTRAS = {
    "run": "tensorflow",
    "compare": "tensorflow",
    "from-keras": "tensorflow",
    "from-torch": "torch",
    "sweep": "sweep",
    "lsp": "lsp",
}
"""The extra each command needs whatever its arguments; ``emit --to onnx`` and PNG pictures are in ``_needed``."""
FRAMEWORK_EXTRAS = frozenset({"tensorflow", "jax", "torch", "onnx", "sweep"})


def _handled(args: argparse.Namespace) -> int:
    """Run the command: a missing framework is one line naming the extra, its native logging hidden.

    A module no extra of the command provides is still named by the extra that does
    (``needs(None, ...)``), so that a command added later cannot end in a traceback for it.
    """
    extra, what = _needed(args)
    with needs(None, what), needs(extra, what):
        if extra not in FRAMEWORK_EXTRAS:
            return args.handler(args) or EXIT_OK
        from cnndsl.training.native_logs import quiet_native_logs

        with quiet_native_logs(not args.verbose):
            return args.handler(args) or EXIT_OK


def _needed(args: argparse.Namespace) -> tuple[str | None, str]:
    """The extra this command line needs, if any, and how to name the command in the message."""
    if args.command == "emit" and args.to == "onnx":
        return "onnx", "`cnndsl emit --to onnx`"
    picture = getattr(args, "output" if args.command == "draw" else "svg", None)
    if args.command in ("draw", "summary") and str(picture).lower().endswith(".png"):
        return "draw", f"`cnndsl {args.command}` of a PNG picture"
    return COMMAND_EXTRAS.get(args.command), f"`cnndsl {args.command}`"


def run() -> None:
    """Console-script entry point."""
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `cnndsl summary ... | head`
        sys.stderr.close()
        sys.exit(EXIT_OK)


if __name__ == "__main__":
    run()
