"""Diagnostics: the SpecError family and the one function that renders them.

Every problem cnndsl finds in a spec is a :class:`Diagnostic` carrying a kind
(``syntax``, ``value`` or ``shape``), a stable code naming the problem (:data:`CODES`),
a message and the :class:`~cnndsl.ast.Span` of the text it is about, and the
:class:`Fix` es that the pass finding it knows, as edits of the text (as ruff attaches
its fixes): an editor's quick fix applies them, never a guess from the message's words.
Passes collect diagnostics and raise them together as one :class:`SpecError`, whose
subclass names the kind of the first.
"""

from __future__ import annotations

import contextlib

from cnndsl.ast import Span
from cnndsl.records import record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

SYNTAX, VALUE, SHAPE = "syntax", "value", "shape"
USAGE = "usage"
"""The kind of a tool-level problem (an unreadable file, a bad argument) in JSON output."""


CODES = {
    # syntax
    "unexpected-character": "a character the notation has no use for",
    "unexpected-token": "a word or sign where the notation expects another",
    "unexpected-end": "the spec ends before it is complete",
    "empty-spec": "a spec with no layers",
    "too-long": "a spec longer than the reader takes",
    "too-deep": "parentheses nested deeper than the reader takes",
    # value
    "unknown-layer": "a layer code the table does not have",
    "unknown-argument": "a keyword the layer does not take",
    "repeated-argument": "an argument given twice",
    "too-many-arguments": "more positional arguments than the layer takes",
    "missing-argument": "a required argument left out",
    "bad-value": "an argument's value out of range or of the wrong kind",
    "unknown-word": "a word (activation, padding, ...) the argument does not accept",
    "bad-arguments": "arguments that cannot go together",
    "merge-arguments": "a merge given positional arguments",
    "merge-branches": "a merge with fewer than two branches (OUT: none)",
    "misplaced-input": "IN(...) anywhere but first, save a further input named in the model's own chain",
    "misplaced-outputs": "OUT(...) anywhere but last in the model's chain",
    "output-name": "two outputs of OUT(...) of one name",
    "input-conflict": "IN(...) disagreeing with the input shape given",
    "bad-repeat": "a repetition count that is not a whole number from 1",
    "unknown-name": "a name that no definition above gives",
    "self-reference": "a definition that uses itself",
    "too-many-layers": "a model that expands past the layer limit",
    "blocks-too-deep": "blocks that use blocks deeper than the checker follows",
    "duplicate-definition": "a name defined twice",
    "reserved-word": "a definition named block",
    "cycle": "definitions that use each other",
    "used-before-definition": "a name used above its definition",
    "duplicate-scale": "a scale declared twice in one file",
    "bad-scale": "a scale line's value out of range or of the wrong kind",
    "unknown-scale": "a scale chosen (--scale, scale=, the scale setting) that the file does not declare",
    "bad-range": "a search-space range that is not whole numbers, or is empty",
    "search-space": "a search space where one model is needed",
    "bad-call-argument": "a Python call's literal input_shape= or num_classes= the library refuses",
    "torch-unsupported": "a layer the PyTorch backend cannot build",
    # shape
    "input-too-small": "a kernel or pool larger than the input it gets",
    "bad-shape": "a layer that cannot take the shape it gets",
    "weights-too-large": "a weight tensor larger than Keras can create",
    "wrong-rank": "a layer given a tensor of the wrong rank",
    "merge-shapes": "merge branches whose sizes cannot be joined",
    "merge-ranks": "merge branches of different ranks that cannot be joined",
    "head-shape": "a head that does not get its task's rank (2-D for a classifier or a regression, 4-D for a segmentation)",
    "head-mismatch": "a last DN (a segmentation's CN(k, 1)) that reads as the head of another class count",
    "head-classes": "a head of the spec's own whose output is not the class count asked for",
    "mask-size": "a segmentation model whose output is not its input's (the masks') height and width",
    "budget-unknown": "a FLOP or activation budget for a model whose input size is unknown",
    "tensor-name": "a tensor named twice, or with a reserved word",
    "unknown-tensor": "an @name that no earlier 'as name' of the model defines",
    "unused-tensor": "a tensor named with 'as' that no @name uses",
    "unused-input": "an input of a model of several that reaches no output",
    "lost-output": "a layer whose output nothing uses, once an @name goes on from another tensor",
    "unknown-size": "a layer that needs a size its input leaves unknown (IN(None, None, 3) -> FL() -> DN(10))",
    "one-class": "a softmax over one class (warning)",
    "suspicious-layer": "a layer that works but likely not as meant (warning)",
    "merge-broadcast": "a merge that broadcasts branches of different ranks or grows them (warning)",
    # budgets and tools
    "max-params": "more parameters than the budget",
    "max-flops": "more FLOPs than the budget",
    "max-activations": "more activation memory than the budget",
    "usage": "a bad command line or an unreadable input",
    "settings": "a [tool.cnndsl] table the language server cannot use (shown at the top of the file)",
}
"""Every diagnostic code, with what it means (the table of docs/checking.md lists them)."""


