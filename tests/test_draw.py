"""Pictures: valid SVG holding every layer's label and shape as text, a failing spec drawn
up to its failing layer with the error, folded repeats, stable bytes, and the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from helpers import EXAMPLES, ROOT, load_script, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_strategies import graph_specs

from cnndsl import LAYERS, SpecError, check
from cnndsl.backends.svg import COLOURS, check_partial, draw, draw_spec, source_drawable
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


def said(element: ET.Element, role: str) -> str:
    """The lines of a label that say one thing (spec, shape, params, error), joined by spaces."""
    return " ".join(t.text or "" for t in element.iter(f"{SVG}text") if t.get("class") == role)


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
        assert info.layer.type.kind in group.get("class").split()


MODERN = [
    "IN(None, None, 4) -> NRM() -> RSC(0.5, offset=-1) -> CN(8, 3, groups=2, padding=same) -> LN() -> "
    "ADD(ID() | DW(3, strides=2, dilation=2, padding=same) -> CR(1) -> ZP(1) -> LS(), scale=0.2) -> DP(0.2, per_example=true) -> GAP()",
    "IN(8, 8, 3) -> CN(8, 1) -> GAP(keepdims=true) -> CN(3, 1, activation=linear) -> RS(3) -> ACT(softmax)",
]


@pytest.mark.parametrize("text", MODERN)
@pytest.mark.parametrize("style", ["boxes", "graph"])
def test_the_codes_of_modern_cnns_are_drawn_with_their_kind_and_shape(text, style):
    model = check(text)
    groups = layer_groups(draw(model, style, unfold=True))
    assert [g.get("data-layers") for g in groups] == [info.name for info in model.layers]
    for group, info in zip(groups, model.layers):
        assert format_shape(info.output_shape) in " ".join(texts(group))
        assert info.layer.type.kind in group.get("class").split()


def _front(group: ET.Element) -> tuple[float, float]:
    """(width, height) of a layer's first polygon: a slab's front face, or a bar."""
    points = [tuple(map(float, p.split(","))) for p in group.find(f"{SVG}polygon").get("points").split()]
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return max(xs) - min(xs), max(ys) - min(ys)


def test_a_slab_widens_with_its_spatial_size_thickens_with_its_channels_and_flat_outputs_are_bars():
    model = check("CN(8, 3) -> CN(64, 3) -> MP(2) -> GAP() -> DN(16)", input_shape=(64, 64, 3))
    groups = layer_groups(draw(model, unfold=True))
    conv8, conv64, pool, gap, dense = (_front(g) for g in groups[:5])
    assert conv64[1] > conv8[1] and conv64[0] < conv8[0]  # more channels; 60 wide, not 62
    assert pool[0] < conv64[0] and pool[1] == conv64[1]  # half the size, the same channels
    assert [len(g.findall(f"{SVG}polygon")) for g in groups[:5]] == [3, 3, 3, 1, 1]
    assert gap[1] == dense[1] == 8 and dense[0] < gap[0]  # bars, 16 units narrower than 64


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
    model = check("CN(8,3,padding=same)->CN(8,3,padding=same)->CN(8,3,padding=same)->FL()")
    # written apart, the first (1 channel in) differs from the others (8 channels in)
    assert [g.get("data-layers") for g in layer_groups(draw(model))][:2] == ["conv2d", "conv2d_1 conv2d_2"]


def test_a_written_repetition_folds_even_where_shapes_change_and_says_from_what_to_what():
    model = check("CN(16, 3, padding=same) -> CAT(ID() | BN() -> ACT(relu) -> CN(8, 3, padding=same)) * 4 -> GAP()")
    groups = layer_groups(draw(model))
    cats = [g for g in groups if "merge" in g.get("class").split()]
    assert len(cats) == 1 and cats[0].get("data-layers") == "concatenate concatenate_1 concatenate_2 concatenate_3"
    assert said(cats[0], "shape") == "(None, 28, 28, 24) … (None, 28, 28, 48)"
    bn = next(g for g in groups if said(g, "spec") == "BN()")
    assert said(bn, "params") == "64 … 160 params"
    assert "×4" in texts(ET.fromstring(draw(model)))


def test_a_failing_spec_is_drawn_from_the_one_check_without_running_the_passes_again(monkeypatch):
    from cnndsl.passes.infer import Inferrer
    from cnndsl.passes.resolve import Resolver

    runs = []
    for cls in (Inferrer, Resolver):
        method = "infer" if cls is Inferrer else "resolve"
        real = getattr(cls, method)
        monkeypatch.setattr(
            cls, method, lambda self, *args, real=real, name=method: runs.append(name) or real(self, *args)
        )
    text = example("model3_title")
    drawable = check_partial(parse(text), text)
    assert drawable.failed is not None and runs == ["resolve", "infer"]


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
    assert said(failing, "spec") == "CN(150)"
    assert said(failing, "error") == "error: " + error.message
    assert said(failing, "shape") == ""
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
    assert said(failing, "spec").removesuffix(" (head)") == failing_text
    assert said(failing, "error") == "error: " + caught.value.diagnostics[0].message
    assert 'stroke="#d62728"' in ET.tostring(failing, encoding="unicode")


def test_a_spec_that_cannot_be_read_is_not_drawn():
    for spec in ("CN(8", "CN(0)->FL()", "XX(3)"):
        with pytest.raises(SpecError):
            draw_spec(spec)


def test_every_layer_codes_kind_has_a_colour_and_a_kind_without_one_is_an_error():
    kinds = {kind.kind for kind in LAYERS.values() if not (kind.is_input or kind.is_identity)}
    assert kinds <= set(COLOURS)
    from cnndsl.backends.svg import kind_of
    from cnndsl.records import replace

    info = check("CN(8)->FL()").layers[0]
    odd = replace(info, layer=replace(info.layer, type=replace(info.layer.type, kind="odd")))
    with pytest.raises(LookupError):
        kind_of(odd)


def test_text_is_escaped_and_stays_text():
    model = check(example("model1"))
    svg = draw(model, title='a<b>&"c"')
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == 'a<b>&"c"'
    assert 'a<b>&"c"' in texts(root)[0]


def test_characters_xml_cannot_hold_from_a_comment_are_replaced():
    spec = "CN(8, # a NUL \x00, a lone surrogate \ud800 and a <tag>\n 3) -> FL()"
    groups = layer_groups(draw_spec(spec))
    assert said(groups[0], "spec") == "CN(8, # a NUL \ufffd, a lone surrogate \ufffd and a <tag> 3)"


def test_the_same_model_gives_the_same_bytes_and_the_golden_picture():
    text = (GOLDEN / "draw_model1.cnn").read_text()
    first = draw(check(text), title="draw_model1")
    assert first == draw(check(text), title="draw_model1")
    assert first.encode() == (GOLDEN / "draw_model1.svg").read_bytes()


def test_the_pictures_of_the_docs_are_what_draw_draws_today():
    from docs_pages import page, pages

    module = _pictures_script()
    drawn = module.pictures()
    assert drawn and set(drawn) == set(module.PICTURES)
    for name, text in drawn.items():
        drawn_now = text.encode("utf-8")
        assert (ROOT / "docs" / "images" / name).read_bytes() == drawn_now, f"{name}: run python docs/images/make.py"
        assert f"](images/{name})" in page("docs/pictures.md")
    # Every picture a page shows (the README's under docs/images/) is one of make.py's.
    shown = {name for path in pages() for name in re.findall(r"\]\((?:docs/|\.\./)?images/([\w.]+)\)", page(path))}
    assert shown == set(module.PICTURES)


def test_a_file_model_is_drawn_with_its_blocks(tmp_path):
    path = tmp_path / "nets.cnn"
    path.write_text("block stem = CN(8, 3) -> BN()\nsmall = stem * 2 -> MP(2) -> FL()\n")
    (source,) = read_models(f"{path}:small")
    svg = draw(source_drawable(source), title=source.label, unfold=True)
    assert drawn_names(svg)[:4] == ["conv2d", "batch_normalization", "conv2d_1", "batch_normalization_1"]
    folded = layer_groups(draw(source_drawable(source), title=source.label))
    assert [g.get("data-layers") for g in folded[:2]] == [
        "conv2d conv2d_1",
        "batch_normalization batch_normalization_1",
    ]


# --- graphs: merges, branches side by side ---------------------------------------------


def _pictures_script():
    """docs/images/make.py, which draws the README's pictures (the specs below are its own)."""
    return load_script(ROOT / "docs" / "images" / "make.py", "make_images")


