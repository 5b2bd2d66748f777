"""What a model is trained to do: classify an image, segment it pixel by pixel, or regress numbers.

A task owns every answer that depends on it, so that each stage asks the task instead
of assuming classes:

- the head rule (which last layer is the head, or which head is appended) and the output
  contract (the shape the model must end in), for the checker;
- which written layer reads as a head, and which head a read model ends in, for the writer
  and the readers (Keras, PyTorch, JSON);
- the labels: which arrays are this task's, how they are checked and encoded;
- the loss, the metrics Keras reports (in the progress line, ``history.csv`` and
  ``metrics.json``), the lines a summary and a report print, and the objectives a sweep
  may optimise.

The stages are handed the task object (``CheckedModel.task``, ``Dataset.task``); a name
becomes a task once, where it comes in (:func:`task_named`), or is read from a model's last
layer (:func:`task_of_head`). Besides classify, segment and regress, the heads people write
are tasks of their own: ``logits`` and ``segment-logits`` (raw scores, the loss from logits),
``binary``, ``multilabel`` and ``binary-segment`` (sigmoids). A new task (detection) is one
more :class:`Task`, listed in :data:`TASKS` for its name to be known.
The checking half imports no framework and no numpy; the training half imports numpy and
Keras inside its methods.
"""

from __future__ import annotations

from cnndsl import ast
from cnndsl.ast import Span
from cnndsl.errors import SHAPE, DataError, Diagnostic, Edit, Fix
from cnndsl.layers import LAYERS, MAX_UNITS, REQUIRED, LayerType
from cnndsl.model import DEFAULT_CLASSES, Layer
from cnndsl.shapes import format_shape, format_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from cnndsl.model import LayerInfo

__all__ = [
    "Task", "TASKS", "CLASSIFY", "LOGITS", "BINARY", "MULTILABEL", "SEGMENT", "BINARY_SEGMENT", "SEGMENT_LOGITS",
    "REGRESS", "DETECT",
    "task_named", "task_for", "task_of_labels", "task_of_head",
]  # fmt: skip


