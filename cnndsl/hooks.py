"""Services a lower module asks for and a higher one provides.

A module never imports one of a higher rank (docs/architecture.md). Where a lower object
needs a higher module's service, it asks here, and the package (``cnndsl/__init__.py``,
which Python loads before any of its modules) has registered the provider:

- ``display(kind, value)``: a value's rich display in a notebook (a checked model, a
  spec's source, a training result, a comparison), as a MIME bundle; ``None`` where
  there is none. The notebook (:mod:`cnndsl.notebook`) draws it.
- ``live_plot(title)``: inside a notebook, a plot that training redraws after every
  epoch (``observer(label, then)`` and ``finish(table)``); else ``None``.
- ``read_architecture(text)``: an architecture file's JSON (``cnndsl emit --to json``)
  as ``(spec text, classes)`` (:mod:`cnndsl.backends.json_ir`).

Each is ``None`` until provided; nothing here imports anything.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

display: Callable[[str, Any], dict | None] | None = None
live_plot: Callable[[str], Any] | None = None
read_architecture: Callable[[Any], tuple[str, int]] | None = None


def shown(kind: str, value: object) -> dict | None:
    """``value``'s display as ``kind`` (``model``, ``source``, ``train``, ``comparison``), or None."""
    return None if display is None else display(kind, value)


def plot(title: str):
    """A live plot of training when one is provided (in a notebook), else None."""
    return None if live_plot is None else live_plot(title)
