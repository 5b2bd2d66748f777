"""The documentation site: the README as its landing page, the pages under ``docs/`` that
``mkdocs.yml`` lays out, the layer reference written from the layer table, and
``mkdocs build --strict`` itself.

(The pages' command examples and doctests, and the claims of each section, are tested in
``tests/test_readme.py`` and beside the code they describe.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from urllib.parse import unquote

import pytest
import tomllib
from docs_pages import everything, page, pages, section, transcripts
from helpers import ROOT, load_script

from cnndsl.layers import ACTIVATIONS, LAYERS

README = page("README.md")


def _reference_script():
    return load_script(ROOT / "docs" / "notation" / "make_layers.py", "make_layers")


def _nav_pages(entries) -> list[str]:
    found = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        found += _nav_pages(value) if isinstance(value, list) else [value]
    return found


def hooks():
    """The site's build hooks, ``docs/mkdocs_hooks.py``."""
    return load_script(ROOT / "docs" / "mkdocs_hooks.py", "mkdocs_hooks")


def _mkdocs_config() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


# --- the layer reference ----------------------------------------------------------------


def test_the_layer_reference_is_what_the_layer_table_writes_today():
    assert page("docs/notation/layers.md") == _reference_script().reference(), "run python docs/notation/make_layers.py"


@pytest.mark.parametrize("name", ["docs/notation/index.md", "docs/interop/from-torch.md"])
def test_every_listing_of_the_codes_is_what_the_layer_table_writes_today(name):
    script = _reference_script()
    listing = script.GENERATED[name]()
    assert f"<!-- codes -->\n{listing}\n<!-- /codes -->" in page(name), "run python docs/notation/make_layers.py"
    assert [f"`{code}`" in listing for code in LAYERS].count(False) == 0


def test_every_code_of_the_layer_table_is_in_the_reference_with_its_keras_class_and_arguments():
    text = page("docs/notation/layers.md")
    rows = dict(re.findall(r"^\| \[`([A-Z][A-Z0-9]*)`\]\(#\w+\) \| ([\w ]+) \|", text, re.M))
    assert rows == {code: "the input" if kind.is_input else kind.keras_class for code, kind in LAYERS.items()}
    for code, kind in LAYERS.items():
        body = section("docs/notation/layers.md", f"`{code}`")
        assert f"    {kind.signature()}\n" in body
        arguments = re.findall(r"^\| `(\w+)` \| (.*?) \|", body, re.M)
        assert [name for name, _ in arguments] == list(kind.param_names), code
        for keras in kind.keras:
            assert keras.name in body, (code, keras.name)
    listed = re.findall(r"`(\w+)`", section("docs/notation/layers.md", "Activations").split("\n\n")[-1])
    assert listed == list(ACTIVATIONS)


def test_the_reference_follows_the_table_when_a_code_is_added(monkeypatch):
    """A code added to the layer table appears in the reference the script writes."""
    from cnndsl import layers

    new = layers.LayerType("XX", "Madeup2D", "a made-up layer", (layers.Param("width", layers.count(), 4),))
    monkeypatch.setitem(layers.LAYERS, "XX", new)
    written = _reference_script().reference()
    assert "| [`XX`](#xx) | Madeup2D | `XX(width=4)` |" in written
    assert "## `XX`" in written and "| `width` | `4` | a whole number from 1 to 1,000,000 |" in written


# --- the site ---------------------------------------------------------------------------


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page():
    navigation = _nav_pages(_mkdocs_config()["nav"])
    assert sorted(navigation) == sorted(path.removeprefix("docs/") for path in pages() if path != "README.md")
    assert len(navigation) == len(set(navigation))


def test_the_site_needs_no_network():
    """The theme's web fonts are off and no plugin that fetches (social cards, privacy) is on."""
    config = _mkdocs_config()
    assert config["theme"]["name"] == "material" and config["theme"]["font"] is False
    assert config["plugins"] == ["search"]