class Task:
    """One task's answers; the base class is classification's shape, the others override it."""

    name = ""
    summary = "a class vector"
    """What the task's models output, in a few words (``--task``'s help, a reader's note)."""
    default_outputs = DEFAULT_CLASSES
    """The output count when none is given (``--classes``, ``num_classes=``, the data)."""
    head_code = "DN"
    """The code of the head the checker appends, with ``head_activation``."""
    head_activation = "softmax"
    output_rank = 2
    """The rank of the output: (None, classes), or (None, H, W, classes)."""
    ends_in = "the notation's models end in a softmax over (None, classes)"
    """What a model of this task ends in, for a reader's refusal."""
    logits_activation: str | None = "softmax"
    """The activation a reader appends to a model that ends in raw scores (a module's logits); None: refused."""
    loss = "categorical_crossentropy"
    loss_text = "categorical cross-entropy"
    metrics: tuple[str, ...] = ("accuracy",)
    """Keras's names for the metrics, as the history's columns and ``metrics.json`` name them."""
    objectives: Mapping[str, str] = {}
    """What a sweep may optimise, and which way."""
    count_word = "class count"
    outputs_word = "classes"
    """How a diagnostic names the output count, and what it counts."""
    _width = "units"
    """The head's argument that gives the output count."""

    # --- checking ---

    def take_head(self, last: Layer, outputs: int, explicit: bool) -> Layer | None:
        """The spec's last layer as the head (marked, its activation the head's), or None when a head is appended."""
        raise NotImplementedError

    def _written_head(self, last: Layer, outputs: int, explicit: bool) -> bool:
        """A last layer of the head's code with the head's activation written: the head, never followed by another.

        It says the output count by its width; a count given as well (``num_classes=``, ``--classes``,
        the data's) that equals the width takes it as the head too, so that checking a read model with
        the count its reading gives (keras-io's U-Net: ``CN(3, 3, padding=same, activation=softmax)``)
        appends no second head. A width other than the count given keeps it a hidden layer.
        """
        return (
            last.type is LAYERS[self.head_code]
            and "activation" in last.given
            and last.args["activation"] == self.head_activation
            and (not explicit or last.args[self._width] == outputs)
        )

    def new_head(self, outputs: int, end: Span) -> Layer:
        """The head appended at ``end``, the end of the spec, when its last layer is not one.

        Its arguments are in the order a written layer binds them: the architecture hash reads the
        order, and an appended head hashes as the same head written.
        """
        head_type = LAYERS[self.head_code]
        args = {**_defaults(head_type), **self._head_args(outputs)}
        args = {param.name: args[param.name] for param in head_type.params if param.name in args}
        return Layer(head_type, args, end, self._head_text(outputs), head=True)

    def _head_text(self, outputs: int) -> str:
        return f"{self.head_code}({outputs}, activation={self.head_activation})"

    def check_output(
        self, infos: list[LayerInfo], outputs: int, explicit: bool, input_shape: tuple
    ) -> tuple[Diagnostic | None, int]:
        """The output contract: ``(an error or warning or None, the output count in force)``."""
        raise NotImplementedError

    def written_head_problem(self, infos: Sequence[LayerInfo], outputs: int) -> Diagnostic | None:
        """A written layer just before an appended head that reads as a head for another count (the data's check)."""
        return None

    def hidden_head(self, infos: Sequence[LayerInfo], outputs: int, explicit: bool) -> Diagnostic | None:
        """A warning where the head was appended after a last written layer that reads as a head of another count.

        ``CN(32, 3) -> MP(2) -> FL() -> DN(5)`` checks as a 10-class model (the default): the
        written ``DN(5)`` becomes a hidden relu layer under an appended ``DN(10, activation=softmax)``.
        Said at the written layer, with what would make it the head or keep it hidden.
        """
        written = _written_before_head(infos)
        if written is None or not self._reads_as_written_head(written, outputs):
            return None
        width, activation, stated = written.args[self._width], written.args["activation"], "activation" in written.given
        message = (
            f"{written.text} is not the head: the {self.count_word} is {outputs} ({'given' if explicit else 'the default'}), "
            f"so {infos[-1].layer.text} is appended after it and {written.text} becomes a hidden {activation} layer"
        )
        hint = f"for {width} {self.outputs_word}, pass --classes {width} (num_classes={width})"
        if not explicit:
            hint += f" or write {self._head_text(width)}"
        if stated:  # the head's own activation, written: the head but for the count given
            hint += f", or leave the count out: a written {written.code}(..., activation={activation}) is then the head"
        else:
            hint += f"; to keep it hidden, write its activation ({written.code}(..., activation={activation}))"
        fixes = () if stated else _activation_fixes(written, activation, None if explicit else self.head_activation)
        return Diagnostic(
            SHAPE, message, written.span, severity="warning", hint=hint, code="head-mismatch", fixes=fixes
        )

    def _reads_as_written_head(self, layer: Layer, outputs: int) -> bool:
        """A written head-code layer of another width, its activation the head's or unwritten, that a reader
        takes for the head: one that writes the head's activation, is narrower than the head, or no wider
        than the default class count."""
        if layer.type is not LAYERS[self.head_code] or layer.args[self._width] == outputs:
            return False
        written = "activation" in layer.given
        if written:
            return layer.args["activation"] == self.head_activation
        return layer.args[self._width] < outputs or layer.args[self._width] <= DEFAULT_CLASSES

    def reads_as_head(self, code: str, args: Mapping[str, Any], outputs: int | None) -> bool:
        """Whether the checker would take a last written layer for the head if its activation were left out."""
        return False

    appends_as_written = True
    """Whether the head the checker appends hashes as the same head written (its arguments in a written layer's order).

    Where it does, a reader writes every head it reads, so that the text states the output count. A
    segmentation's and a regression's appended head keep the order they were first released with:
    written, their default head would hash as another model, so a reader leaves it for the task to append.
    """

    def writes_head(self, code: str, args: Mapping[str, Any], ordered: bool = False) -> bool:
        """Whether a reader writes a read model's head, so that the text states the output count.

        Every head is written but one the task appends in the order its arguments were first released
        with, which written would hash as another model: a reader leaves that one to the task. Read from
        a framework (``ordered`` False), it is the task's default head; read from a checked model's
        arguments in their order (``ordered``, the JSON architecture), it is a head whose arguments are
        not in a written layer's order.
        """
        if self.appends_as_written:
            return True
        if ordered:
            return list(args) == [param.name for param in LAYERS[code].params if param.name in args]
        return (code, dict(args)) != self.default_head()

    def default_head(self) -> tuple[str, dict]:
        """The head the checker appends when no output count is given: ``(code, arguments)``, as a reader reads one."""
        args = {**_defaults(LAYERS[self.head_code]), **self._head_args(self.default_outputs)}
        return self.head_code, args

    def _head_args(self, outputs: int) -> dict:
        return {"units": outputs, "activation": self.head_activation}

    def head_of_logits(self, code: str, args: Mapping[str, Any]) -> dict | None:
        """A read model's last layer as this task's head: its arguments with the head's activation, or None.

        A PyTorch module ends in raw scores: its last ``Linear`` (no activation) takes the head's
        activation, and a softmax of its own is the head as it is. None: the reader appends
        :attr:`logits_activation`.
        """
        if code == self.head_code and args.get("activation") == "linear":
            return {**args, "activation": self.head_activation}
        if code == "ACT" and args.get("name") == self.head_activation:
            return dict(args)
        return None

    def read_outputs(self, code: str, args: Mapping[str, Any], output: tuple) -> int:
        """The output count of a read model's last layer; ValueError saying what this task's models end in."""
        ends = (code == self.head_code and args.get("activation") == self.head_activation) or (
            code == "ACT" and args.get("name") == self.head_activation
        )
        if not ends or len(output) != self.output_rank or output[-1] is None:
            raise ValueError(self.ends_in)
        return output[-1]

    def outputs_line(self, outputs: int) -> str:
        """How a summary states the model's outputs: ``Classes: 10``."""
        return f"Classes: {outputs}"

    appends_head = True
    """Whether the checker makes the head explicit (the last layer, or one appended); a detector's spec
    ends in its own head."""

    # --- training ---

    untrained: str | None = None
    """Why ``cnndsl run`` does not train this task's models (a detector's losses are not in cnndsl yet); None: it does."""
    takes_class_folders = False
    """Whether a folder of a folder per class is this task's data (classification's kinds)."""
    one_hot = True
    """Whether a folder's class labels are one-hot rows (else one 0/1 column: binary classification)."""

    def folder_outputs(self, class_names: Sequence[str], source: str) -> int:
        """The output count for a folder of these classes; DataError where the task cannot take them."""
        return len(class_names)

    def labels(self, arrays: Mapping, x_train, x_test, source: str) -> tuple[Any, Any, int]:
        """``(y_train, y_test, output count)`` checked for this task; DataError naming the source."""
        raise NotImplementedError

    def encode(self, y, outputs: int):
        """Labels as the loss takes them."""
        return y

    def keras_loss(self, logits: bool = False):
        """The loss Keras compiles with; ``logits``: the head outputs raw scores (no softmax or sigmoid)."""
        return self.loss

    def keras_metrics(self, outputs: int, logits: bool = False) -> list:
        return list(self.metrics)

    @staticmethod
    def outputs_logits(model) -> bool:
        """Whether a checked model's head outputs raw scores (a linear head, or a log-softmax): its loss is from logits."""
        head = model.layers[-1].layer
        return head.args.get("activation", head.args.get("name")) in ("linear", "log_softmax")

    def label_warnings(self, y_train, y_test, outputs: int, source: str) -> list[str]:
        return []

    def score_lines(self, metrics: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The test scores as printed: ``[("Test loss", 0.1), ("Test accuracy", 0.98)]``."""
        named = [(f"Test {name.replace('_', ' ')}", metrics.get(f"test_{name}")) for name in self.metrics]
        return [("Test loss", metrics.get("test_loss")), *named]

    def __eq__(self, other: object) -> bool:
        """Tasks of one class and name are equal (one unpickled in another process too); a task equals its name,
        so that ``model.task == "segment"`` reads as it did when tasks were names."""
        if isinstance(other, str):
            return other == self.name
        return type(other) is type(self) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<task {self.name}>"


# --- classification ------------------------------------------------------------------------------


class Classify(Task):
    """A class vector: ``(None, classes)`` under a softmax; integer labels (or one-hot rows) per image."""

    name = "classify"
    takes_class_folders = True
    objectives = {"val_accuracy": "maximize", "val_loss": "minimize", "test_accuracy": "maximize"}

    def take_head(self, last, outputs, explicit):
        """A spec ending in a softmax of its own is its own head; a last ``DN(classes)`` (no activation written, or softmax) is the head.

        MobileNet's convolution -> reshape -> ``ACT(softmax)`` is its own head, and so is a
        written ``DN(k, activation=softmax)`` when no class count is given: the output's size is
        the class count.
        """
        head_type = LAYERS[self.head_code]
        if _own_softmax(last) or self._written_head(last, outputs, explicit):
            return _as_head(last, last.args)
        if self._is_head(last, head_type, outputs):
            return _as_head(last, {**last.args, "activation": "softmax"})
        return None

    @staticmethod
    def _is_head(layer: Layer, head_type: LayerType, classes: int) -> bool:
        """A written DN(classes) whose activation is unspecified or softmax."""
        if layer.type is not head_type or layer.args["units"] != classes:
            return False
        return "activation" not in layer.given or layer.args["activation"] == "softmax"

    def check_output(self, infos, outputs, explicit, input_shape):
        """The model must end in (None, classes): a 4-D tensor at the head is an error.

        A head of the spec's own (``ACT(softmax)``, or a written ``DN(k, activation=softmax)``) gives the
        class count by its output's size; a class count given as well must agree with it. One class is
        legal but useless: a softmax over one unit always outputs 1.0.
        """
        if not infos:
            return None, outputs
        last = infos[-1]
        own = last.code != self.head_code  # a DN head has the class count's units unless it is the spec's own
        out = last.output_shape
        if len(out) == 2 and out[1] is not None and out[1] != outputs:
            if explicit:
                message = f"the model's own head {last.layer.text} outputs {format_shape(out)}, but {outputs} classes are asked for"
                hint = f"give {out[1]} classes, or end in {outputs} units"
                return Diagnostic(SHAPE, message, last.layer.span, hint=hint, code="head-classes"), outputs
            outputs = out[1]
        if len(out) == 2 and outputs == 1:
            message = "a softmax over 1 class always outputs 1.0, so the loss is always 0 and nothing is learnt"
            hint = "use 2 classes (labels 0 and 1) for a yes/no task"
            warning = Diagnostic(SHAPE, message, last.layer.span, severity="warning", hint=hint, code="one-class")
            return warning, outputs
        if len(out) == 2:
            return None, outputs
        what = "the model's own head" if own else "the classifier head"
        message = (
            f"{what} {last.layer.text} gets {format_shape(last.input_shape)} and would output "
            f"{format_shape(out)}, but the model must end in {format_shape((None, outputs))}"
        )
        hint = (
            "reshape to (classes,) before the softmax: RS(classes), or FL()"
            if own
            else "add FL() or GAP() before the classifier head"
        )
        fixes = () if own else _flatten_fixes(last)  # FL() before a softmax of its own would not give the classes
        return Diagnostic(SHAPE, message, last.layer.span, hint=hint, code="head-shape", fixes=fixes), outputs

    def written_head_problem(self, infos, outputs):
        """A written ``DN(10)`` on data with 15 classes would silently become a hidden relu layer under ``DN(15)``."""
        written = _written_before_head(infos)
        if written is None or not _reads_as_other_head(written, outputs):
            return None
        units = written.args["units"]
        message = (
            f"{written.text} reads as the head of a {units}-class model, but the data has {outputs} "
            f"classes; write DN({outputs}) for the head, or give DN({units}) an activation "
            "to keep it as a hidden layer"
        )
        return Diagnostic("shape", message, written.span, code="head-mismatch")

    def reads_as_head(self, code, args, outputs):
        return code == self.head_code and args.get("units") == outputs

    def labels(self, arrays, x_train, x_test, source):
        (y_train, train_width), (y_test, test_width) = (
            _labels(arrays, "y_train", x_train, source),
            _labels(arrays, "y_test", x_test, source),
        )
        if train_width and test_width and train_width != test_width:
            raise DataError(f"{source}: y_train's one-hot rows have {train_width} classes but y_test's {test_width}")
        classes = max(int(max(y_train.max(), y_test.max())) + 1, train_width, test_width)
        return y_train, y_test, _class_count(classes, source)

    def encode(self, y, outputs):
        import numpy as np

        return np.eye(outputs, dtype="float32")[y]

    def label_warnings(self, y_train, y_test, outputs, source):
        return _class_warnings(y_train, y_test, outputs, source, "image")


def _activation_fixes(layer: Layer, hidden: str, head: str | None) -> tuple[Fix, ...]:
    """The activation written into a layer that reads as a head: its own (kept hidden), or the head's (made the head)."""
    span = layer.span
    if not layer.text.endswith(")"):
        return ()
    separator = "" if layer.text[:-1].rstrip().endswith(("(", ",")) else ", "
    at = Span(span.end - 1, span.end - 1, span.end_line, span.end_column - 1, span.end_line, span.end_column - 1)
    fixes = [Fix(f"Keep {layer.text} hidden", (Edit(at, f"{separator}activation={hidden}"),))]
    if head is not None:
        fixes.insert(0, Fix(f"Make {layer.text} the head", (Edit(at, f"{separator}activation={head}"),)))
    return tuple(fixes)


def _flatten_fixes(head: LayerInfo) -> tuple[Fix, ...]:
    """``FL()`` (and, on a 4-D input, ``GAP()``) just before the classifier head: written, or appended at the end."""
    span = head.layer.span
    at = Span(span.start, span.start, span.line, span.column, span.line, span.column)
    codes = ("FL", "GAP") if len(head.input_shape) == 4 else ("FL",)
    appended = span.start == span.end
    return tuple(Fix(f"Insert {code}() before the classifier head",
                     (Edit(at, f" -> {code}()" if appended else f"{code}() -> "),)) for code in codes)  # fmt: skip


def _labels(arrays: Mapping, key: str, images, source: str) -> tuple[Any, int]:
    """Integer labels and the class count one-hot rows state (0 for integer labels)."""
    import numpy as np

    y = np.asarray(arrays[key])
    width = 0
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif _one_hot_rows(y):
        y, width = y.argmax(axis=1), y.shape[1]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{source}: {key} has shape {y.shape} and type {y.dtype}; "
            "expected one integer label per image, or one one-hot row per image"
        )
    if len(y) != len(images):
        raise DataError(f"{source}: {key} has {len(y)} labels for {len(images)} images")
    if y.min() < 0:
        raise DataError(f"{source}: {key} holds a negative label ({int(y.min())})")
    return y.astype("int64"), width


