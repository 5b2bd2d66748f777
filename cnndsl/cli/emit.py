"""``cnndsl emit``: a spec as Keras or PyTorch source, the JSON architecture, or ONNX."""

from __future__ import annotations

import argparse
import sys

from cnndsl.cli.common import EXIT_OK, EXIT_SPEC, check_one, one_model, project_settings, report
from cnndsl.cli.options import add_model_options, add_output_option, add_spec_argument, add_verbose_option
from cnndsl.errors import SpecError
from cnndsl.inputs import UsageError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "emit",
        help="write a spec as Keras or PyTorch source, the JSON architecture, or ONNX",
        description="Write the checked model as a standalone Keras script, PyTorch source, the resolved "
        "architecture as JSON (readable back as a spec), or an ONNX file.",
    )
    add_spec_argument(parser)
    parser.add_argument("--to", required=True, choices=["keras", "torch", "json", "onnx"], help="what to write")
    parser.add_argument(
        "--logits", action="store_true",
        help="torch and onnx: end in logits, without the head's softmax or sigmoid (for nn.CrossEntropyLoss, "
        "nn.BCEWithLogitsLoss)",
    )  # fmt: skip
    add_output_option(parser, "write to FILE (atomically) instead of stdout")
    add_verbose_option(parser, "show the frameworks' own start-up logging (with --to onnx)")
    add_model_options(parser)
    parser.set_defaults(handler=cmd_emit)


def cmd_emit(args: argparse.Namespace) -> int:
    from cnndsl.emit import BINARY, LOGITS, emit

    source = one_model(args.input, "emit", scale=getattr(args, "scale", None))
    try:
        if args.logits and args.to not in LOGITS:
            raise UsageError(f"--logits is for --to torch or onnx, not --to {args.to}")
        data = emit(check_one(source, args, project_settings(args)), args.to, source.title, logits=args.logits)
    except SpecError as error:
        report(error.diagnostics, source)
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
