"""``cnndsl draw``: a spec as an SVG or PNG picture, without TensorFlow."""

from __future__ import annotations

import argparse

from cnndsl.cli.common import EXIT_OK, EXIT_SPEC, at_scale, one_model, project_settings, report, say_scale
from cnndsl.cli.options import add_model_options, add_output_option, add_spec_argument, depth_arg, picture_scale_arg
from cnndsl.errors import SpecError
from cnndsl.inputs import Source

MAX_BOXES = 100
"""As :data:`cnndsl.backends.picture.MAX_BOXES`, for ``draw --help`` (the help never loads the picture code)."""


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "draw",
        help="draw a spec as an SVG or PNG picture, without TensorFlow",
        description="Draw a spec's layers with their shapes; a spec that fails the check is drawn up to "
        "its first shape error, marked in red (exit 1).",
    )
    add_spec_argument(parser)
    add_output_option(parser, "the picture: FILE.svg or FILE.png", required=True)
    parser.add_argument(
        "--scale", type=picture_scale_arg, metavar="NAME|X",
        help="a NAME: draw the file at that scale of its family (default: the scale setting, else the file's first); "
        "a number X: PNG pixels per picture pixel (default: 2, sharp on any screen)",
    )  # fmt: skip
    parser.add_argument(
        "--style", choices=["boxes", "graph"], default="boxes",
        help="boxes sized by shape (default) or a layer graph with each layer's spec text",
    )  # fmt: skip
    parser.add_argument("--unfold", action="store_true", help="draw every copy of a repeated block")
    parser.add_argument(
        "--depth", type=depth_arg, metavar="N",
        help="draw each use of a named block N uses deep as one box (0: every use the model writes; "
        f"default: the deepest depth whose picture holds at most {MAX_BOXES} boxes)",
    )  # fmt: skip
    add_model_options(parser, scale=False)
    parser.set_defaults(handler=cmd_draw)


def cmd_draw(args: argparse.Namespace) -> int:
    source = one_model(args.input, "draw", scale=getattr(args, "scale", None))
    try:
        drawable = write_picture(source, args, args.output, args.style, args.unfold)
    except SpecError as error:
        report(error.diagnostics, source)
        return EXIT_SPEC
    report(drawable.diagnostics or drawable.model.warnings, source)
    print(f"Wrote {args.output}")
    return EXIT_SPEC if drawable.failed is not None else EXIT_OK


def write_picture(source: Source, args: argparse.Namespace, output: str, style: str, unfold: bool):
    """Draw a model (a failing one up to its first shape error) into ``output``; SpecError if unreadable."""
    from cnndsl.backends.svg import check_picture_path, source_drawable, write_svg

    path = check_picture_path(output)
    settings = project_settings(args)
    source = at_scale(source, getattr(args, "scale", None), settings)
    drawable = source_drawable(source, args.input_shape, settings.classes, settings.input_shape, settings.task)
    if args.command == "draw":  # summary --svg: the summary says it
        say_scale(source, drawable.model, args)
    depth = getattr(args, "depth", None)
    pixels = getattr(args, "scale", None) if args.command == "draw" else None
    pixels = None if isinstance(pixels, str) else pixels
    write_svg(drawable, path, style, unfold, title=source.label, scale=pixels, depth=depth)
    return drawable