def _written_before_head(infos) -> Layer | None:
    """The last written layer, where the task's rule appended the head after it (else None)."""
    return infos[-2].layer if len(infos) > 1 and not infos[-1].layer.given else None


def _reads_as_other_head(layer: Layer, classes: int) -> bool:
    """A written DN whose units are the default class count, or which says softmax, and that is not the head."""
    if layer.code != "DN" or layer.args["units"] == classes:
        return False
    softmax = layer.args.get("activation") == "softmax" and "activation" in layer.given
    return softmax or ("activation" not in layer.given and layer.args["units"] == DEFAULT_CLASSES)


def _class_count(classes: int, source: str) -> int:
    if not 2 <= classes <= MAX_UNITS:
        plural = "class" if classes == 1 else "classes"
        raise DataError(
            f"{source}: labels give {classes:,} {plural}; a model takes 2 to {MAX_UNITS:,} (the --classes bound)"
        )
    return classes


def _class_warnings(y_train, y_test, classes: int, source: str, what: str) -> list[str]:
    """Classes no label has, and test classes training never saw."""
    import numpy as np

    seen = set(np.unique(y_train).tolist())
    tested = set(np.unique(y_test).tolist())
    warnings = []
    missing = sorted(set(range(classes)) - seen - tested)
    if missing:
        warnings.append(
            f"{source}: no {what} is labelled {_listed(missing)}, yet the labels give {classes} "
            f"classes (0 to {classes - 1}): number the classes 0 to N-1 without gaps"
        )
    unseen = sorted(tested - seen)
    if unseen:
        count = int(np.isin(y_test, unseen).sum())
        warnings.append(
            f"{source}: {count:,} test {what}(s) are labelled {_listed(unseen)}, "
            "a class no training image has (the model cannot learn it)"
        )
    return warnings


