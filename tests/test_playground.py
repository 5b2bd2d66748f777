"""The playground's entry point (``cnndsl.playground``): what the documentation's page shows is
what the command line prints, and a request it cannot take is refused, never raised."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from helpers import EXAMPLES, ROOT, load_script, run_cli

from cnndsl.compiler import check
from cnndsl.inputs import file_models
from cnndsl.playground import answer, picture, respond
from cnndsl.report import summary_table
from cnndsl.syntax import MAX_NESTING, MAX_SPEC_CHARS

MODEL1 = (EXAMPLES / "model1.cnn").read_text("utf-8")
MODEL3_TITLE = (EXAMPLES / "model3_title.cnn").read_text("utf-8")
RESNET50 = (EXAMPLES / "resnet50.cnn").read_text("utf-8")
PLAIN = {"COLUMNS": ""}


@pytest.mark.parametrize("text", [MODEL1, MODEL3_TITLE, "CN(8) -> GAP() -> DN(5)", "CN(8) ->", "CN(8, 99) -> GAP()"])
def test_the_answer_is_what_check_summary_draw_and_fmt_print(tmp_path, text):
    shown = answer(text)
    checked = run_cli("check", text, env=PLAIN)
    assert shown["ok"] == (checked.returncode == 0)
    assert shown["diagnostics"] == checked.stderr.rstrip("\n")
    summary = run_cli("summary", text, env=PLAIN)
    assert shown["summary"] == (summary.stdout.rstrip("\n") if summary.returncode == 0 else None)
    drawn = run_cli("draw", text, "-o", str(tmp_path / "m.svg"))
    assert shown["svg"] == ((tmp_path / "m.svg").read_text("utf-8") if (tmp_path / "m.svg").exists() else None)
    (tmp_path / "m.cnn").write_text(text, "utf-8")
    formatted = run_cli("fmt", str(tmp_path / "m.cnn"))
    assert shown["canonical"] == ((tmp_path / "m.cnn").read_text("utf-8") if formatted.returncode == 0 else None)
    assert drawn.returncode == checked.returncode or shown["svg"] is None


def test_model1_resnet50_and_model3_as_the_page_shows_them():
    first = answer(MODEL1)
    assert (first["ok"], first["total_params"], first["output_shape"]) == (True, 240380, "(None, 10)")
    assert first["svg"].startswith("<svg") or first["svg"].startswith("<?xml")
    resnet = answer(RESNET50, input="224,224,3")
    assert (resnet["ok"], resnet["total_params"]) == (True, 25636712)
    said = run_cli("check", str(EXAMPLES / "resnet50.cnn"), "--input-shape", "224,224,3").stdout
    assert f"OK, {resnet['layers']} layers, 25,636,712 parameters, output {resnet['output_shape']}" in said
    failing = answer(MODEL3_TITLE)
    assert not failing["ok"] and failing["summary"] is None and failing["svg"] is not None
    assert (
        failing["problems"][0]["line"] == 16 and "kernel 5x5 needs an input of at least 5x5" in failing["diagnostics"]
    )
    assert "16 |     -> CN(150)\n            ^^^^^^^" in failing["diagnostics"]


def test_a_spec_file_checks_every_model_and_shows_the_last():
    text = "block pair = CN(8) -> CN(8)\nsmall = pair -> GAP()\nbroken = CN(8, 99) -> GAP()\nlast = pair -> FL()\n"
    shown = answer(text, input="16,16,1")
    assert (
        shown["ok"] is False and shown["total_params"] == answer("CN(8)->CN(8)->FL()", input="16,16,1")["total_params"]
    )
    assert "<spec>:3:10: error" in shown["diagnostics"]
    assert (
        answer("block pair = CN(8)")["diagnostics"] == "<spec>: error: no model to check: the text defines blocks only"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input": "32,32"}, "expected HEIGHT,WIDTH,CHANNELS such as 32,32,3"),
        ({"input": "0,1,1"}, "expected HEIGHT,WIDTH,CHANNELS such as 32,32,3"),
        ({"classes": "ten"}, "expected a class count from 1 to 1,000,000"),
        ({"task": "detect-everything"}, "task must be one of classify, segment"),
        ({"input": [32, 32, 3]}, "the input field must be text"),
    ],
)
def test_a_field_the_checker_cannot_take_is_the_command_lines_message(fields, message):
    shown = json.loads(respond(json.dumps({"spec": "CN(8) -> GAP()", **fields})))
    assert shown["ok"] is False and shown["summary"] is None
    assert shown["diagnostics"].startswith("cnndsl: error: ") and message in shown["diagnostics"]


FAMILY = "scale n(0.50, 0.25, 1024)\nscale s(0.50, 0.50, 1024)\nnet = CN(64, 3) -> CN(128, 3)*2 -> GAP()\n"


@pytest.mark.parametrize("scale", ["n", "s"])
def test_a_scale_field_checks_the_family_at_that_scale_as_the_command_line_does(scale):
    shown = answer(FAMILY, scale=scale)
    assert shown["ok"] is True
    model = check(file_models("spec", FAMILY, "spec")[-1], scale=scale)
    assert shown["total_params"] == model.total_params and shown["summary"] == summary_table(model)


def test_a_scale_the_file_does_not_have_is_refused_at_its_scale_lines():
    shown = answer(FAMILY, scale="x")
    assert shown["ok"] is False and "x" in shown["diagnostics"] and "n, s" in shown["diagnostics"]


@pytest.mark.parametrize("request_text", ["", "[1, 2]", "{", '{"spec": 5}', "[" * 100_000])
def test_a_request_that_is_not_one_is_refused(request_text):
    shown = json.loads(respond(request_text))
    assert shown["ok"] is False and shown["diagnostics"].startswith("cnndsl: error: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CN(8) -> " * (MAX_SPEC_CHARS // 9 + 1) + "GAP()", f"{MAX_SPEC_CHARS:,}"),
        ("(" * (MAX_NESTING + 1) + "CN(8)" + ")" * (MAX_NESTING + 1), "nest"),
        ("\x00\ufffe\u202e garbage ))((", "unexpected character"),
    ],
)
def test_too_long_too_deep_and_garbage_get_the_checkers_own_message(text, message):
    shown = answer(text)
    assert shown["ok"] is False and message in shown["diagnostics"]
    assert shown["diagnostics"] == run_cli("check", "-", input=text).stderr.rstrip("\n").replace("<stdin>", "<spec>")


def test_a_thousand_layers_check():
    shown = answer("IN(8, 8, 1) -> " + " -> ".join(["BN()"] * 998) + " -> GAP()")
    assert shown["ok"] and shown["layers"] == 1000


def test_the_entry_point_imports_only_the_standard_library_and_cnndsl():
    """As Pyodide runs it: every module outside the standard library and cnndsl refused."""
    script = (
        "import sys\n"
        "allowed = set(sys.stdlib_module_names) | {'cnndsl'}\n"
        "class Core:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] not in allowed:\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Core())\n"
        "import json\n"
        "from cnndsl.playground import respond, info\n"
        "answer = json.loads(respond(json.dumps({'spec': open(sys.argv[1]).read(), 'input': '224,224,3'})))\n"
        "assert answer['total_params'] == 25636712, answer\n"
        "print(json.loads(info())['version'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(EXAMPLES / "resnet50.cnn")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    from cnndsl.version import __version__

    assert done.stdout.strip() == __version__


def test_the_picture_asked_for_after_the_answer_is_the_answers_picture():
    whole = answer(MODEL3_TITLE, input="64,64,1")
    first = json.loads(respond(json.dumps({"spec": MODEL3_TITLE, "input": "64,64,1", "picture": False})))
    assert first["svg"] is None and {**first, "ms": 0} == {**whole, "svg": None, "ms": 0}
    assert json.loads(picture())["svg"] == whole["svg"] and json.loads(picture())["svg"] is None
    respond(json.dumps({"spec": "CN(8) ->", "picture": False}))
    assert json.loads(picture())["svg"] is None


# --- the "try it" links the site's build adds -----------------------------------------------------


@pytest.fixture(scope="module")
def hooks():
    pytest.importorskip("mkdocs", reason="the site's build hooks import mkdocs (the docs extra)")
    return load_script(ROOT / "docs" / "mkdocs_hooks.py", "mkdocs_hooks")


@pytest.mark.parametrize(
    ("block", "state"),
    [
        ("CN(32, 3) -> MP(2) -> GAP()\n", {"spec": "CN(32, 3) -> MP(2) -> GAP()"}),
        ("block b = CN(8)\nnet = b * 2 -> GAP()", {"spec": "block b = CN(8)\nnet = b * 2 -> GAP()"}),
        (MODEL3_TITLE, {"spec": MODEL3_TITLE.strip("\n")}),  # fails on shapes: shown to fail
        ("$ cnndsl check examples/model1.cnn\n<spec>: OK", {"spec": MODEL1}),
        ("$ cnndsl summary --classes 1000 --input-shape 64,64,3 examples/resnet50.cnn",
         {"spec": RESNET50, "classes": "1000", "input": "64,64,3"}),
        ('$ cnndsl check "CN(8)->GAP()"\n<spec>: OK', {"spec": "CN(8)->GAP()"}),
        ("... -> CN(8, 1) as p -> CN(8, 1)", None),  # a fragment
        ("CN(filters, kernel=3, strides=1)", None),  # a signature: values that do not check
        ("block b = CN(8)", None),  # blocks, no model
        ("$ cnndsl check examples/model1.cnn --max-params 200k", None),  # a budget the page has not
        ("$ cnndsl check a.cnn b.cnn", None),
        ("$ cnndsl run examples/model1.cnn", None),
        ("import cnndsl\ncnndsl.check('CN(8)')", None),
    ],
)  # fmt: skip
def test_a_code_block_gets_a_try_it_link_when_it_shows_one_spec_that_reads(hooks, block, state):
    assert hooks.shown_spec(block) == state


def test_a_link_carries_the_spec_as_encode_uri_component_writes_it(hooks):
    html = "<pre><code>CN(8) -&gt; GAP() # ü &amp; 'it'</code></pre>"
    link = hooks._try_link(html[5:-6], "../playground/")
    assert link == ('<p class="try-it"><a href="../playground/#spec=CN(8)%20-%3E%20GAP()%20%23%20%C3%BC%20%26%20'
                    "'it'\">try it</a></p>").replace("'it'", "&#x27;it&#x27;")  # fmt: skip


def test_a_hover_is_the_language_servers():
    from cnndsl.lsp.analysis import analyze_spec_file, describe_call
    from cnndsl.playground import hover
    from cnndsl.settings import Settings

    offset = MODEL1.index("CN(38")
    shown = json.loads(hover(json.dumps({"spec": MODEL1, "offset": offset + 2})))
    analysis = analyze_spec_file(MODEL1, Settings(), "spec")
    assert shown["text"] == describe_call(analysis.layer_at(offset), analysis)
    assert (shown["start"], "input 22×22×72 → output 16×16×38" in shown["text"]) == (offset, True)
    wide = json.loads(hover(json.dumps({"spec": MODEL1, "offset": offset, "input": "64,64,1"})))
    assert "input 58×58×72 → output 52×52×38" in wide["text"]
    assert json.loads(hover(json.dumps({"spec": MODEL1, "offset": 0})))["text"] is None  # a comment
    assert json.loads(hover("{"))["text"] is None and json.loads(hover("[1]"))["text"] is None


def test_the_pages_limit_on_a_check_is_the_one_the_limits_page_states():
    stuck = re.search(r"const STUCK_MS = (\d+);", (ROOT / "docs" / "playground" / "playground.js").read_text("utf-8"))
    limits = (ROOT / "docs" / "limits.md").read_text("utf-8")
    assert f"| a check in the playground | {int(stuck.group(1)) // 1000} s |" in limits
    assert f"has not answered in {int(stuck.group(1)) // 1000} seconds" in (ROOT / "docs" / "playground.md").read_text()
