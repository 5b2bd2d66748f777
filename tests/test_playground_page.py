"""The playground page in a real browser: the site built by ``mkdocs build``, served on 127.0.0.1,
opened in headless Chromium (Debian's ``chromium``, driven by Playwright) with every other host
unreachable. One browser and one page serve every test of this module, in order.

Chromium, Playwright and npm (which the site's build takes Pyodide from) are what ``.ci/run``
installs: in CI (``CI=true``) a missing one fails the module with what to install; elsewhere
the module is skipped with that reason, as the site's own build test is without mkdocs.
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import quote

import pytest
from helpers import EXAMPLES, ROOT, load_script

from cnndsl.playground import answer, hover
from cnndsl.syntax import MAX_NESTING, MAX_SPEC_CHARS
from cnndsl.version import __version__

pytestmark = pytest.mark.slow

bench = load_script(ROOT / "benchmarks" / "playground.py", "playground_bench")
MODEL1 = (EXAMPLES / "model1.cnn").read_text("utf-8")
MODEL3_TITLE = (EXAMPLES / "model3_title.cnn").read_text("utf-8")


def _missing() -> list[str]:
    missing = []
    if bench.chromium() is None:
        missing.append("Chromium (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright's Python package (the dev extra)")
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
    except ImportError:
        missing.append("mkdocs (the docs extra)")
    if shutil.which("npm") is None and not bench.pyodide_cached():
        missing.append("npm (Debian: apt-get install npm), which the site's build takes Pyodide from")
    return missing


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = _missing()
    if missing:
        message = "the playground's browser test needs " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; .ci/run installs them")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    site = bench.build_site(tmp_path_factory.mktemp("site") / "site")
    with bench.serve(site) as base, sync_playwright() as playwright:
        opened = bench.Browser(playwright, bench.chromium())
        opened.base = base
        opened.open(base + "playground/")
        try:
            yield opened
        finally:
            opened.close()
    assert opened.elsewhere == [], f"the page asked other hosts for {opened.elsewhere}"


@pytest.fixture
def page(browser):
    """The page, its console and exceptions checked clean after each test."""
    yield browser.page
    assert browser.errors == [], browser.errors
    assert browser.page.evaluate("document.getElementById('pg-status').dataset.state") in ("ok", "error")


def _type(browser, text: str) -> dict:
    browser.page.fill("#pg-spec", text)
    return browser.settle()


def _svg_text(svg: str) -> str:
    """The text an SVG document holds, as the browser reads it (tags dropped, entities read)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", svg.split("?>", 1)[1]))


def _fragment(text: str) -> str:
    return quote(text, safe=bench.URI_SAFE)


def test_the_page_starts_offline_with_the_core_package_and_shows_its_version(browser, page):
    info = page.evaluate("window.cnndslPlayground.info")
    assert info["version"] == __version__ and info["loaded"] == ""  # no numpy, keras, tensorflow, torch, lark
    assert page.text_content("#pg-version").startswith(f"cnndsl {__version__} on Pyodide {bench.pyodide_version()}")
    assert page.input_value("#pg-spec") == "" and page.is_hidden("#pg-note")
    assert page.is_visible("#pg-scale-field") and page.is_hidden("#pg-hover")  # nothing hovered yet


def test_model1_shows_its_parameters_summary_picture_and_canonical_text(browser, page):
    shown = _type(browser, MODEL1)
    expected = answer(MODEL1)
    assert shown["total_params"] == 240380 and "240,380 parameters" in page.text_content("#pg-status")
    assert page.text_content("#pg-summary") == expected["summary"]
    assert page.text_content("#pg-canonical") == expected["canonical"]
    assert page.locator("#pg-picture > svg").count() == 1 and page.locator("#pg-picture svg text").count() > 9
    assert page.text_content("#pg-picture svg").strip() == _svg_text(expected["svg"]).strip()


def test_the_caret_on_a_layer_shows_the_language_servers_hover(browser, page):
    _type(browser, MODEL1)
    offset = MODEL1.index("CN(38") + 3
    page.evaluate("offset => document.getElementById('pg-spec').setSelectionRange(offset, offset)", offset - 1)
    page.press("#pg-spec", "ArrowRight")
    page.wait_for_function("document.getElementById('pg-hover').textContent.includes('output 16×16×38')")
    assert page.text_content("#pg-hover") == json.loads(hover(json.dumps({"spec": MODEL1, "offset": offset})))["text"]


def test_model3_as_its_title_writes_it_shows_the_error_with_its_carets(browser, page):
    _type(browser, MODEL3_TITLE)
    shown = page.text_content("#pg-diagnostics")
    assert shown == answer(MODEL3_TITLE)["diagnostics"]
    assert "16 |     -> CN(150)\n            ^^^^^^^" in shown and "1 error" in page.text_content("#pg-status")
    assert page.locator("#pg-picture svg").count() == 1  # drawn up to its error
    assert page.evaluate("location.hash") == "#spec=" + _fragment(MODEL3_TITLE)