@record
class Edit:
    """Replace the text under ``span`` with ``text`` (an empty span inserts)."""

    span: Span
    text: str

    def as_dict(self) -> dict:
        span = self.span
        return {"line": span.line, "column": span.column, "end_line": span.end_line,
                "end_column": span.end_column, "text": self.text}  # fmt: skip


@record
class Fix:
    """A change that removes a diagnostic's problem: what an editor's menu says, and its edits."""

    title: str
    edits: tuple[Edit, ...]

    def as_dict(self) -> dict:
        return {"title": self.title, "edits": [edit.as_dict() for edit in self.edits]}


def apply_fix(text: str, fix: Fix) -> str:
    """``text`` with the fix's edits made (edits do not overlap)."""
    for edit in sorted(fix.edits, key=lambda edit: edit.span.start, reverse=True):
        text = text[: edit.span.start] + edit.text + text[edit.span.end :]
    return text


@record
class Diagnostic:
    """One finding about a spec, located by its span; ``code`` names the problem (:data:`CODES`)."""

    kind: str
    message: str
    span: Span | None = None
    severity: str = "error"
    hint: str | None = None
    code: str | None = None
    """Left out by tool-level problems: their code is their kind (``usage``)."""
    fixes: tuple[Fix, ...] = ()

    def moved(self, locate: Callable[[Span], Span]) -> Diagnostic:
        """This diagnostic, with its span and its fixes' edits placed by ``locate`` (a spec read on its
        own, moved to where it stands in a larger text)."""
        fixes = tuple(
            Fix(fix.title, tuple(Edit(locate(edit.span), edit.text) for edit in fix.edits)) for fix in self.fixes
        )
        return replace(self, span=None if self.span is None else locate(self.span), fixes=fixes)

    def as_dict(self) -> dict:
        """The JSON shape of a diagnostic (``--json`` output)."""
        span = self.span
        return {
            "kind": self.kind,
            "code": self.code or self.kind,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None,
            "fixes": [fix.as_dict() for fix in self.fixes],
        }


class SpecError(Exception):
    """A spec cannot be compiled. Holds every error found, first one first."""

    kind = "error"

    def __init__(self, diagnostics: Iterable[Diagnostic], source: str | None = None):
        self.diagnostics = tuple(diagnostics)
        self.source = source
        first = self.diagnostics[0] if self.diagnostics else None
        self.message = first.message if first else "invalid spec"
        self.span = first.span if first else None
        super().__init__(self.message)

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}: " if self.span else ""
        more = len(self.diagnostics) - 1
        tail = f" (and {more} more error{'s' * (more > 1)})" if more > 0 else ""
        return f"{where}{self.kind} error: {self.message}{tail}"

    def render(self, filename: str = "<spec>") -> str:
        """The caret display of every diagnostic, as the CLI prints it."""
        return render(self.diagnostics, self.source or "", filename)


class SpecSyntaxError(SpecError):
    kind = SYNTAX


class SpecValueError(SpecError):
    kind = VALUE


class SpecShapeError(SpecError):
    kind = SHAPE


_BY_KIND = {SYNTAX: SpecSyntaxError, VALUE: SpecValueError, SHAPE: SpecShapeError}