def _listed(values: list[int], shown: int = 8) -> str:
    text = ", ".join(str(v) for v in values[:shown])
    return text + (f" and {len(values) - shown} more" if len(values) > shown else "")


# --- classification, its scores as written: logits, sigmoids ------------------------------------


class _Scores:
    """A head that outputs scores (logits) as written: a linear head of the task's code, or a log-softmax."""

    _SCORES = ("linear", "log_softmax")

    def head_of_logits(self, code, args):
        """A module's last layer of the head's code (a ``Linear``, a convolution) is the head as it is: its scores
        are the output; a log-softmax too."""
        if (code == self.head_code and args.get("activation") in self._SCORES) or (
            code == "ACT" and args.get("name") == "log_softmax"
        ):
            return dict(args)
        return None

    def read_outputs(self, code, args, output):
        if self.head_of_logits(code, args) is None or len(output) != self.output_rank or output[-1] is None:
            raise ValueError(self.ends_in)
        return output[-1]


class Logits(_Scores, Classify):
    """A class vector of raw scores: ``(None, classes)`` from a head with no softmax; integer labels; cross-entropy from logits.

    What PyTorch classifiers output and many Keras models end in (``Dense(k)``): the head is
    ``DN(k, activation=linear)`` (or a log-softmax, whose log-probabilities are scores of the same
    softmax), kept as written; the loss applies the softmax. A last ``DN(classes)`` with no
    activation written is the head, linear; the appended head is ``DN(classes, activation=linear)``.
    """

    name = "logits"
    summary = "a class vector of raw scores, logits: no softmax"
    head_activation = "linear"
    ends_in = "a logits classifier ends in a linear DN (or a log_softmax) over (None, classes)"
    logits_activation = None
    loss_text = "categorical cross-entropy from logits"

    def take_head(self, last, outputs, explicit):
        """A last ``DN(classes)`` (no activation written) becomes the linear head; a written linear or log-softmax
        ``DN``, or an ``ACT(log_softmax)``, is the head as written."""
        if last.code == "ACT" and last.args["name"] == "log_softmax":
            return _as_head(last, last.args)
        if last.type is not LAYERS[self.head_code]:
            return None
        if "activation" in last.given:
            scores = last.args["activation"] in self._SCORES
            return _as_head(last, last.args) if scores and (not explicit or last.args["units"] == outputs) else None
        return _as_head(last, {**last.args, "activation": "linear"}) if last.args["units"] == outputs else None

    def keras_loss(self, logits=True):
        import keras

        return keras.losses.CategoricalCrossentropy(from_logits=True)

    def outputs_line(self, outputs):
        return f"Classes: {outputs} (logits)"


class Multilabel(Task):
    """Several yes/no labels per image: ``(None, labels)`` under a sigmoid each; multi-hot rows; binary cross-entropy.

    The head is ``DN(k, activation=sigmoid)``, or ``DN(k, activation=linear)`` for its logits (the
    loss applies the sigmoid). A last ``DN(labels)`` with no activation written becomes the sigmoid head.
    """

    name = "multilabel"
    summary = "several yes/no labels per image, a sigmoid each"
    head_activation = "sigmoid"
    ends_in = "a multi-label classifier ends in a sigmoid over (None, labels), or in their logits (a linear DN)"
    logits_activation = None
    loss = "binary_crossentropy"
    loss_text = "binary cross-entropy"
    metrics = ("accuracy", "auc")
    objectives = {"val_auc": "maximize", "val_accuracy": "maximize", "val_loss": "minimize", "test_auc": "maximize"}
    count_word = "label count"
    outputs_word = "labels"
    fixed_outputs: int | None = None
    """The one output count the task's models have (binary: 1), else None."""
    _HEADS = ("sigmoid", "linear")

    def take_head(self, last, outputs, explicit):
        """A written sigmoid or linear head-code layer (or an ``ACT(sigmoid)``) is the head; a last one of the output
        count with no activation written becomes the sigmoid head."""
        if last.code == "ACT" and last.args["name"] == "sigmoid":
            return _as_head(last, last.args)
        if last.type is not LAYERS[self.head_code]:
            return None
        width = last.args[self._width]
        if "activation" in last.given:
            ends = last.args["activation"] in self._HEADS
            return _as_head(last, last.args) if ends and (not explicit or width == outputs) else None
        return _as_head(last, {**last.args, "activation": "sigmoid"}) if self._unwritten_head(last, outputs) else None

    def _unwritten_head(self, last: Layer, outputs: int) -> bool:
        return last.args[self._width] == outputs

    def hidden_head(self, infos, outputs, explicit):
        """As for every task; none where the output count is fixed (binary), which no ``--classes`` changes."""
        return None if self.fixed_outputs else super().hidden_head(infos, outputs, explicit)

    def check_output(self, infos, outputs, explicit, input_shape):
        """``(None, labels)``: the head's width is the label count (binary: 1)."""
        if not infos:
            return None, outputs
        last = infos[-1]
        out = last.output_shape
        if len(out) != self.output_rank or out[-1] is None:
            wanted = (None, outputs) if self.output_rank == 2 else (None, "height", "width", outputs)
            message = (
                f"the head {last.layer.text} gets {format_shape(last.input_shape)} and would output "
                f"{format_shape(out)}, but the model must end in {format_shape(wanted)}"
            )
            hint = "add FL() or GAP() before the head" if self.output_rank == 2 else "keep the height and width"
            return Diagnostic(SHAPE, message, last.layer.span, hint=hint, code="head-shape"), outputs
        wanted = self.fixed_outputs or (outputs if explicit else out[-1])
        if out[-1] != wanted:
            message = f"the head {last.layer.text} outputs {format_shape(out)}, but {self._count_said(wanted)}"
            return Diagnostic(SHAPE, message, last.layer.span, hint=self._count_hint, code="head-classes"), outputs
        return None, out[-1]

    def _count_said(self, wanted: int) -> str:
        return f"the labels have {wanted} values each"

    _count_hint = "end in as many units as the labels have values"

    def reads_as_head(self, code, args, outputs):
        return code == self.head_code and args.get(self._width) == outputs

    def head_of_logits(self, code, args):
        """A module's last layer as it is: a sigmoid, or a linear layer (its logits, for ``BCEWithLogitsLoss``)."""
        if (code == self.head_code and args.get("activation") in self._HEADS) or (
            code == "ACT" and args.get("name") == "sigmoid"
        ):
            return dict(args)
        return None

    def read_outputs(self, code, args, output):
        if self.head_of_logits(code, args) is None or len(output) != self.output_rank or output[-1] is None:
            raise ValueError(self.ends_in)
        if output[-1] != (self.fixed_outputs or max(output[-1], 2)):  # one label is binary
            raise ValueError(self.ends_in)
        return output[-1]

    def outputs_line(self, outputs):
        return f"Labels: {outputs} (multi-label)"

    def labels(self, arrays, x_train, x_test, source):
        y_train, y_test = (_multi_hot(arrays, key, x, source) for key, x in (("y_train", x_train), ("y_test", x_test)))
        if y_train.shape[1] != y_test.shape[1]:
            raise DataError(f"{source}: y_train has {y_train.shape[1]} labels per image but y_test {y_test.shape[1]}")
        if y_train.shape[1] > MAX_UNITS:
            raise DataError(f"{source}: {y_train.shape[1]:,} labels per image; a model outputs at most {MAX_UNITS:,}")
        return y_train, y_test, int(y_train.shape[1])

    def label_warnings(self, y_train, y_test, outputs, source):
        never = [int(i) for i in (y_train.reshape(len(y_train), -1).max(axis=0) == 0).nonzero()[0]]
        if not never:
            return []
        return [f"{source}: no training image has label {_listed(never)} (the model cannot learn it)"]

    def keras_loss(self, logits=False):
        import keras

        return keras.losses.BinaryCrossentropy(from_logits=logits)

    def keras_metrics(self, outputs, logits=False):
        import keras

        return [
            keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0 if logits else 0.5),
            keras.metrics.AUC(
                name="auc", from_logits=logits, multi_label=outputs > 1, num_labels=outputs if outputs > 1 else None
            ),
        ]

    def score_lines(self, metrics):
        return [
            ("Test loss", metrics.get("test_loss")),
            ("Test accuracy", metrics.get("test_accuracy")),
            ("Test AUC", metrics.get("test_auc")),
        ]


