"""Write the layer reference from the layer table: ``python docs/notation/make_layers.py``.

``docs/notation/layers.md`` is this script's output: every code of ``cnndsl/layers.py``, its
Keras class and its arguments with their defaults and Keras's names for them.
``tests/test_docs.py`` writes the page again and compares, so a code added to the table is
in the reference or the tests fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).resolve().parent / "layers.md"

HEADER = """\
# Layer reference

<!-- Written by docs/notation/make_layers.py from cnndsl/layers.py: edit the table, not this page. -->

Every layer code of the notation, as the layer table (`cnndsl/layers.py`) defines it: its
Keras class, its signature, and each argument with its default and the Keras argument it
becomes. This page is written from the table itself, so no code can be missing from it.
[The notation](index.md) says how arguments are written; a Keras default is given where it
differs from the notation's (the notation's `CN` is ReLU, Keras's `Conv2D` linear).

| code | Keras layer | signature |
|---|---|---|
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(param) -> str:
    from cnndsl.layers import REQUIRED, _default_text

    if param.default is REQUIRED:
        return "required"
    if param.same_as:
        return f"`{param.same_as}`'s value"
    return f"`{param.shown or _default_text(param.default)}`"


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _closure(function) -> dict:
    """The values a kind's factory captured (``count(1, 4096)``: lo and hi)."""
    cells = function.__closure__ or ()
    return dict(zip(function.__code__.co_freevars, (cell.cell_contents for cell in cells)))


def _accepts(param) -> str:
    """What the argument's kind accepts, read from the kind itself."""
    from cnndsl.layers import ACTIVATIONS

    kind = param.kind
    options = getattr(kind, "options", None)
    if options == ACTIVATIONS:
        return "an activation's name ([the list](#activations))"
    if options:
        return ", ".join(f"`{word}`" for word in options)
    factory, bound = kind.__qualname__.split(".")[0], _closure(kind)
    if "one" in bound:  # reals: one number, or a tuple of them
        return _accepts_real(_closure(bound["one"])) + ", or a tuple of them (one per channel)"
    if factory in ("count", "integer"):
        return f"a whole number from {_number(bound['lo'])} to {_number(bound['hi'])}"
    if factory == "size":
        each = f"whole numbers from {_number(bound['lo'])} to {_number(bound['hi'])}"
        return f"`k` (k x k) or a tuple of {bound['n']} {each}" if bound["n"] == 2 else each
    if factory == "real":
        return _accepts_real(bound)
    doc = (kind.__doc__ or "").strip().split("\n")[0].split(" -> ")[0].rstrip(".")
    return _cell(doc[:1].lower() + doc[1:]).replace("``", "`")


def _accepts_real(bound: dict) -> str:
    if bound.get("low_open"):
        return f"a number above {_number(bound['lo'])}, at most {_number(bound['hi'])}"
    return f"a number from {_number(bound['lo'])} to {_number(bound['hi'])}"


def _keras_arg(kind, param) -> str:
    from cnndsl.layers import REQUIRED, _default_text

    names = []
    for form in kind.keras:
        for arg in form.args:
            if arg.name != param.name:
                continue
            text = f"`{arg.keras}`"
            if arg.default is not REQUIRED and _default_text(arg.default) != _default_text(param.default):
                text += f" (Keras's default `{_default_text(arg.default)}`)"
            if len(kind.keras) > 1:
                text += f" of {form.name}"
            names.append(text)
    return "; ".join(names) or "none (not a Keras argument)"


def _section(kind) -> str:
    lines = [f"## `{kind.code}`", ""]
    classes = [
        form.name + (" (cnndsl's own, `cnndsl.backends.keras_layers`)" if form.custom else "") for form in kind.keras
    ]
    if kind.is_input:
        built = "the model's input, `keras.Input` (a declaration, not a layer); allowed first only"
    elif kind.is_identity:
        built = "no layer: its input, passed on"
    else:
        built = " or ".join(
            f"`keras.layers.{name}`" if " " not in name else f"`{name.split(' ')[0]}` {name.split(' ', 1)[1]}"
            for name in classes
        )
    lines += [f"{kind.summary[0].upper()}{kind.summary[1:]}.", "", f"    {kind.signature()}", ""]
    facts = [f"- Keras: {built}."]
    if kind.merge:
        facts.append("- A merge: written `" + kind.code + "(A | B | ...)`, its branches chains from its input.")
    if kind.input_rank:
        facts.append(f"- Input: a {kind.input_rank}-D tensor (batch, height, width, channels).")
    if kind.collect:
        facts.append(f"- Every positional number goes to `{kind.collect}`.")
    if kind.kind != "other" and not kind.is_input:
        facts.append(f"- Drawn as: {kind.kind}.")
    lines += [*facts, ""]
    if kind.params:
        lines += ["| argument | default | accepts | Keras argument |", "|---|---|---|---|"]
        for param in kind.params:
            notes = []
            if param.inherit:
                notes.append(f"omitted: the nearest `{kind.code}`'s written before it")
            if param.quiet:
                notes.append("left out of the canonical form at its default")
            default = _default(param) + (" (" + "; ".join(notes) + ")" if notes else "")
            lines.append(f"| `{param.name}` | {default} | {_accepts(param)} | {_keras_arg(kind, param)} |")
        lines.append("")
    derived = [arg.keras for form in kind.keras for arg in form.args if arg.name is None]
    if derived:
        lines += [f"Keras's `{'`, `'.join(derived)}` is derived from the input's shape.", ""]
    return "\n".join(lines)


def reference() -> str:
    """The page's text, from the layer table as it is now."""
    from cnndsl.layers import LAYERS

    rows = []
    for code, kind in LAYERS.items():
        keras = "the input" if kind.is_input else kind.keras_class
        rows.append(f"| [`{code}`](#{code.lower()}) | {keras} | `{_cell(kind.signature())}` |")
    sections = "\n".join(_section(kind) for kind in LAYERS.values())
    return HEADER + "\n".join(rows) + "\n\n" + sections + "\n" + _activations()


def _activations() -> str:
    from cnndsl.layers import ACTIVATIONS

    names = ", ".join(f"`{name}`" for name in ACTIVATIONS)
    return (
        "## Activations\n\n"
        "What `activation=` and `ACT(...)` accept: every activation Keras 3 knows by name, but\n"
        "`glu` (it halves the last axis) and `threshold` (it needs two more arguments).\n\n"
        f"{names}.\n"
    )


def main() -> None:
    PAGE.write_text(reference(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