# --- tool-level errors: what the commands report as one line, exit code 2 ----------------
#
# The modules that raise them re-export them under their old names
# (``cnndsl.inputs.UsageError``, ``cnndsl.datasets.DataError``, ...).


class UsageError(Exception):
    """A bad command line or an unreadable input: exit code 2."""


class MissingExtra(UsageError, ModuleNotFoundError):
    """A command or function that needs a framework this installation lacks: exit code 2.

    Also a ModuleNotFoundError, so ``except ImportError`` around an optional feature still works.
    """


EXTRA_MODULES = {
    "tensorflow": frozenset({"tensorflow", "keras", "numpy", "matplotlib", "pillow", "PIL"}),
    "jax": frozenset({"jax", "jaxlib", "keras", "numpy", "matplotlib", "pillow", "PIL"}),
    "torch": frozenset({"torch", "keras", "numpy", "matplotlib", "pillow", "PIL"}),
    "onnx": frozenset({"onnx", "onnxruntime", "torch", "numpy"}),
    "sweep": frozenset({"tensorflow", "keras", "numpy", "matplotlib", "pillow", "PIL", "optuna"}),
    "bench": frozenset({"keras_tuner", "sklearn", "tensorboard", "timm"}),
    "postgresql": frozenset({"psycopg"}),
    "lsp": frozenset({"pygls", "lsprotocol"}),
    "draw": frozenset({"matplotlib", "numpy"}),
    "docs": frozenset({"mkdocs", "mkdocs_material", "material"}),  # the site; mkdocs-material is imported as material
    "notebook": frozenset({"IPython", "ipykernel", "nbclient", "nbformat", "jupyter_client"}),
    "yolo": frozenset({"yaml"}),
}
"""The modules each extra of pyproject.toml installs (its own and those they need); a test holds them equal."""


@contextlib.contextmanager
def needs(extra: str | None, what: str) -> Iterator[None]:
    """Turn a missing module of ``extra`` into one line naming the extra to install.

    ``what`` is the command or function (`` `cnndsl emit --to onnx` ``, ``cnndsl.train()``);
    usable as a decorator too. With ``extra`` None, the smallest extra that installs the
    missing module is named. A module no extra installs is raised as it is.
    """
    try:
        yield
    except MissingExtra:
        raise
    except ModuleNotFoundError as error:
        named = extra_for((error.name or "").partition(".")[0], extra)
        if named is None:
            raise
        raise MissingExtra(f"{what} needs the {named} extra: pip install 'cnndsl[{named}]'", name=error.name) from None


def extra_for(module: str, preferred: str | None = None) -> str | None:
    """``preferred`` if it installs ``module``, else the smallest extra that does, else None."""
    if preferred is not None:
        return preferred if module in EXTRA_MODULES[preferred] else None
    providers = [name for name, modules in EXTRA_MODULES.items() if module in modules]
    return min(providers, key=lambda name: len(EXTRA_MODULES[name]), default=None)


class SettingsError(Exception):
    """A bad setting or budget value: exit code 2."""


class DataError(UsageError):
    """Data that cannot be had, read or used: exit code 2."""


class OutputError(UsageError):
    """An output directory or file that cannot be written: exit code 2."""


class RecipeError(UsageError):
    """A training setting out of range: exit code 2."""


class ClusterError(RecipeError):
    """A cluster that cannot be joined: exit code 2, nothing written."""


class StorageError(UsageError):
    """A storage URL that cannot be used: exit code 2. Its message never holds the password."""


class UnsupportedModel(ValueError):
    """A Keras model the notation cannot write."""


class ModelFileError(ValueError):
    """A file that is not a Keras model cnndsl will load."""


class ArchitectureError(ValueError):
    """A JSON document that is not a cnndsl architecture this version reads."""


def raise_errors(diagnostics: Iterable[Diagnostic], source: str) -> None:
    """Raise the SpecError subclass of the first error, if there is any error."""
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        raise _BY_KIND.get(errors[0].kind, SpecError)(errors, source)