class Binary(Multilabel):
    """Yes or no per image: ``(None, 1)`` under a sigmoid (the probability of the second class); labels 0 and 1.

    ``DN(1, activation=sigmoid)``, or ``DN(1, activation=linear)`` for its logit. A folder of two
    class folders is its data: the first class (in name order) is 0, the second 1.
    """

    name = "binary"
    summary = "yes or no per image, one sigmoid"
    default_outputs = 1
    fixed_outputs = 1
    ends_in = "a binary classifier ends in a sigmoid over (None, 1), or in its logit (a linear DN(1))"
    count_word = "output count"
    outputs_word = "outputs"
    takes_class_folders = True
    one_hot = False
    _count_hint = "a binary classifier has one output: leave the class count out (--classes, num_classes=)"

    def _count_said(self, wanted):
        return "a binary classifier outputs one probability, (None, 1)"

    def folder_outputs(self, class_names, source):
        if len(class_names) != 2:
            raise DataError(
                f"{source}: binary classification takes a folder of 2 class folders, not {len(class_names)} "
                f"({', '.join(class_names)})"
            )
        return 1

    def outputs_line(self, outputs):
        return "Outputs: 1 probability (binary classification)"

    def labels(self, arrays, x_train, x_test, source):
        return _binary(arrays, "y_train", x_train, source), _binary(arrays, "y_test", x_test, source), 1

    def label_warnings(self, y_train, y_test, outputs, source):
        import numpy as np

        seen = set(np.unique(y_train).tolist())
        missing = [int(value) for value in (0, 1) if value not in seen]
        return [f"{source}: no training image is labelled {missing[0]} (the model cannot learn it)"] if missing else []


def _zeros_and_ones(y, key: str, source: str, what: str):
    """0/1 labels (integers, booleans, or floats that are 0 or 1) as float32."""
    import numpy as np

    if not (np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.bool_)) or not np.isin(y, (0, 1)).all():
        raise DataError(f"{source}: {key} has shape {y.shape} and type {y.dtype}; {what} of 0s and 1s")
    return y.astype("float32")


def _binary(arrays: Mapping, key: str, images, source: str):
    """One 0/1 label per image, as a column ``(n, 1)``."""
    import numpy as np

    y = np.asarray(arrays[key])
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != 1:
        raise DataError(
            f"{source}: {key} has shape {y.shape}; binary classification takes one label (0 or 1) per image"
        )
    if len(y) != len(images):
        raise DataError(f"{source}: {key} has {len(y)} labels for {len(images)} images")
    return _zeros_and_ones(y, key, source, "binary classification takes one label per image")


def _multi_hot(arrays: Mapping, key: str, images, source: str):
    """One row of 0/1 labels per image (multi-hot)."""
    import numpy as np

    y = np.asarray(arrays[key])
    if y.ndim != 2:
        raise DataError(
            f"{source}: {key} has shape {y.shape}; multi-label classification takes one row of 0s and 1s per image"
        )
    if len(y) != len(images):
        raise DataError(f"{source}: {key} has {len(y)} label rows for {len(images)} images")
    return _zeros_and_ones(y, key, source, "multi-label classification takes one row")


# --- segmentation --------------------------------------------------------------------------------


