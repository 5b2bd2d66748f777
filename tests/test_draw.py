"""Pictures: valid SVG holding every layer's label and shape as text, a failing spec drawn
up to its failing layer with the error, folded repeats, stable bytes, and the CLI."""

from __future__ import annotations

import importlib.util
import os
import xml.etree.ElementTree as ET

import pytest
from conftest import EXAMPLES, ROOT, run_cli

from cnndsl import LAYERS, SpecError, check
from cnndsl.backends.svg import KINDS, check_partial, draw, draw_spec, source_drawable
from cnndsl.errors import render
from cnndsl.inputs import read_models
from cnndsl.shapes import format_shape
from cnndsl.syntax import parse

SVG = "{http://www.w3.org/2000/svg}"
NOTEBOOK = ["model1", "model2", "model3"]
GOLDEN = ROOT / "tests" / "golden"


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.cnn").read_text()


def layer_groups(svg: str) -> list[ET.Element]:
    """The ``<g class="layer ...">`` elements, in document order (parsing proves the XML valid)."""
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{SVG}g") if g.get("class", "").split()[:1] == ["layer"]]


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def drawn_names(svg: str) -> list[str]:
    return [name for g in layer_groups(svg) for name in g.get("data-layers").split()]


@pytest.mark.parametrize("name", NOTEBOOK)
@pytest.mark.parametrize("style", ["boxes", "graph"])
def test_every_layer_is_drawn_once_with_its_text_and_shape(name, style):
    model = check(example(name))
    svg = draw(model, style, unfold=True)
    groups = layer_groups(svg)
    assert [g.get("data-layers") for g in groups] == [info.name for info in model.layers]
    for group, info in zip(groups, model.layers):
        shown = " ".join(texts(group))
        assert " ".join(info.layer.text.split()) in shown
        assert format_shape(info.output_shape) in shown
        assert (f"{info.params:,} params" in shown) == (info.params > 0)
        assert KINDS[info.code] in group.get("class").split()


@pytest.mark.parametrize("name", NOTEBOOK)
def test_the_pictures_layer_count_equals_the_checkers_folded_or_not(name):
    model = check(example(name))
    for unfold in (False, True):
        assert sorted(drawn_names(draw(model, unfold=unfold))) == sorted(info.name for info in model.layers)


def test_repeated_identical_layers_fold_into_one_drawn_copy_marked_with_the_count():
    spec = "IN(28,28,8)->CN(8,3,padding=same)*4->MP(2)->(CN(8,3,padding=same)->BN())*3->GAP()"
    model = check(spec)
    folded, unfolded = draw(model), draw(model, unfold=True)
    groups = layer_groups(folded)
    assert groups[0].get("data-layers") == "conv2d conv2d_1 conv2d_2 conv2d_3"
    assert [g.get("data-layers") for g in groups[2:4]] == [
        "conv2d_4 conv2d_5 conv2d_6",
        "batch_normalization batch_normalization_1 batch_normalization_2",
    ]
    shown = texts(ET.fromstring(folded))
    assert shown.count("×4") == 1 and shown.count("×3") == 1
    assert len(layer_groups(unfolded)) == len(model.layers) and "×4" not in texts(ET.fromstring(unfolded))


def test_layers_that_differ_in_shape_do_not_fold():
    model = check("CN(8)->CN(8)->CN(8)->FL()")  # each valid 3x3 shrinks the image
    assert len(layer_groups(draw(model))) == len(model.layers)
    model = check("CN(8,3,padding=same)*3->FL()")  # the first gets 1 channel, the others 8
    assert [g.get("data-layers") for g in layer_groups(draw(model))][:2] == ["conv2d", "conv2d_1 conv2d_2"]


