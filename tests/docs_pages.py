"""The documentation as the tests read it: the README, which is the landing page, and the
pages of the site under ``docs/`` (``mkdocs.yml``). A page is named by its path from the
repository root: ``"README.md"``, ``"docs/checking.md"``.
"""

from __future__ import annotations

import re
from functools import cache

from helpers import ROOT


def pages() -> list[str]:
    """Every page: the README, then each Markdown file of the site, in path order."""
    return ["README.md", *sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").rglob("*.md"))]


@cache
def page(path: str) -> str:
    """The text of one page."""
    return (ROOT / path).read_text("utf-8")


def everything() -> str:
    """Every page's text, one after another (for a claim that may be on any page)."""
    return "\n".join(page(path) for path in pages())


def _section_of(path: str, title: str) -> str | None:
    lines, level, fenced = [], None, False
    for line in page(path).splitlines(keepends=True):
        fenced ^= line.startswith("```")
        heading = re.match(r"(#+) ", line) if not fenced and not line.startswith("```") else None
        if level is None:
            text = line[heading.end() :].rstrip("\n") if heading else ""
            if heading and (text == title or text.startswith(title + ":")):
                level = len(heading.group(1))
        elif heading and len(heading.group(1)) <= level:
            break
        else:
            lines.append(line)
    return None if level is None else "".join(lines)


def section(path_or_title: str, title: str | None = None) -> str:
    """The text of a section, up to the next heading of its level or above.

    ``section(path, title)`` reads the page ``path``; ``section(title)`` finds the one page
    that has a section so headed, wherever the text has moved. A heading matches a title
    that is the whole heading, or the part before a colon (``Pictures: `cnndsl draw```).
    """
    if title is not None:
        found = _section_of(path_or_title, title)
        assert found is not None, f"no section {title!r} in {path_or_title}"
        return found
    found = {path: text for path in pages() if (text := _section_of(path, path_or_title)) is not None}
    assert len(found) == 1, f"section {path_or_title!r} is in {sorted(found) or 'no page'}"
    return next(iter(found.values()))


def transcripts(path: str = "README.md") -> list[str]:
    """Every command example of a page (the README by default) that shows its output.

    A ```console block, or an indented block whose first line is ``$ cnndsl ...``: commands
    after ``$ ``, each followed by what it prints.
    """
    text = page(path)
    fenced = re.findall(r"^```console\n(.*?)^```\n", text, re.M | re.S)
    indented = []
    for match in re.finditer(r"^( {4,})\$ cnndsl .*\n(?:\1.*\n|[ \t]*\n)*", text, re.M):
        lines = [line.removeprefix(match.group(1)) for line in match.group(0).rstrip("\n").splitlines()]
        indented.append("\n".join(lines).rstrip() + "\n")
    return fenced + indented


def all_transcripts() -> list[tuple[str, str]]:
    """``(page, block)`` for every command example of every page."""
    return [(path, block) for path in pages() for block in transcripts(path)]
