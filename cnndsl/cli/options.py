"""The command line's options, each defined once: the value types that check an argument, and
the option blocks that several commands share (the model's input shape, classes and task, the
outputs, budgets, the training recipe, the readers' options).

A command module adds its options with these functions; an option new to several commands
belongs here, once.
"""

from __future__ import annotations

import argparse
import sys

from cnndsl.checker import valid_classes, valid_input_shape
from cnndsl.layers import MAX_INPUT_SIZE, MAX_UNITS
from cnndsl.settings import SettingsError, parse_bytes, parse_count
from cnndsl.tasks import TASKS

# --- value types ----------------------------------------------------------------------


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


def model_scale_arg(text: str) -> str:
    """The name of a scale of a spec file's family (``scale n(...)``)."""
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"expected the name of one of the file's scales, such as n, not {text!r}")
    return text


def scale_names_arg(text: str) -> tuple[str, ...]:
    """compare's ``--scale``: one or more names of a family's scales, separated by commas (each once)."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",")))
    for name in names:
        if not name.isidentifier():
            raise argparse.ArgumentTypeError(f"expected names of the files' scales, such as n,s,m, not {text!r}")
    return names


def picture_scale_arg(text: str) -> str | float:
    """draw's ``--scale``: the name of one of the file's scales, or a PNG scale (a number from 0.25 to 8)."""
    return text if text.isidentifier() else scale_arg(text)


SCALE_HELP = "check the file at its scale NAME (its scale lines; default: the scale setting, else the file's first)"


def add_scale_option(parser: argparse.ArgumentParser) -> None:
    """``--scale NAME``: the scale of a spec file's family a command works on."""
    parser.add_argument("--scale", type=model_scale_arg, metavar="NAME", help=SCALE_HELP)


def depth_arg(text: str) -> int:
    """A picture's depth: 0 or more uses of named blocks deep."""
    if not text.isdigit() or int(text) > 1000:
        raise argparse.ArgumentTypeError(f"expected a depth from 0 to 1000, such as 1, not {text!r}")
    return int(text)


def _budget(parse):
    def convert(text: str) -> int:
        try:
            return parse(text)
        except SettingsError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


# --- what a command reads -------------------------------------------------------------

SPEC_HELP = "a spec in the notation, or a file"


def add_spec_argument(parser: argparse.ArgumentParser, help: str = SPEC_HELP, metavar: str = "SPEC|FILE") -> None:
    """The one model (or space) a command works on."""
    parser.add_argument("input", metavar=metavar, help=help)


# --- the model: input shape, classes, task --------------------------------------------


def add_input_shape_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--input-shape", type=input_shape_arg, metavar="H,W,C", help=help)


def add_model_options(parser: argparse.ArgumentParser, scale: bool = True) -> None:
    """The model a spec is checked as: its input shape, classes and task, and its scale (``scale=False``: the
    command defines ``--scale`` itself)."""
    add_input_shape_option(parser, "input height, width and channels (default: the spec's IN(...), else 28,28,1)")
    parser.add_argument("--classes", type=classes_arg, metavar="N", help="number of classes (default: 10)")
    add_task_option(parser, "setting")
    if scale:
        add_scale_option(parser)


TASK_DEFAULTS = {
    "setting": ("what the model does, which sets its head", None, "the task setting, else classify"),
    "data": ("what the model does, which sets its head", None, "what the data's labels are"),
    "model": ("the head the model ends in", None, "the task whose head the model ends in"),
}
"""Where a command's task comes from when ``--task`` is not given: the lead of its help, its
default, and how the help says the default (a project's setting; the training data's labels;
for a reader, the model read)."""


def add_task_option(parser: argparse.ArgumentParser, default_from: str) -> None:
    """``--task``, defaulting as ``TASK_DEFAULTS[default_from]`` says."""
    lead, default, said = TASK_DEFAULTS[default_from]
    parser.add_argument(
        "--task", choices=list(TASKS), default=default,
        help=f"{lead}: {'; '.join(f'{name} ({task.summary})' for name, task in TASKS.items())} (default: {said})",
    )  # fmt: skip


def say_read_task(args: argparse.Namespace, task: str, source: str) -> None:
    """A note naming the task the model's head says, where it is not classify and ``--task`` was not given."""
    if args.task is None and task != "classify":
        print(
            f"cnndsl: note: {source}: the model ends in the head of --task {task} ({TASKS[task].summary}): "
            f"check and train the text with --task {task}",
            file=sys.stderr,
        )


