"""MkDocs hooks (``hooks:`` in mkdocs.yml): where GitHub and MkDocs read one Markdown text differently,
the listings written from the layer table, the playground's runtime, and its "try it" links."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from hashlib import sha256
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the checkout's cnndsl, installed or not
    sys.path.insert(0, str(ROOT))

PYODIDE_VERSION = "0.29.3"
PYODIDE_SHA256 = "924f3167d6bf5e553bda392615eaa82edd82a9cffc32a1cc49853a926b148c5c"
"""npm's ``pyodide`` package at that version, as ``npm pack`` fetches it."""
PYODIDE_FILES = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
"""What the playground's worker loads of the package: the runtime and the standard library, no packages."""
PYODIDE_CACHE = ROOT / "build" / "pyodide"

TRY_PAGES = ("index.md", "notation/index.md", "notation/graphs.md", "notation/applications.md", "checking.md")
"""The pages whose specs get a "try it" link to the playground."""
PLAYGROUND = "playground/"
URI_SAFE = "-_.!~*'()"
"""What JavaScript's ``encodeURIComponent`` leaves as it is, besides letters and digits."""
WHEEL_SOURCES = ("pyproject.toml", "README.md", "cnndsl", "grammar")
"""What the wheel is built from (a copy, so that a build beside it never shares its build folder)."""


def _build_error(message: str) -> Exception:
    """The playground's runtime could not be put in the site (no npm, a tarball of other contents): an
    error MkDocs reports as one line (mkdocs is imported only when the site is built)."""
    from mkdocs.exceptions import PluginError

    return PluginError(message)


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

    script = Path(__file__).with_name("notation") / "make_layers.py"
    spec = importlib.util.spec_from_file_location("make_layers", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()


# --- "try it" links ---------------------------------------------------------------------------------

CODE_BLOCK = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S)
COMMAND = re.compile(r"^\$ cnndsl (?:check|summary|draw) (.*)$", re.M)
FLAGS = {"--input-shape": "input", "--classes": "classes", "--task": "task"}
IGNORED_FLAGS = {"-o": True, "--output": True, "--style": True, "--json": False, "--unfold": False}
"""Other flags a shown command may carry, and whether each takes a value; a command with any other has no link."""


def on_page_content(html_text: str, page, **kwargs) -> str:
    """Every code block of a :data:`TRY_PAGES` page that shows a spec (or a ``cnndsl check``, ``summary``
    or ``draw`` of one spec or example) is followed by a link that opens it in the playground, and
    every table row naming an example and its input size links the example."""
    if page.file.src_uri not in TRY_PAGES:
        return html_text
    playground = "../" * page.url.count("/") + PLAYGROUND
    html_text = _example_rows(html_text, playground)
    return CODE_BLOCK.sub(lambda block: block.group(0) + _try_link(block.group(1), playground), html_text)


def _try_link(code_html: str, playground: str) -> str:
    state = shown_spec(html.unescape(re.sub(r"<[^>]+>", "", code_html)))
    if state is None:
        return ""
    return f'<p class="try-it"><a href="{html.escape(playground + "#" + _fragment(state))}">try it</a></p>'


def shown_spec(text: str) -> dict[str, str] | None:
    """The playground's state (``spec`` and any of ``input``, ``classes``, ``task``) for a code block's
    text: a spec or spec file that reads, whose values check (shapes may fail: that is the point of
    showing some), or a console line checking, summarising or drawing one spec or one of the examples."""
    command = COMMAND.search(text)
    state = _command_state(command.group(1)) if command else {"spec": text.strip("\n")}
    return state if state is not None and _reads(state["spec"]) else None


def _command_state(arguments: str) -> dict[str, str] | None:
    try:
        words = shlex.split(arguments)
    except ValueError:
        return None
    state, files = {}, []
    while words:
        word = words.pop(0)
        if word in FLAGS and words:
            state[FLAGS[word]] = words.pop(0)
        elif word in IGNORED_FLAGS:
            del words[: IGNORED_FLAGS[word]]
        elif word.startswith("-"):
            return None
        else:
            files.append(word)
    if len(files) != 1:
        return None
    path = ROOT / files[0]
    if path.parent == ROOT / "examples" and path.suffix == ".cnn" and path.is_file():
        return {"spec": path.read_text("utf-8"), **state}
    return None if "/" in files[0] or files[0].endswith(".cnn") else {"spec": files[0], **state}


ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
EXAMPLE_CELL = re.compile(r"<code>(examples/\w+\.cnn)</code>")
SIZE_CELL = re.compile(r"<td>(\d+)x(\d+)x(\d+)</td>")