class Segment(Task):
    """A class per pixel: ``(None, H, W, classes)`` under a per-pixel softmax; masks ``(n, H, W)`` of integers."""

    name = "segment"
    summary = "a class per pixel"
    default_outputs = 2
    loss = "sparse_categorical_crossentropy"
    loss_text = "per-pixel cross-entropy"
    metrics = ("pixel_accuracy", "mean_iou")
    objectives = {
        "val_mean_iou": "maximize", "val_pixel_accuracy": "maximize", "val_loss": "minimize",
        "test_mean_iou": "maximize",
    }  # fmt: skip
    head_code = "CN"
    output_rank = 4
    ends_in = "a segmentation model ends in a softmax over (None, height, width, classes)"

    def _head_args(self, outputs):
        return {"filters": outputs, "kernel": (1, 1), "activation": "softmax"}

    def take_head(self, last, outputs, explicit):
        """A last ``CN(classes, 1)`` (no activation written, or softmax) becomes the per-pixel softmax.

        When no class count is given, a last ``CN(k, 1)`` is the head and says k; a spec
        ending in a softmax of its own (``ACT(softmax)``) is its own head.
        """
        head_type = LAYERS[self.head_code]
        if _own_softmax(last) or self._written_head(last, outputs, explicit):
            return _as_head(last, last.args)
        if self._is_head(last, head_type, outputs, explicit):
            return _as_head(last, {**last.args, "activation": "softmax"})
        return None

    def new_head(self, outputs, end):
        return _head_as_released(self, outputs, end)

    appends_as_written = False

    def _head_text(self, outputs):
        return f"{self.head_code}({outputs}, 1, activation=softmax)"

    @staticmethod
    def _is_head(layer: Layer, head_type: LayerType, classes: int, explicit: bool) -> bool:
        if layer.type is not head_type or layer.args["kernel"] != (1, 1):
            return False
        if explicit and layer.args["filters"] != classes:
            return False
        return "activation" not in layer.given or layer.args["activation"] == "softmax"

    _width = "filters"

    def _reads_as_written_head(self, layer, outputs):
        """A written ``CN(k, 1)`` of another class count, its activation unwritten or softmax."""
        if (
            layer.type is not LAYERS[self.head_code]
            or layer.args["kernel"] != (1, 1)
            or layer.args["filters"] == outputs
        ):
            return False
        return "activation" not in layer.given or layer.args["activation"] == self.head_activation

    def written_head_problem(self, infos, outputs):
        """A last written ``CN(k, 1)`` on masks of another class count would become a hidden relu layer."""
        written = _written_before_head(infos)
        if written is None or written.code != self.head_code or written.args["kernel"] != (1, 1):
            return None
        if "activation" in written.given or written.args["filters"] == outputs:
            return None
        filters = written.args["filters"]
        message = (
            f"{written.text} reads as the head of a {filters}-class segmentation, but the masks have {outputs} "
            f"classes; write CN({outputs}, 1) for the head, or give CN({filters}, 1) an activation to keep it "
            "as a hidden layer"
        )
        return Diagnostic("shape", message, written.span, code="head-mismatch")

    def check_output(self, infos, outputs, explicit, input_shape):
        """``(None, H, W, classes)`` at the input's height and width (the masks' size)."""
        if not infos:
            return None, outputs
        last = infos[-1]
        out = last.output_shape
        if len(out) != 4:
            message = (
                f"the per-pixel head {last.layer.text} gets {format_shape(last.input_shape)} and outputs "
                f"{format_shape(out)}, but a segmentation model must end in (None, height, width, {outputs})"
            )
            hint = "keep the height and width: no FL(), GAP() or DN() before the head"
            return Diagnostic(SHAPE, message, last.layer.span, hint=hint, code="head-shape"), outputs
        if out[-1] != outputs:
            if explicit:
                message = f"the model's own head {last.layer.text} outputs {format_shape(out)}, but {outputs} classes are asked for"
                return Diagnostic(SHAPE, message, last.layer.span, code="head-classes"), outputs
            outputs = out[-1]
        size, wanted = out[1:3], tuple(input_shape[1:3])
        if None not in size and None not in wanted and size != wanted:
            message = (
                f"the model outputs {format_shape(out)}, {format_size(size)} per image, but the masks are "
                f"{format_size(wanted)}: a segmentation model ends at its input's height and width"
            )
            hint = "upsample back to the input's size (UP(2) or CT(filters, 2, strides=2) per pooling), or pad with ZP"
            return Diagnostic(SHAPE, message, last.layer.span, hint=hint, code="mask-size"), outputs
        return None, outputs

    def reads_as_head(self, code, args, outputs):
        return code == self.head_code and args.get("filters") == outputs and tuple(args.get("kernel", ())) == (1, 1)

    def labels(self, arrays, x_train, x_test, source):
        y_train = _masks(arrays, "y_train", x_train, source)
        y_test = _masks(arrays, "y_test", x_test, source)
        return y_train, y_test, _class_count(int(max(y_train.max(), y_test.max())) + 1, source)

    def keras_metrics(self, outputs, logits=False):
        import keras

        return [
            keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
            keras.metrics.MeanIoU(num_classes=outputs, sparse_y_true=True, sparse_y_pred=False, name="mean_iou"),
        ]

    def label_warnings(self, y_train, y_test, outputs, source):
        return _class_warnings(y_train, y_test, outputs, source, "pixel")

    def outputs_line(self, outputs):
        return f"Classes: {outputs} per pixel (segmentation)"

    def score_lines(self, metrics):
        return [
            ("Test loss", metrics.get("test_loss")),
            ("Test pixel accuracy", metrics.get("test_pixel_accuracy")),
            ("Test mean IoU", metrics.get("test_mean_iou")),
        ]


class SegmentLogits(_Scores, Segment):
    """A class per pixel as raw scores: ``(None, H, W, classes)`` with no softmax; integer masks; cross-entropy from logits.

    What keras-io's DeepLabV3+ ends in (``Conv2D(classes, 1)``, trained from logits): the head is
    ``CN(k, 1, activation=linear)`` (or a log-softmax), kept as written; a last ``CN(classes, 1)``
    with no activation written becomes the linear head; else ``CN(classes, 1, activation=linear)``
    is appended.
    """

    name = "segment-logits"
    summary = "a class per pixel as raw scores, logits: no softmax"
    head_activation = "linear"
    ends_in = "a logits segmentation model ends in a linear CN (or a log_softmax) over (None, height, width, classes)"
    logits_activation = None
    loss_text = "per-pixel cross-entropy from logits"
    appends_as_written = True

    def _head_args(self, outputs):
        return {"filters": outputs, "kernel": (1, 1), "activation": "linear"}

    def _head_text(self, outputs):
        return f"{self.head_code}({outputs}, 1, activation=linear)"

    def new_head(self, outputs, end):
        return Task.new_head(self, outputs, end)

    def take_head(self, last, outputs, explicit):
        """A written linear or log-softmax ``CN`` (or an ``ACT(log_softmax)``) is the head as written; a last
        ``CN(classes, 1)`` with no activation written becomes the linear head."""
        if last.code == "ACT" and last.args["name"] == "log_softmax":
            return _as_head(last, last.args)
        if last.type is not LAYERS[self.head_code]:
            return None
        if "activation" in last.given:
            scores = last.args["activation"] in self._SCORES
            return _as_head(last, last.args) if scores and (not explicit or last.args["filters"] == outputs) else None
        if last.args["kernel"] == (1, 1) and (last.args["filters"] == outputs or not explicit):
            return _as_head(last, {**last.args, "activation": "linear"})
        return None

    def keras_loss(self, logits=True):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def outputs_line(self, outputs):
        return f"Classes: {outputs} per pixel (segmentation, logits)"