def test_the_docs_extra_installs_mkdocs_and_dev_includes_it():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {re.split(r"[<>=]", spec)[0] for spec in extras["docs"]} == {"mkdocs", "mkdocs-material"}
    assert "cnndsl[docs]" in extras["dev"]


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    """``mkdocs build --strict`` passes: every link and anchor resolves, every page is in the nav."""
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("mkdocs is not installed here (the docs extra); CI installs it and runs this")
    if shutil.which("npm") is None and not (hooks().PYODIDE_CACHE / f"pyodide-{hooks().PYODIDE_VERSION}.tgz").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("the site's build takes Pyodide from npm: .ci/run installs Debian's npm")
        pytest.skip("npm is not installed here, which the site's build takes Pyodide from; CI installs it")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (site / "notation" / "layers" / "index.html").read_text("utf-8")
    assert all(f'id="{code.lower()}"' in reference for code in LAYERS)
    # The hook: a pipe escaped for GitHub in a table's code span reads as a pipe.
    notation = (site / "notation" / "index.html").read_text("utf-8")
    assert "<code>ADD(A | B | ...)</code>" in notation and "\\|" not in notation
    assert (site / "images" / "model1.svg").is_file() and not list(site.rglob("*.py"))
    built = [path for path in site.rglob("*.html") if "Every layer code" in path.read_text("utf-8")]
    assert built == [site / "notation" / "layers" / "index.html"]
    # The playground's runtime: this checkout's wheel and Pyodide's files, nothing from elsewhere.
    runtime = json.loads((site / "playground" / "runtime.json").read_text("utf-8"))
    with zipfile.ZipFile(site / "playground" / runtime["wheel"]) as wheel:
        assert (ROOT / "cnndsl" / "playground.py").read_bytes() == wheel.read("cnndsl/playground.py")
    assert sorted(path.name for path in (site / "playground" / "pyodide").iterdir()) == sorted(hooks().PYODIDE_FILES)
    assert '<script src="playground.js"></script>' in (site / "playground" / "index.html").read_text("utf-8")
    # "try it" under the specs: the landing page's first (the notebook's Model 1) opens it
    landing = (site / "index.html").read_text("utf-8")
    first = re.search(r'<p class="try-it"><a href="playground/#spec=([^"]+)">try it</a></p>', landing)
    assert first is not None and unquote(first.group(1)).startswith("CN(72,(7,7)) -> CN(38,(7,7))")


# --- the landing page -------------------------------------------------------------------


def test_the_readme_is_a_landing_page():
    lines = README.splitlines()
    assert len(lines) <= 250
    # What cnndsl is, then Model 3's title error as `cnndsl check` prints it, in the first screen.
    first_screen = "\n".join(lines[:40])
    (shown,) = [block for block in transcripts("README.md") if "model3_title" in block]
    assert shown.startswith("$ cnndsl check examples/model3_title.cnn\n") and shown in first_screen
    assert "^^^^^^^" in shown and "help: " in shown
    # A picture, drawn by docs/images/make.py.
    assert re.search(r"!\[[^]]*\]\(docs/images/\w+\.svg\)", README)


def test_the_quick_start_is_the_commands_ci_runs():
    commands = [line.strip() for line in section("README.md", "Quick start").splitlines() if line.startswith("    ")]
    assert commands == [
        'python -m venv .venv && . .venv/bin/activate && pip install -e ".[tensorflow]" && cnndsl run examples/model1.cnn --epochs 2',
        'python -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && python -m compileall -q cnndsl && pytest',
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].split("&& ", 1)[1] in ci


def test_the_readme_tours_the_tool_and_links_into_the_docs():
    tour = section("README.md", "A short tour")
    for topic in ("Check.", "Draw.", "Run.", "Sweep.", "In the editor.", "PyTorch"):
        assert f"**{topic}" in tour, topic
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", README)
    assert len(set(links)) >= 15
    for link in links:
        assert (ROOT / link).is_file(), link
    assert 'pip install -e ".[docs]" && mkdocs serve' in README


def test_the_pages_link_only_to_what_exists():
    """Links between pages resolve (mkdocs checks them too, where it is installed)."""
    for path in pages():
        folder = (ROOT / path).parent
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page(path)):
            assert (folder / target).exists(), f"{path}: {target}"


def test_no_page_still_points_at_the_old_readme_sections():
    assert "of this README" not in everything() and "(#beyond-one-machine)" not in everything()


def test_a_section_is_found_by_its_title_wherever_its_text_has_moved():
    assert section("Outputs") == section("docs/training.md", "Outputs")
    assert section("Pictures") == section("docs/pictures.md", "Pictures")  # the part before the colon
    with pytest.raises(AssertionError, match="no page"):
        section("A section no page has")


def test_the_doctests_of_every_page_run_in_the_suite():
    """pytest collects the README and every page under docs/ as doctest files."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert {"README.md", "docs"} <= set(options["testpaths"]) and "--doctest-glob='*.md'" in options["addopts"]
    with_doctests = [path for path in pages() if re.search(r"^>>> ", page(path), re.M)]
    assert len(with_doctests) >= 4 and all(path.startswith("docs/") for path in with_doctests)


def test_getting_started_lists_every_extra_and_what_dev_leaves_out():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    table = section("docs/getting-started.md", "Install")
    listed = {name for cell in re.findall(r"^\| ([^|]+) \|", table, re.M) for name in re.findall(r"`([\w-]+)`", cell)}
    assert listed == set(extras)

    def packages(extra: str) -> set[str]:
        found = set()
        for spec in extras[extra]:
            nested = re.match(r"cnndsl\[([\w,]+)\]", spec)
            found |= (
                set().union(*map(packages, nested.group(1).split(","))) if nested else {re.split(r"[<>=;]", spec)[0]}
            )
        return found

    left_out = {extra for extra in set(extras) - {"dev"} if not packages(extra) <= packages("dev")}
    assert left_out == {"bench"}