RESIDUAL, INCEPTION = (lambda script: (script.RESIDUAL, script.INCEPTION))(_pictures_script())
CHAR = 0.602


def boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """Each layer group's extent (x0, y0, x1, y1) on the page: its shapes and its text, by
    its first layer's name."""
    extents = {}
    for group, dx, dy in _placed(ET.fromstring(svg), 0.0, 0.0):
        xs, ys = [], []
        for polygon in group.iter(f"{SVG}polygon"):
            for point in polygon.get("points").split():
                x, y = map(float, point.split(","))
                xs.append(x + dx)
                ys.append(y + dy)
        for text in group.iter(f"{SVG}text"):
            x, y, size = float(text.get("x")) + dx, float(text.get("y")) + dy, float(text.get("font-size", 12))
            width = len(text.text) * size * CHAR
            left = x - width / 2 if text.get("text-anchor") == "middle" else x
            xs += [left, left + width]
            ys += [y - size * 0.8, y + size * 0.25]
        extents[group.get("data-layers").split()[0]] = (min(xs), min(ys), max(xs), max(ys))
    return extents


def _placed(element: ET.Element, dx: float, dy: float):
    """Layer groups with their page offsets (the translations of the groups they sit in)."""
    for child in element:
        x, y = dx, dy
        if child.get("transform"):
            shift = child.get("transform").removeprefix("translate(").removesuffix(")")
            x, y = dx + float(shift.split(",")[0]), dy + float(shift.split(",")[1])
        if child.get("class", "").split()[:1] == ["layer"]:
            yield child, x, y
        else:
            yield from _placed(child, x, y)


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("spec", [RESIDUAL, INCEPTION, example("model3"), example("model2")])
@pytest.mark.parametrize("style", ["boxes", "graph"])
@pytest.mark.parametrize("unfold", [False, True])
def test_no_two_layers_boxes_or_labels_overlap(spec, style, unfold):
    extents = list(boxes(draw(check(spec), style, unfold)).items())
    assert len(extents) >= 10
    for n, (name, box) in enumerate(extents):
        for other, other_box in extents[n + 1 :]:
            assert not overlap(box, other_box), (name, other)
    root = ET.fromstring(draw(check(spec), style, unfold))
    width, height = float(root.get("width")), float(root.get("height"))
    assert all(min(box[0], box[1]) >= 0 and box[2] <= width and box[3] <= height for _, box in extents)