def test_the_model3_title_is_drawn_up_to_its_failing_layer_with_the_error():
    text = example("model3_title")
    with pytest.raises(SpecError) as caught:
        check(text)
    error = caught.value.diagnostics[0]
    svg = draw(check_partial(parse(text), text))
    groups = layer_groups(svg)
    failing = groups[-1]
    assert "failed" in failing.get("class").split()
    assert [g for g in groups if "failed" in g.get("class").split()] == [failing]
    assert texts(failing)[0] == "CN(150)"
    assert " ".join(texts(failing)[1:]) == "error: " + error.message
    # the layers before it are the checker's layers of the spec cut just before the failing layer
    before = text[: error.span.start].rstrip().removesuffix("->") + "-> FL()"
    expected = [info.name for info in check(before).layers[:-2]]
    assert drawn_names(svg)[:-1] == expected and len(expected) == 13


@pytest.mark.parametrize(
    ("spec", "failing_text"),
    [
        ("CN(8)->FL()->CN(3)->DN(4)", "CN(3)"),  # a rank error: the layer was never inferred
        ("CN(8)->CN(8)", "DN(10, activation=softmax)"),  # the appended head gets a 4-D tensor
        ("CN(8,30)->CN(8)->FL()", "CN(8,30)"),  # a size error, later layers not drawn
    ],
)
def test_a_failing_spec_ends_at_its_first_error_marked_in_red(spec, failing_text):
    with pytest.raises(SpecError) as caught:
        check(spec)
    svg = draw_spec(spec)
    failing = layer_groups(svg)[-1]
    assert "failed" in failing.get("class").split()
    assert texts(failing)[0].split("  ")[0] == failing_text
    assert " ".join(texts(failing)[1:]) == "error: " + caught.value.diagnostics[0].message
    assert 'stroke="#d62728"' in ET.tostring(failing, encoding="unicode")


def test_a_spec_that_cannot_be_read_is_not_drawn():
    for spec in ("CN(8", "CN(0)->FL()", "XX(3)"):
        with pytest.raises(SpecError):
            draw_spec(spec)


def test_every_layer_code_has_a_kind_and_an_unknown_code_is_an_error():
    codes = {code for code, kind in LAYERS.items() if not kind.is_input}
    assert codes <= set(KINDS)
    from cnndsl.backends.svg import kind_of

    with pytest.raises(LookupError):
        kind_of("NOPE")


def test_text_is_escaped_and_stays_text():
    model = check(example("model1"))
    svg = draw(model, title='a<b>&"c"')
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == 'a<b>&"c"'
    assert 'a<b>&"c"' in texts(root)[0]


def test_characters_xml_cannot_hold_from_a_comment_are_replaced():
    spec = "CN(8, # a NUL \x00, a lone surrogate \ud800 and a <tag>\n 3) -> FL()"
    groups = layer_groups(draw_spec(spec))
    assert texts(groups[0])[0] == "CN(8, # a NUL \ufffd, a lone surrogate \ufffd and a <tag> 3)"[:35] + "…"


def test_the_same_model_gives_the_same_bytes_and_the_golden_picture():
    first = draw(check(example("model1")), title="model1")
    assert first == draw(check(example("model1")), title="model1")
    assert first.encode() == (GOLDEN / "draw_model1.svg").read_bytes()