class BinarySegment(Segment):
    """A yes/no mask: ``(None, H, W, 1)`` under a per-pixel sigmoid; masks ``(n, H, W)`` of 0s and 1s.

    The head is ``CN(1, 1, activation=sigmoid)``, a written sigmoid ``CN(1, ...)`` of any kernel,
    or a linear one for its logits; a last ``CN(1, 1)`` with no activation written becomes the sigmoid head.
    """

    name = "binary-segment"
    summary = "a yes/no mask, a sigmoid per pixel"
    default_outputs = 1
    head_activation = "sigmoid"
    loss = "binary_crossentropy"
    loss_text = "per-pixel binary cross-entropy"
    ends_in = "a binary segmentation model ends in a sigmoid over (None, height, width, 1), or its logit"
    logits_activation = None
    appends_as_written = True
    fixed_outputs = 1
    _HEADS = ("sigmoid", "linear")
    _count_hint = "a binary mask has one output per pixel: leave the class count out (--classes, num_classes=)"

    def _head_args(self, outputs):
        return {"filters": outputs, "kernel": (1, 1), "activation": "sigmoid"}

    def _head_text(self, outputs):
        return f"{self.head_code}({outputs}, 1, activation=sigmoid)"

    def new_head(self, outputs, end):
        return Task.new_head(self, outputs, end)

    take_head = Multilabel.take_head
    head_of_logits = Multilabel.head_of_logits
    read_outputs = Multilabel.read_outputs
    keras_loss = Multilabel.keras_loss

    def _unwritten_head(self, last, outputs):
        return last.args["filters"] == outputs and last.args["kernel"] == (1, 1)

    hidden_head = Multilabel.hidden_head

    def _count_said(self, wanted):
        return "a binary mask has one probability per pixel, (None, height, width, 1)"

    def check_output(self, infos, outputs, explicit, input_shape):
        """``(None, H, W, 1)`` at the masks' height and width."""
        problem, outputs = super().check_output(infos, outputs, explicit, input_shape)
        if problem is None and infos and infos[-1].output_shape[-1] != 1:
            last = infos[-1]
            message = f"the head {last.layer.text} outputs {format_shape(last.output_shape)}, but {self._count_said(1)}"
            return Diagnostic(SHAPE, message, last.layer.span, hint=self._count_hint, code="head-classes"), outputs
        return problem, outputs

    def labels(self, arrays, x_train, x_test, source):
        y_train, y_test = (
            _zeros_and_ones(
                _masks(arrays, key, x, source)[..., None], key, source, "binary masks take one 0 or 1 per pixel"
            )
            for key, x in (("y_train", x_train), ("y_test", x_test))
        )
        return y_train, y_test, 1

    def keras_metrics(self, outputs, logits=False):
        import keras

        threshold = 0.0 if logits else 0.5
        return [
            keras.metrics.BinaryAccuracy(name="pixel_accuracy", threshold=threshold),
            keras.metrics.BinaryIoU(target_class_ids=(0, 1), threshold=threshold, name="mean_iou"),
        ]

    def label_warnings(self, y_train, y_test, outputs, source):
        if y_train.max() == 0:
            return [f"{source}: no training pixel is labelled 1 (the model cannot learn the mask)"]
        return []

    def outputs_line(self, outputs):
        return "Outputs: 1 probability per pixel (binary segmentation)"


def _own_softmax(layer: Layer) -> bool:
    """``ACT(softmax)``: a head of the model's own."""
    return layer.code == "ACT" and layer.args["name"] == "softmax"


def _as_head(layer: Layer, args) -> Layer:
    return Layer(layer.type, args, layer.span, layer.text, head=True, given=layer.given)


def _head_as_released(task: Task, outputs: int, end: Span) -> Layer:
    """The appended head of segmentation and regression: the defaults' arguments before the head's own.

    The order they were first released with: the architecture hash reads it, and their specs keep their hashes.
    """
    head_type = LAYERS[task.head_code]
    return Layer(
        head_type, {**_defaults(head_type), **task._head_args(outputs)}, end, task._head_text(outputs), head=True
    )


def _defaults(kind: LayerType) -> dict[str, Any]:
    return {param.name: param.default for param in kind.params if param.default is not REQUIRED}


def _masks(arrays: Mapping, key: str, images, source: str):
    """Integer masks ``(n, H, W)`` (or ``(n, H, W, 1)``) of the images' height and width."""
    import numpy as np

    y = np.asarray(arrays[key])
    if y.ndim == 4 and y.shape[-1] == 1:
        y = y[..., 0]
    if y.ndim != 3 or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
        raise DataError(
            f"{source}: {key} has shape {y.shape} and type {y.dtype}; "
            "segmentation takes one mask of integer classes per image, (images, height, width)"
        )
    if len(y) != len(images):
        raise DataError(f"{source}: {key} has {len(y)} masks for {len(images)} images")
    if y.shape[1:3] != images.shape[1:3]:
        raise DataError(
            f"{source}: {key}'s masks are {format_size(y.shape[1:3])} but the images are {format_size(images.shape[1:3])}"
        )
    if y.min() < 0:
        raise DataError(f"{source}: {key} holds a negative class ({int(y.min())})")
    return y.astype("int32")


# --- regression ----------------------------------------------------------------------------------


class Regress(Task):
    """Numbers: ``(None, k)`` from a linear head; float labels ``(n,)`` or ``(n, k)``; mean squared error."""

    name = "regress"
    summary = "numbers"
    default_outputs = 1
    loss = "mean_squared_error"
    loss_text = "mean squared error"
    metrics = ("mae",)
    objectives = {"val_loss": "minimize", "val_mae": "minimize", "test_mae": "minimize"}
    head_activation = "linear"
    ends_in = "a regression model ends in a linear DN over (None, outputs)"
    logits_activation = None
    count_word = "output count"
    outputs_word = "outputs"
    appends_as_written = False

    def take_head(self, last, outputs, explicit):
        """A last ``DN(k)`` with no activation written (or linear) becomes the linear head.

        When no output count is given, a written ``DN(k, activation=linear)`` is the head and says k.
        """
        if last.type is not LAYERS[self.head_code]:
            return None
        written = "activation" in last.given
        linear = last.args["activation"] == "linear"
        if (not written or linear) and (last.args["units"] == outputs or (not explicit and written and linear)):
            return _as_head(last, {**last.args, "activation": "linear"})
        return None

    def new_head(self, outputs, end):
        return _head_as_released(self, outputs, end)

    def check_output(self, infos, outputs, explicit, input_shape):
        if not infos:
            return None, outputs
        last = infos[-1]
        out = last.output_shape
        if len(out) == 2 and out[1] is not None:
            if out[1] != outputs and explicit:
                message = (
                    f"the head {last.layer.text} outputs {format_shape(out)}, but the labels have {outputs} values each"
                )
                return Diagnostic(SHAPE, message, last.layer.span, code="head-classes"), outputs
            return None, out[1]
        message = (
            f"the regression head {last.layer.text} gets {format_shape(last.input_shape)} and would output "
            f"{format_shape(out)}, but the model must end in {format_shape((None, outputs))}"
        )
        hint = "add FL() or GAP() before the head"
        return Diagnostic(SHAPE, message, last.layer.span, hint=hint, code="head-shape"), outputs

    def reads_as_head(self, code, args, outputs):
        return code == self.head_code and args.get("units") == outputs

    def labels(self, arrays, x_train, x_test, source):
        y_train = _targets(arrays, "y_train", x_train, source)
        y_test = _targets(arrays, "y_test", x_test, source)
        if y_train.shape[1] != y_test.shape[1]:
            raise DataError(f"{source}: y_train has {y_train.shape[1]} values per image but y_test {y_test.shape[1]}")
        if y_train.shape[1] > MAX_UNITS:
            raise DataError(f"{source}: {y_train.shape[1]:,} values per image; a model outputs at most {MAX_UNITS:,}")
        return y_train, y_test, int(y_train.shape[1])

    def keras_metrics(self, outputs, logits=False):
        import keras

        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def outputs_line(self, outputs):
        return f"Outputs: {outputs} (regression)"

    def score_lines(self, metrics):
        return [("Test loss (mean squared error)", metrics.get("test_loss")), ("Test MAE", metrics.get("test_mae"))]