@pytest.mark.parametrize("style", ["boxes", "graph"])
def test_a_merges_branches_stand_side_by_side_and_the_merge_under_them(style):
    model = check(INCEPTION)
    extents = boxes(draw(model, style))
    names: dict[str, str] = {}
    for info in sorted(model.layers, key=lambda info: info.layer.span.start):
        names.setdefault(info.layer.text, info.name)  # the first written
    firsts = [extents[names[text]] for text in ("CN(16, 1)", "CN(8, 1)", "MP(3, strides=1, padding=same)")]
    assert firsts[0][2] < firsts[1][0] and firsts[1][2] < firsts[2][0]  # left to right
    assert all(box[1] < firsts[0][3] and firsts[0][1] < box[3] for box in firsts)  # at one height
    cat = extents[next(info.name for info in model.layers if info.code == "CAT")]
    assert cat[1] > max(box[3] for box in extents.values() if box in firsts)


def test_a_graph_draws_every_layer_once_folded_or_not_with_merges_labelled_by_code():
    for spec in (RESIDUAL, INCEPTION):
        model = check(spec)
        for unfold in (False, True):
            svg = draw(model, unfold=unfold)
            assert sorted(drawn_names(svg)) == sorted(info.name for info in model.layers)
        merges = [g for g in layer_groups(draw(model, unfold=True)) if "merge" in g.get("class").split()]
        assert [said(g, "spec") for g in merges] == [info.code for info in model.layers if info.layer.type.merge]