def test_the_readme_pictures_are_what_draw_draws_today():
    spec = importlib.util.spec_from_file_location("make_images", ROOT / "docs" / "images" / "make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    drawn = module.pictures()
    assert drawn and set(drawn) == set(module.PICTURES)
    for name, text in drawn.items():
        assert (ROOT / "docs" / "images" / name).read_bytes() == text.encode("utf-8"), name
        assert f"docs/images/{name}" in (ROOT / "README.md").read_text()


def test_a_file_model_is_drawn_with_its_blocks(tmp_path):
    path = tmp_path / "nets.cnn"
    path.write_text("block stem = CN(8, 3) -> BN()\nsmall = stem * 2 -> MP(2) -> FL()\n")
    (source,) = read_models(f"{path}:small")
    svg = draw(source_drawable(source), title=source.label)
    assert drawn_names(svg)[:4] == ["conv2d", "batch_normalization", "conv2d_1", "batch_normalization_1"]


# --- the command line ---------------------------------------------------------------------


def test_draw_writes_an_svg_and_exits_0(tmp_path):
    out = tmp_path / "m.svg"
    result = run_cli("draw", str(EXAMPLES / "model1.cnn"), "-o", str(out))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"Wrote {out}\n"
    assert out.read_bytes() == (GOLDEN / "draw_model1.svg").read_bytes()


def test_draw_of_a_failing_spec_writes_the_picture_reports_the_error_and_exits_1(tmp_path):
    out = tmp_path / "t.svg"
    path = EXAMPLES / "model3_title.cnn"
    result = run_cli("draw", str(path), "-o", str(out))
    assert result.returncode == 1
    text = path.read_text()
    with pytest.raises(SpecError) as caught:
        check(text)
    assert result.stderr.strip() == render(caught.value.diagnostics, text, str(path))
    assert "failed" in layer_groups(out.read_text())[-1].get("class")


def test_draw_png_is_a_png_with_stable_bytes(tmp_path):
    outs = [tmp_path / "a.png", tmp_path / "b.png"]
    for out in outs:
        assert run_cli("draw", "CN(8)->MP(2)->FL()", "-o", str(out), "--style", "graph").returncode == 0
    data = outs[0].read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data == outs[1].read_bytes()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("picture.txt", "a picture is written as .svg or .png"),
        ("folder.svg", "exists and is not a regular file"),
        ("link.svg", "is a symbolic link"),
        ("missing/x.svg", "cannot write"),
    ],
)
def test_draw_refuses_a_bad_output_with_exit_2_and_writes_nothing(tmp_path, target, message):
    (tmp_path / "folder.svg").mkdir()
    (tmp_path / "kept.svg").write_text("kept")
    os.symlink(tmp_path / "kept.svg", tmp_path / "link.svg")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("draw", "CN(8)->FL()", "-o", str(tmp_path / target))
    assert result.returncode == 2
    assert result.stderr.startswith("cnndsl: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "kept.svg").read_text() == "kept"


def test_draw_of_an_unreadable_spec_exits_1_and_writes_nothing(tmp_path):
    out = tmp_path / "x.svg"
    result = run_cli("draw", "CN(8)->FL(", "-o", str(out))
    assert result.returncode == 1 and "<spec>:1:" in result.stderr and not out.exists()


def test_draw_fold_and_unfold_from_the_command_line(tmp_path):
    folded, unfolded = tmp_path / "f.svg", tmp_path / "u.svg"
    spec = "CN(8,3,padding=same)*3->FL()"
    assert run_cli("draw", spec, "-o", str(folded)).returncode == 0
    assert run_cli("draw", spec, "-o", str(unfolded), "--unfold").returncode == 0
    assert len(layer_groups(folded.read_text())) == 4  # CN, CN x2, FL, head
    assert len(layer_groups(unfolded.read_text())) == 5


def test_summary_svg_draws_the_layer_graph_beside_the_table(tmp_path):
    out = tmp_path / "s.svg"
    result = run_cli("summary", str(EXAMPLES / "model1.cnn"), "--svg", str(out))
    assert result.returncode == 0 and "Total params: 240,380" in result.stdout
    direct = tmp_path / "d.svg"
    assert run_cli("draw", str(EXAMPLES / "model1.cnn"), "--style", "graph", "-o", str(direct)).returncode == 0
    assert out.read_bytes() == direct.read_bytes()
    assert "conv2d: CN(72,(7,7))" in texts(ET.fromstring(out.read_text()))


def test_draw_imports_neither_tensorflow_nor_keras_nor_matplotlib_for_svg(tmp_path):
    code = (
        "import sys; from cnndsl.cli import main; "
        f"main(['draw', {str(EXAMPLES / 'model3_title.cnn')!r}, '-o', {str(tmp_path / 'x.svg')!r}]); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib', 'torch', 'jax') if m in sys.modules))"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
    assert (tmp_path / "x.svg").exists()