def _targets(arrays: Mapping, key: str, images, source: str):
    """Float targets, one row of k values per image."""
    import numpy as np

    y = np.asarray(arrays[key])
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise DataError(
            f"{source}: {key} has shape {y.shape} and type {y.dtype}; regression takes one number, "
            "or one row of numbers, per image"
        )
    if len(y) != len(images):
        raise DataError(f"{source}: {key} has {len(y)} targets for {len(images)} images")
    y = y.astype("float32")
    if not np.isfinite(y).all():
        raise DataError(f"{source}: {key} holds NaN or infinite values")
    return y


# --- detection -----------------------------------------------------------------------------------


class Detect(Task):
    """Boxes and class scores per anchor: the spec ends in its own head, ``DETECT(@p3 | @p4 | @p5, classes=k)``."""

    name = "detect"
    summary = "boxes and class scores"
    default_outputs = 80
    head_code = "DETECT"
    output_rank = 3
    ends_in = "a detector ends in DETECT(...), its boxes and class scores per anchor"
    logits_activation = None
    loss_text = "none (training detectors is not supported yet)"
    metrics = ()
    count_word = "class count"
    appends_head = False
    untrained = "training detectors is not supported yet"

    def take_head(self, last, outputs, explicit):
        return None

    def check_output(self, infos, outputs, explicit, input_shape):
        if not infos:
            return None, outputs
        last = infos[-1]
        if last.code != self.head_code:
            message = f"a detector ends in DETECT(...), but this spec ends in {last.layer.text}"
            hint = "end the spec in DETECT(@p3 | @p4 | @p5, classes=80) over its feature levels"
            return Diagnostic(SHAPE, message, last.layer.span, hint=hint, code="head-shape"), outputs
        classes = last.layer.args["classes"]
        if explicit and classes != outputs:
            message = f"{last.layer.text} has {classes} classes, but {outputs} are given"
            return Diagnostic(SHAPE, message, last.layer.span, code="head-classes"), outputs
        return None, classes

    def hidden_head(self, infos, outputs, explicit):
        return None

    def read_outputs(self, code, args, output):
        raise ValueError(self.ends_in)

    def outputs_line(self, outputs):
        return f"Classes: {outputs} (detection: boxes and class scores per anchor)"

    def labels(self, arrays, x_train, x_test, source):
        raise DataError(f"{source}: {self.untrained}")

    def score_lines(self, metrics):
        return [("Test loss", metrics.get("test_loss"))]


def _ends_in_code(chain) -> str | None:
    """The code of a merge that ends a chain (``... -> DETECT(@p3 | @p4)``), named or not."""
    last = chain.elements[-1] if chain.elements else None
    while isinstance(last, ast.Named):
        last = last.body
    return last.code if isinstance(last, ast.Merge) else None


def task_for(task: str | Task | None, chain) -> Task:
    """The task for a name; with none, the task whose own head ends the spec (a detector's ``DETECT``), else classify."""
    if task is None:
        ending = _ends_in_code(chain)
        owner = next((each for each in TASKS.values() if not each.appends_head and each.head_code == ending), None)
        if owner is not None:
            return owner
    return task_named(task)


# --- the tasks -----------------------------------------------------------------------------------

CLASSIFY, SEGMENT, REGRESS = Classify(), Segment(), Regress()
DETECT = Detect()
LOGITS, BINARY, MULTILABEL, BINARY_SEGMENT = Logits(), Binary(), Multilabel(), BinarySegment()
SEGMENT_LOGITS = SegmentLogits()
TASKS: dict[str, Task] = {
    task.name: task
    for task in (CLASSIFY, SEGMENT, REGRESS, LOGITS, BINARY, MULTILABEL, BINARY_SEGMENT, SEGMENT_LOGITS, DETECT)
}
"""Every task by name, ``--task``'s choices in this order: the first three as first released, then the rest."""

READ_ORDER = (CLASSIFY, BINARY, LOGITS, MULTILABEL, SEGMENT, BINARY_SEGMENT, SEGMENT_LOGITS)
"""The tasks a read model's last layer may say, in the order they are asked: a linear ``Dense(1)`` is a binary
classifier's logit before it is a one-class classifier's; numbers (regress) are never guessed."""


def task_named(task: str | Task | None) -> Task:
    """The task for a name (None: classify); ValueError naming the choices."""
    if isinstance(task, Task):
        return task
    if task is None:
        return CLASSIFY
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    return TASKS[task]


def task_of_head(code: str, args: Mapping[str, Any], output: tuple) -> Task | None:
    """The task whose head a read model's last layer is (its code, arguments and output shape), or None.

    A softmax classifies; a sigmoid over one unit is binary, over several multi-label, over a
    mask binary segmentation; a linear or log-softmax layer over classes is a classifier's logits
    (over one unit, a binary classifier's logit).

    >>> task_of_head("DN", {"units": 1, "activation": "sigmoid"}, (None, 1)).name
    'binary'
    >>> task_of_head("DN", {"units": 10, "activation": "linear"}, (None, 10)).name
    'logits'
    """
    for task in READ_ORDER:
        try:
            task.read_outputs(code, args, output)
        except ValueError:
            continue
        return task
    return None


def task_of_labels(y) -> Task:
    """The task training labels imply: masks of integers segment, floats regress, integer rows of several 0s and 1s
    are multi-label, the rest classify.

    >>> import numpy as np
    >>> [task_of_labels(y).name for y in (np.zeros(4, int), np.zeros((4, 5, 5), int), np.zeros(4))]
    ['classify', 'segment', 'regress']
    """
    import numpy as np

    y = np.asarray(y)
    whole = np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)
    if whole and (y.ndim == 3 or (y.ndim == 4 and y.shape[-1] == 1)):
        return SEGMENT
    if np.issubdtype(y.dtype, np.floating) and not _one_hot_rows(y) and not (y.ndim == 3 or y.ndim == 4):
        return REGRESS
    if whole and y.ndim == 2 and y.shape[1] > 1 and not _one_hot_rows(y) and np.isin(y, (0, 1)).all():
        return MULTILABEL  # rows of several 0/1 labels (multi-hot); float rows stay numbers
    return CLASSIFY


def _one_hot_rows(y) -> bool:
    """Whether every row is exactly one 1 among 0s (what ``to_categorical`` makes)."""
    import numpy as np

    if y.ndim != 2 or y.shape[1] < 2 or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        return False
    return bool(np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all())