def test_a_written_repetition_of_a_residual_block_folds_into_one_copy():
    model = check(RESIDUAL)
    svg = draw(model)
    assert "×3" in texts(ET.fromstring(svg))
    adds = [g.get("data-layers") for g in layer_groups(svg) if "ADD" in texts(g)]
    assert adds == ["add add_1 add_2", "add_3"]


@pytest.mark.parametrize(
    ("spec", "failing", "drawn"),
    [
        # the branches disagree: the merge fails, every branch is drawn
        ("CN(16,3,padding=same)->ADD(CN(16,3)->BN() | CN(8,1) | ID())->GAP()", "ADD", 5),
        # a rank error inside the first branch: the picture stops there
        ("CN(16,3,padding=same)->CAT(CN(16,3,padding=same)->FL()->CN(3) | CN(8,1)->MP(2) | ID())->GAP()", "CN(3)", 4),
        # a size error in the second branch: the first branch is drawn, not the third
        ("CN(8)->CAT(CN(8,1) | CN(8,30) | CN(8,1))->GAP()", "CN(8,30)", 3),
    ],
)
def test_a_failing_graph_is_drawn_up_to_its_failing_layer(spec, failing, drawn):
    with pytest.raises(SpecError) as caught:
        check(spec)
    groups = layer_groups(draw_spec(spec))
    marked = [g for g in groups if "failed" in g.get("class").split()]
    assert len(marked) == 1 and said(marked[0], "spec") == failing
    assert said(marked[0], "error") == "error: " + caught.value.diagnostics[0].message
    assert len(groups) == drawn


# --- the command line ---------------------------------------------------------------------


def test_draw_writes_an_svg_and_exits_0(tmp_path):
    out = tmp_path / "m.svg"
    result = run_cli("draw", str(GOLDEN / "draw_model1.cnn"), "-o", str(out))
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
        ("fifo.svg", "exists and is not a regular file"),
        ("missing/x.svg", "cannot write"),
    ],
)
def test_draw_refuses_a_bad_output_with_exit_2_and_writes_nothing(tmp_path, target, message):
    (tmp_path / "folder.svg").mkdir()
    (tmp_path / "kept.svg").write_text("kept")
    os.symlink(tmp_path / "kept.svg", tmp_path / "link.svg")
    os.mkfifo(tmp_path / "fifo.svg")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("draw", "CN(8)->FL()", "-o", str(tmp_path / target))
    assert result.returncode == 2
    assert result.stderr.startswith("cnndsl: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "kept.svg").read_text() == "kept" and (tmp_path / "link.svg").is_symlink()


def test_a_picture_too_tall_for_a_png_is_refused_with_exit_2_and_nothing_written(tmp_path):
    spec = " -> ".join(f"CN({n % 40 + 1}, 3, padding=same)" for n in range(1200))
    out = tmp_path / "tall.png"
    result = run_cli("draw", spec, "-o", str(out), "--unfold")
    assert result.returncode == 2 and "more than a PNG can take" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())


