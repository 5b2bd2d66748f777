"""``python -m cnndsl``: the command line (``cnndsl/__init__.py`` has already taken the
current directory off the module path, see there)."""

from cnndsl.cli import run

run()