def _example_rows(html_text: str, playground: str) -> str:
    """A table row naming an example file and an input size links the file, checked at that size."""

    def linked(row: re.Match) -> str:
        example, size = EXAMPLE_CELL.search(row.group(1)), SIZE_CELL.search(row.group(1))
        if example is None or size is None:
            return row.group(0)
        state = {"spec": (ROOT / example.group(1)).read_text("utf-8"), "input": ",".join(size.groups())}
        link = f' <a class="try-it" href="{html.escape(playground + "#" + _fragment(state))}">try it</a>'
        return row.group(0).replace(example.group(0), example.group(0) + link, 1)

    return ROW.sub(linked, html_text)


def _fragment(state: dict[str, str]) -> str:
    """The playground's URL fragment, each value as JavaScript's ``encodeURIComponent`` writes it."""
    return "&".join(f"{key}={quote(value, safe=URI_SAFE)}" for key, value in state.items())


def _reads(text: str) -> bool:
    from cnndsl.errors import SpecError
    from cnndsl.inputs import file_models

    sources = file_models("<spec>", text, "spec")
    try:
        for source in sources:
            source.check_values()
    except SpecError:
        return False
    return bool(sources)


# --- the playground's runtime -------------------------------------------------------------------------


def on_post_build(config, **kwargs) -> None:
    """The playground's runtime in the built site: the cnndsl wheel, built from this checkout, and
    Pyodide's runtime from its npm package at :data:`PYODIDE_VERSION`; nothing is fetched from
    another host when the site is read."""
    target = Path(config["site_dir"]) / PLAYGROUND
    target.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(target)
    vendor_pyodide(target / "pyodide")
    runtime = {"wheel": wheel.name, "pyodide": PYODIDE_VERSION}
    (target / "runtime.json").write_text(json.dumps(runtime), "utf-8")


def build_wheel(target: Path) -> Path:
    """The cnndsl wheel of this checkout, built into ``target`` (without the network when setuptools is here)."""
    import importlib.util

    for old in target.glob("cnndsl-*.whl"):
        old.unlink()
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    with tempfile.TemporaryDirectory() as work:
        for name in WHEEL_SOURCES:
            source, copy = ROOT / name, Path(work) / name
            if source.is_dir():
                shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, copy)
        command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(target), work]
        built = subprocess.run(command, capture_output=True, text=True)
        if built.returncode != 0:
            raise _build_error(f"building the cnndsl wheel failed:\n{built.stdout}{built.stderr}")
    (wheel,) = target.glob("cnndsl-*.whl")
    return wheel


def vendor_pyodide(target: Path) -> None:
    """Pyodide's runtime files, from npm's ``pyodide`` package (kept under ``build/pyodide``), into ``target``."""
    tarball = pyodide_tarball()
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        for name in PYODIDE_FILES:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise _build_error(f"{tarball} holds no package/{name}")
            (target / name).write_bytes(member.read())


def pyodide_tarball() -> Path:
    """npm's ``pyodide`` package at the pinned version, fetched once with ``npm pack`` and checked by its digest."""
    tarball = PYODIDE_CACHE / f"pyodide-{PYODIDE_VERSION}.tgz"
    if not tarball.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise _build_error(
                f"the playground needs Pyodide {PYODIDE_VERSION} from npm's pyodide package: install npm "
                f"(Debian: apt-get install npm), or put `npm pack pyodide@{PYODIDE_VERSION}`'s tarball at {tarball}"
            )
        PYODIDE_CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=PYODIDE_CACHE) as work:  # moved in whole: a build beside never reads half
            command = [npm, "pack", f"pyodide@{PYODIDE_VERSION}", "--pack-destination", work]
            packed = subprocess.run(command, capture_output=True, text=True, cwd=work)
            if packed.returncode != 0 or not (Path(work) / tarball.name).is_file():
                raise _build_error(f"npm pack pyodide@{PYODIDE_VERSION} failed:\n{packed.stdout}{packed.stderr}")
            os.replace(Path(work) / tarball.name, tarball)
    digest = sha256(tarball.read_bytes()).hexdigest()
    if digest != PYODIDE_SHA256:
        tarball.unlink()
        raise _build_error(f"{tarball.name}'s digest is {digest}, not the pinned {PYODIDE_SHA256}")
    return tarball
