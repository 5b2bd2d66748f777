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