def render(diagnostics: Iterable[Diagnostic], source: str, filename: str = "<spec>") -> str:
    """``FILE:LINE:COL: severity: message``, the source line and carets, per diagnostic."""
    return "\n".join(_render_one(d, source, filename) for d in diagnostics)


def _render_one(diag: Diagnostic, source: str, filename: str) -> str:
    span = diag.span
    if span is None:
        head = f"{filename}: {diag.severity}: {diag.message}"
        return head + (f"\n  help: {diag.hint}" if diag.hint else "")
    lines = [f"{filename}:{span.line}:{span.column}: {diag.severity}: {diag.message}"]
    lines += _excerpt(source, span)
    if diag.hint:
        lines.append(f"  help: {diag.hint}")
    return "\n".join(lines)


EXCERPT_WIDTH = 120
"""Widest source excerpt shown: a longer line is cut to a window around the span."""


def _excerpt(source: str, span: Span) -> list[str]:
    """The span's first source line and a caret line under the span."""
    if not 0 <= span.start <= len(source) or span.column < 1:
        return []
    line_start = span.start - (span.column - 1)  # lines as spans count them: at '\n' only
    line_end = source.find("\n", span.start)
    text = source[line_start : len(source) if line_end < 0 else line_end].removesuffix("\r").replace("\r", " ")
    start = span.column - 1
    end = span.end_column - 1 if span.end_line == span.line else len(text)
    end = max(end, start + 1)
    text, start, end = _window(text, start, end)
    shown = [_shown(c) for c in text]
    # Keep tabs in the caret line's indent so the carets stay under the span.
    indent = "".join(c if c == "\t" else " " * len(c) for c in shown[:start])
    carets = sum(len(c) for c in shown[start:end]) + max(0, end - max(start, len(text)))
    gutter = f"{span.line} | "
    return [gutter + "".join(shown), " " * len(gutter) + indent + "^" * carets]


UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories shown escaped under a diagnostic: controls, format and bidi marks,
surrogates, private and unassigned code points, line and paragraph separators."""


def _shown(char: str) -> str:
    """A source character as the excerpt prints it: ``\\x00``, ``\\u202e`` for one a terminal would act on."""
    if char == "\t" or (char.isascii() and char.isprintable()):  # the common case: no Unicode tables loaded
        return char
    import unicodedata

    return char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in UNPRINTABLE else char


def _window(text: str, start: int, end: int) -> tuple[str, int, int]:
    """At most EXCERPT_WIDTH characters of a line around ``text[start:end]``, cut with '...'."""
    if len(text) <= EXCERPT_WIDTH:
        return text, start, end
    left = max(0, min(start - EXCERPT_WIDTH // 3, len(text) - EXCERPT_WIDTH))
    right = left + EXCERPT_WIDTH
    prefix, suffix = ("..." if left > 0 else ""), ("..." if right < len(text) else "")
    shift = len(prefix) - left
    return prefix + text[left:right] + suffix, start + shift, min(end, right) + shift


# --- diagnostics for machines ---------------------------------------------------------


def diagnostic_record(diag: Diagnostic, filename: str | None) -> dict:
    """One diagnostic as a JSON object: file, line, column, end, kind, message (one shape for every kind)."""
    span = diag.span
    end = {"line": span.end_line, "column": span.end_column} if span else None
    return {"file": filename, **diag.as_dict(), "end": end}


def render_github(diagnostics: Iterable[Diagnostic], filename: str) -> str:
    """GitHub Actions workflow commands: ``::error file=F,line=L,col=C::message``."""
    return "\n".join(_github_one(diag, filename) for diag in diagnostics)


def _github_one(diag: Diagnostic, filename: str) -> str:
    command = "warning" if diag.severity == "warning" else "error"
    props = {"file": filename, "title": f"cnndsl {diag.kind}"}
    if diag.span:
        span = diag.span
        props.update(line=span.line, col=span.column, endLine=span.end_line, endColumn=span.end_column)
    message = diag.message + (f" ({diag.hint})" if diag.hint else "")
    fields = ",".join(f"{key}={_escape(str(value), property=True)}" for key, value in props.items())
    return f"::{command} {fields}::{_escape(message)}"


def _escape(text: str, property: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property else text