def test_draw_takes_one_model_of_a_file_by_name(tmp_path):
    path = tmp_path / "nets.cnn"
    path.write_text("small = CN(8) -> FL()\nwide = CN(64) -> GAP()\n")
    both = run_cli("draw", str(path), "-o", str(tmp_path / "x.svg"))
    assert both.returncode == 2 and "draw takes one: FILE:NAME" in both.stderr
    one = run_cli("draw", f"{path}:wide", "-o", str(tmp_path / "w.svg"))
    assert one.returncode == 0 and ET.fromstring((tmp_path / "w.svg").read_text()).find(f"{SVG}title").text == "wide"


def test_draw_of_an_unreadable_spec_exits_1_and_writes_nothing(tmp_path):
    out = tmp_path / "x.svg"
    result = run_cli("draw", "CN(8)->FL(", "-o", str(out))
    assert result.returncode == 1 and "<spec>:1:" in result.stderr and not out.exists()


def test_draw_fold_and_unfold_from_the_command_line(tmp_path):
    folded, unfolded = tmp_path / "f.svg", tmp_path / "u.svg"
    spec = "CN(8,3,padding=same)*3->FL()"
    assert run_cli("draw", spec, "-o", str(folded)).returncode == 0
    assert run_cli("draw", spec, "-o", str(unfolded), "--unfold").returncode == 0
    assert len(layer_groups(folded.read_text())) == 3  # CN x3, FL, head
    assert len(layer_groups(unfolded.read_text())) == 5


def test_summary_svg_draws_the_layer_graph_beside_the_table(tmp_path):
    out = tmp_path / "s.svg"
    result = run_cli("summary", str(EXAMPLES / "model1.cnn"), "--svg", str(out))
    assert result.returncode == 0 and "Total params: 240,380" in result.stdout
    direct = tmp_path / "d.svg"
    assert run_cli("draw", str(EXAMPLES / "model1.cnn"), "--style", "graph", "-o", str(direct)).returncode == 0
    assert out.read_bytes() == direct.read_bytes()
    first = check(example("model1")).layers[0]
    assert f"{first.name}: {first.layer.text}" in texts(ET.fromstring(out.read_text()))


def test_summary_svg_of_a_failing_spec_draws_it_and_reports_the_errors_once(tmp_path):
    out = tmp_path / "s.svg"
    result = run_cli("summary", str(EXAMPLES / "model3_title.cnn"), "--svg", str(out))
    assert result.returncode == 1 and result.stderr.count("error: CN(150)") == 1
    assert "failed" in layer_groups(out.read_text())[-1].get("class")
    unreadable = run_cli("summary", "CN(8)->", "--svg", str(tmp_path / "u.svg"))
    assert unreadable.returncode == 1 and "Traceback" not in unreadable.stderr
    assert not (tmp_path / "u.svg").exists()


