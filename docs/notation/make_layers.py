"""Write every listing of the codes from the layer table: ``python docs/notation/make_layers.py``.

``docs/notation/layers.md`` is this script's output: every code of ``cnndsl/layers/``, its
Keras class and its arguments with their defaults and Keras's names for them. The table of
codes on ``docs/notation/index.md`` and the list of what reads as each code on
``docs/interop/from-torch.md`` are written between their ``<!-- codes -->`` markers.
``tests/test_docs.py`` writes them again and compares, and the site's build hook writes
them before each build, so a code added to the table is in every listing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).resolve().parent / "layers.md"

HEADER = """\
# Layer reference

<!-- Written by docs/notation/make_layers.py from cnndsl/layers/: edit the table, not this page. -->

Every layer code of the notation, as the layer table (`cnndsl/layers/`) defines it: its
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


def _accepts(param) -> str:
    """What the argument's kind accepts, in the kind's own words."""
    return _cell(param.kind.accepts())


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
        built = (
            "the model's input, `keras.Input` (a declaration, not a layer); allowed first, and later in the "
            "model's own chain as a further named input (one `keras.Input` each)"
        )
    elif kind.is_identity:
        built = "no layer: its input, passed on"
    elif kind.block is not None:
        built = "no layer of its own: a block of other codes, expanded where its input is known ([YOLO blocks](yolo-blocks.md))"
    else:
        built = " or ".join(
            f"`keras.layers.{name}`" if " " not in name else f"`{name.split(' ')[0]}` {name.split(' ', 1)[1]}"
            for name in classes
        )
    lines += [f"{kind.summary[0].upper()}{kind.summary[1:]}.", "", f"    {kind.signature()}", ""]
    facts = [f"- Keras: {built}."]
    if kind.merge:
        written = re.search(rf"`({kind.code}\([^`]*\|[^`]*\))`", kind.note or "")  # the note's own form, if any
        form = written.group(1) if written else kind.code + "(A | B | ...)"
        facts.append(f"- A merge: written `{form}`, its branches chains from its input.")
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


def codes_table() -> str:
    """The notation page's table of codes: each entry's class, its signature and its note."""
    from cnndsl.layers import LAYERS

    rows = ["| code | Keras layer | arguments (defaults) |", "|---|---|---|"]
    for code, kind in LAYERS.items():
        keras = "the input" if kind.is_input else kind.keras_class
        rows.append(f"| `{code}` | {keras} | `{_cell(kind.signature(quiet=False))}`{_cell(kind.note)} |")
    return "\n".join(rows)


def torch_readings() -> str:
    """The from-torch page's table: what in PyTorch reads back as each code, from each entry's declaration."""
    from cnndsl.layers import LAYERS

    rows = ["| code | read from PyTorch |", "|---|---|"]
    for code, kind in LAYERS.items():
        torch = kind.torch
        reads = ", ".join(f"`{name.removeprefix('torch.nn.modules.')}`" for name in torch.reads)
        said = reads or torch.read_by or f"nothing: {torch.unread}"
        if reads and torch.read_by:
            said += f"; {torch.read_by}"
        rows.append(f"| `{code}` | {_cell(said)} |")
    return "\n".join(rows)


GENERATED = {
    "docs/notation/index.md": codes_table,
    "docs/interop/from-torch.md": torch_readings,
}
"""Pages holding a listing between ``<!-- codes -->`` and ``<!-- /codes -->``, and what writes it."""


def with_listing(text: str, listing: str) -> str:
    """``text`` with what stands between its markers replaced by ``listing``."""
    head, _, rest = text.partition("<!-- codes -->\n")
    _, _, tail = rest.partition("<!-- /codes -->")
    return f"{head}<!-- codes -->\n{listing}\n<!-- /codes -->{tail}"


def pages() -> dict[Path, str]:
    """Every generated page's text as the table writes it today."""
    written = {PAGE: reference()}
    for name, listing in GENERATED.items():
        path = ROOT / name
        written[path] = with_listing(path.read_text(encoding="utf-8"), listing())
    return written


def main() -> None:
    for path, text in pages().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