def test_a_link_reproduces_the_spec_and_its_fields(browser, page):
    page.fill("#pg-input", "32,32,3")
    page.fill("#pg-classes", "5")
    page.fill("#pg-task", "classify")
    first = _type(browser, "CN(8) -> MP(2) -> GAP()")
    url = page.url
    assert url.endswith("#spec=" + _fragment("CN(8) -> MP(2) -> GAP()") + "&input=32%2C32%2C3&classes=5&task=classify")
    page.goto("about:blank")
    browser.open(url)
    assert [page.input_value(f"#pg-{name}") for name in ("spec", "input", "classes", "task")] == [
        "CN(8) -> MP(2) -> GAP()", "32,32,3", "5", "classify"]  # fmt: skip
    assert browser.settle() == {**first, "ms": browser.settle()["ms"]}
    assert first["total_params"] == answer("CN(8) -> MP(2) -> GAP()", input="32,32,3", classes="5")["total_params"]


@pytest.mark.parametrize(
    ("fragment", "why"),
    [("#spec=%E0%A4%A", "not percent-encoded"), ("#model=CN(8)", 'unknown part "model"'),
     ("#spec=CN(8)&input=32x32", '"input" is not of the form H,W,C'), ("#input=1,1,1", "no spec=")],
)  # fmt: skip
def test_a_malformed_link_opens_an_empty_playground_with_a_note(browser, page, fragment, why):
    _type(browser, "CN(8) -> GAP()")
    page.evaluate("fragment => { location.hash = fragment; }", fragment)  # read as a link opened is
    browser.settle()
    note = page.text_content("#pg-note")
    assert page.is_visible("#pg-note") and why in note and "\n" not in note
    assert page.input_value("#pg-spec") == "" and page.input_value("#pg-input") == ""
    assert "the spec is empty" in page.text_content("#pg-diagnostics")


def test_a_thousand_layers_and_garbage_typed_in_a_row_leave_the_page_answering(browser, page):
    layers = "IN(8, 8, 1) -> " + " -> ".join(["BN()"] * 998) + " -> GAP()"
    for text in ("\x00\ufeff)))(((", "CN(" * 50, "@@@ -> | | ->", "CN(8, padding=sideways)", "é" * 1000, layers):
        page.fill("#pg-spec", text)  # each replaced before its check answers: only the last is shown
    assert browser.settle()["layers"] == 1000 and "1,000 layers" in page.text_content("#pg-status")
    for text in ("\x00\ufeff)))(((", "CN(" * 50, "@@@ -> | | ->"):
        shown = _type(browser, text)
        assert shown["ok"] is False and shown["diagnostics"] == answer(text)["diagnostics"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("CN(8) -> " * (MAX_SPEC_CHARS // 9 + 1) + "GAP()", f"{MAX_SPEC_CHARS:,} characters"),
     ("(" * (MAX_NESTING + 1) + "CN(8)" + ")" * (MAX_NESTING + 1), "nest")],
)  # fmt: skip
def test_too_long_or_too_deep_is_refused_with_the_checkers_message(browser, page, text, message):
    shown = _type(browser, text)
    assert message in page.text_content("#pg-diagnostics") and shown["diagnostics"] == answer(text)["diagnostics"]
    assert _type(browser, "CN(8) -> GAP()")["ok"]  # and the page answers on


def test_a_check_that_takes_too_long_is_stopped_and_the_page_answers_on(browser, page):
    page.evaluate("window.cnndslPlaygroundStuckMs = 200")  # the page's limit is 20 s
    page.fill("#pg-spec", "IN(8, 8, 1) -> BN() * 90000 -> GAP()")  # 90,000 layers: a second or more
    page.wait_for_function("document.getElementById('pg-note').textContent.includes('was stopped')")
    page.evaluate("window.cnndslPlaygroundStuckMs = 0")
    assert _type(browser, "CN(8) -> GAP()")["ok"] and page.input_value("#pg-spec") == "CN(8) -> GAP()"


def test_a_try_it_link_opens_its_spec(browser, page):
    page.goto(browser.base + "notation/graphs/")
    link = page.locator("a:has-text('try it')").first
    shown = page.locator("pre:has(+ p.try-it)").first.text_content()
    link.click()
    page.wait_for_function("window.cnndslPlayground && window.cnndslPlayground.first !== null")
    assert page.input_value("#pg-spec") == shown.strip("\n")
    assert browser.settle()["diagnostics"] == answer(shown.strip("\n"))["diagnostics"]