def test_draw_takes_a_spec_literal_of_a_python_file(tmp_path):
    script = tmp_path / "train.py"
    script.write_text('import cnndsl\nmodel = cnndsl.compile_spec("CN(8, 3) -> MP(2) -> FL()", num_classes=4)\n')
    out = tmp_path / "p.svg"
    result = run_cli("draw", str(script), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert said(layer_groups(out.read_text())[-1], "spec").startswith("DN(4")


def test_a_png_without_matplotlib_is_a_usage_error_naming_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None; from cnndsl.cli import main; "
        f"sys.exit(main(['draw', 'CN(8)->FL()', '-o', {str(tmp_path / 'x.png')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert result.returncode == 2 and 'pip install "cnndsl[draw]"' in result.stderr
    assert not list(tmp_path.iterdir())


def test_draw_imports_neither_tensorflow_nor_keras_nor_matplotlib_for_svg(tmp_path):
    code = (
        "import sys; from cnndsl.cli import main; "
        f"main(['draw', {str(EXAMPLES / 'model3_title.cnn')!r}, '-o', {str(tmp_path / 'x.svg')!r}]); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib', 'torch', 'jax') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
    assert (tmp_path / "x.svg").exists()


# --- any graph: Hypothesis ------------------------------------------------------------------

LEAVES = ["CN(4, 3, padding=same)", "CN(8, 1)", "CN(4, 3)", "BN()", "ACT(relu)", "MP(2)", "DP(0.1)", "GAP()"]


@st.composite
def chains(draw, depth: int = 0) -> str:
    """A chain of layers and merges (nested up to two deep), often failing the check."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 2 and draw(st.booleans()):
            code = draw(st.sampled_from(["ADD", "CAT", "MUL"]))
            branches = draw(st.lists(st.one_of(st.just("ID()"), chains(depth + 1)), min_size=2, max_size=3))
            parts.append(f"{code}({' | '.join(branches)})")
        else:
            parts.append(draw(st.sampled_from(LEAVES)))
        if draw(st.integers(0, 5)) == 0:
            parts[-1] = f"({parts[-1]}) * 2"
    return " -> ".join(parts)


@settings(max_examples=60)
@given(chains(), st.booleans(), st.sampled_from(["boxes", "graph"]))
def test_any_graph_draws_every_checked_layer_once_without_overlaps(spec, unfold, style):
    spec = f"IN(16, 16, 4) -> {spec} -> GAP() -> DN(3)"
    try:
        model = check(spec, num_classes=3)
    except SpecError as error:
        if error.diagnostics[0].kind != "shape":
            return
        svg = draw_spec(spec, style, unfold, num_classes=3)
        marked = [g for g in layer_groups(svg) if "failed" in g.get("class").split()]
        assert len(marked) == 1 and said(marked[0], "error") == "error: " + error.diagnostics[0].message
    else:
        svg = draw(model, style, unfold)
        assert sorted(drawn_names(svg)) == sorted(info.name for info in model.layers)
    extents = list(boxes(svg).items())
    for n, (name, box) in enumerate(extents):
        for other, other_box in extents[n + 1 :]:
            assert not overlap(box, other_box), (name, other)


@settings(max_examples=60)
@given(graph_specs(), st.booleans())
def test_graphs_of_every_code_draw_as_the_checker_sees_them(drawn, unfold):
    spec, _, input_shape, classes, _ = drawn
    try:
        model = check(spec, input_shape, classes)
    except SpecError as error:
        if error.diagnostics[0].kind != "shape":
            with pytest.raises(SpecError):
                draw_spec(spec, input_shape=input_shape, num_classes=classes)
            return
        svg = draw_spec(spec, unfold=unfold, input_shape=input_shape, num_classes=classes)
        marked = [g for g in layer_groups(svg) if "failed" in g.get("class").split()]
        assert len(marked) == 1 and said(marked[0], "error") == "error: " + error.diagnostics[0].message
    else:
        svg = draw(model, unfold=unfold)
        assert sorted(drawn_names(svg)) == sorted(info.name for info in model.layers)
    extents = list(boxes(svg).items())
    for n, (name, box) in enumerate(extents):
        for other, other_box in extents[n + 1 :]:
            assert not overlap(box, other_box), (name, other)


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_a_png_is_drawn_at_twice_the_pictures_size_unless_scale_says_otherwise(tmp_path):
    spec = "CN(8)->MP(2)->FL()->DN(16)"
    svg_out, png_out, one, three = (tmp_path / name for name in ("p.svg", "p.png", "one.png", "three.png"))
    for out, extra in ((svg_out, []), (png_out, []), (one, ["--scale", "1"]), (three, ["--scale", "3"])):
        assert run_cli("draw", spec, "-o", str(out), *extra).returncode == 0
    root = ET.parse(svg_out).getroot()
    width, height = float(root.get("width")), float(root.get("height"))
    assert _png_size(png_out) == (round(2 * width), round(2 * height))
    assert _png_size(one) == (round(width), round(height)) and _png_size(three) == (round(3 * width), round(3 * height))
    bad = run_cli("draw", spec, "-o", str(tmp_path / "bad.png"), "--scale", "0")
    assert bad.returncode == 2 and "--scale" in bad.stderr and "Traceback" not in bad.stderr
