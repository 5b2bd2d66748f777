"""``cnndsl from-yolo``: an Ultralytics model file (``yolo11.yaml``) in the notation."""

from __future__ import annotations

import argparse
import sys

from cnndsl.cli.common import EXIT_SPEC, write_spec
from cnndsl.cli.options import add_input_shape_option, add_output_option


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "from-yolo",
        help="write an Ultralytics model file (.yaml) in the notation",
        description="Read an Ultralytics model file (nc, scales, backbone, head), check it, and print it in the "
        "canonical notation: its scale lines and one model.",
    )
    parser.add_argument("model", metavar="MODEL.yaml", help="an Ultralytics model file (yolov8.yaml, yolo11.yaml)")
    parser.add_argument(
        "--scale", metavar="NAME",
        help="the scale to check the file at before writing it (default: its first); every scale is written",
    )  # fmt: skip
    add_output_option(parser, "write the spec to FILE instead of stdout")
    add_input_shape_option(parser, "the input to write (default: 640x640 images of the file's channels, else 3)")
    parser.set_defaults(handler=cmd_from_yolo)


def cmd_from_yolo(args: argparse.Namespace) -> int:
    from cnndsl.cli.common import report
    from cnndsl.errors import SpecError
    from cnndsl.inputs import Source, path_text, read_text, stem_and_suffix
    from cnndsl.yolo import from_yolo_text

    display = path_text(args.model)
    text = read_text(display)
    try:
        model = from_yolo_text(text, args.scale, stem_and_suffix(display)[0], args.input_shape)
    except SpecError as error:
        report(error.diagnostics, Source(display, text, display))
        return EXIT_SPEC
    for note in model.notes:
        print(f"note: {display}: {note}", file=sys.stderr)
    write_spec(model.spec, args.output)
    return 0
