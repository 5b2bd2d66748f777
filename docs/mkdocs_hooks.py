"""MkDocs hooks (``hooks:`` in mkdocs.yml): where GitHub and MkDocs read one Markdown text differently."""

from __future__ import annotations

import re


def on_page_markdown(markdown: str, **kwargs) -> str:
    r"""A ``|`` in a code span of a table row is written ``\|``, or GitHub would end the cell
    there; Python-Markdown keeps code spans whole and would show the backslash."""
    return "\n".join(
        re.sub(r"`[^`]*`", lambda span: span.group(0).replace("\\|", "|"), line) if line.startswith("|") else line
        for line in markdown.split("\n")
    )


def on_pre_build(**kwargs) -> None:
    """The pages written from the layer table (the reference, the notation's table of codes, from-torch's
    list), written again from the table as it is now: a code added is in every listing of the site."""
    import importlib.util
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("notation") / "make_layers.py"
    if str(script.parents[2]) not in sys.path:  # the checkout's cnndsl, installed or not
        sys.path.insert(0, str(script.parents[2]))
    spec = importlib.util.spec_from_file_location("make_layers", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
