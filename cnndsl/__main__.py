"""``python -m cnndsl``: the command line.

``-m`` puts the current directory first on ``sys.path``. It is dropped before anything
else is imported, so that a file in the folder being checked (a ``json.py`` or
``difflib.py`` planted next to the specs) is never imported in place of a module that
cnndsl loads when it needs it: cnndsl reads and parses the files it checks, and runs
none of them.
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from cnndsl.cli import run  # noqa: E402

run()