# --- outputs and frameworks' logging --------------------------------------------------


def add_output_option(parser: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    """``-o FILE``: where a command writes what it makes."""
    parser.add_argument("-o", "--output", required=required, metavar="FILE", help=help)


VERBOSE_HELP = "show the frameworks' own start-up logging"


def add_verbose_option(parser: argparse.ArgumentParser, help: str = VERBOSE_HELP) -> None:
    parser.add_argument("--verbose", action="store_true", help=help)


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """How diagnostics are printed."""
    parser.add_argument(
        "--format", choices=["text", "json", "github"], default="text",
        help="diagnostics as text with carets (default), one JSON list, or GitHub workflow annotations",
    )  # fmt: skip


def add_reader_options(parser: argparse.ArgumentParser, input_shape_help: str) -> None:
    """What the readers (from-keras, from-torch) share: the output, the input size, the frameworks' logging,
    and whether the reading verifies itself."""
    add_output_option(parser, "write the spec to FILE instead of stdout")
    add_input_shape_option(parser, input_shape_help)
    add_verbose_option(parser)
    parser.add_argument(
        "--no-verify", dest="verify", action="store_false",
        help="skip the verification: by default the spec read is built, given the model's weights and run against "
        "the model on a random input, and a layer whose output differs is an error naming it",
    )  # fmt: skip


# --- budgets --------------------------------------------------------------------------


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-params", type=_budget(parse_count), metavar="N", help="parameter budget: 250k, 1M, ...")
    parser.add_argument("--max-flops", type=_budget(parse_count), metavar="N", help="FLOPs per example: 50M, 1G, ...")
    parser.add_argument(
        "--max-activations", type=_budget(parse_bytes), metavar="SIZE",
        help="float32 activation memory per example: 512KB, 2MB, ...",
    )  # fmt: skip


# --- training: the data and the recipe ------------------------------------------------

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


def add_train_options(
    parser: argparse.ArgumentParser, output_help: str = RUN_OUTPUT_HELP, validation_help: str = RUN_VALIDATION_HELP
) -> None:
    """The data and the recipe (as :func:`recipe` reads them), and the distribution flags."""
    add = parser.add_argument
    data_help = (
        "mnist (default), sample, fashion_mnist, an .npz, an IDX directory, or an image folder (a folder per class)"
    )
    add("--data", default="mnist", metavar="NAME|PATH", help=data_help)
    add("--validation-split", type=validation_arg, metavar="F|test", help=validation_help)
    add("--test-split", type=fraction_arg, metavar="F",
        help="an image or mask folder without test/: the fraction of (each class's) files tested on, chosen by name (default: 0.2)")  # fmt: skip
    add_input_shape_option(
        parser,
        "an image folder: the size images are resized to when the spec has no IN(...) (default: the first image's)",
    )
    add("--epochs", type=int, default=12, metavar="N", help="epochs to train (default: 12)")
    add("--batch-size", type=int, default=128, metavar="N", help="examples per batch, all processes together (default: 128)")  # fmt: skip
    add("--optimizer", default="adam", metavar="NAME", help="adam (default), sgd, rmsprop, adamw, nadam, ... (any case)")  # fmt: skip
    add("--learning-rate", type=float, metavar="LR", help="the optimizer's learning rate (default: its own)")
    add("--seed", type=int, metavar="N", help="seed everything: the same seed gives the same numbers on CPU")
    add("--limit", type=int, metavar="N", help="train on the first N training images only")
    add("--output", metavar="DIR", help=output_help)
    add("--backend", choices=["tensorflow", "jax", "torch"], help="Keras's backend (default: KERAS_BACKEND, else tensorflow)")  # fmt: skip
    add_verbose_option(parser)
    _add_distribution_options(parser)


def _add_distribution_options(parser: argparse.ArgumentParser) -> None:
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


RECIPE = ("data", "epochs", "batch_size", "optimizer", "learning_rate", "seed", "limit", "distribute", "backend",
          "validation_split", "test_split", "input_shape", "output")  # fmt: skip
"""The options :func:`add_train_options` adds that the training functions take by the same names."""


def recipe(args: argparse.Namespace) -> dict:
    """The training functions' keyword arguments from the flags."""
    return {name: getattr(args, name) for name in RECIPE}
