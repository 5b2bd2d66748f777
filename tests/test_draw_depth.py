"""Big pictures stay readable: each use of a named block drawn as one box (its name, input
and output shapes, layers and parameters) down to a chosen depth, and a default depth
that fits; the checker records every use of a block to draw it from."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from helpers import EXAMPLES, run_cli

from cnndsl import check, draw_spec
from cnndsl.backends.picture import MAX_BOXES, count_boxes, elements, fitting_depth
from cnndsl.backends.svg import draw, source_drawable
from cnndsl.inputs import file_models, read_models

SVG = "{http://www.w3.org/2000/svg}"

STAGES = """\
block conv = CN(8, 3, padding=same) -> BN()
block stage = conv -> conv -> MP(2)
net = stage -> stage -> FL()
"""


def marked(source, *args):
    """A model checked as a picture checks it: with every use of a block recorded."""
    return source_drawable(source, *args).model


def model_of(text: str, name: str = "net"):
    (source,) = [s for s in file_models("nets.cnn", text, "nets") if s.label == name]
    return marked(source)


def groups(svg: str, kind: str) -> list[ET.Element]:
    """The ``<g>`` elements of one class (``layer``, ``block``), in document order."""
    return [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class", "").split()[:1] == [kind]]


def drawn_layers(svg: str) -> list[str]:
    return [name for kind in ("layer", "block") for g in groups(svg, kind) for name in g.get("data-layers").split()]


def said(group: ET.Element, role: str) -> list[str]:
    return [t.text for t in group.iter(f"{SVG}text") if t.get("class") == role]


def test_the_checker_records_each_use_of_a_block():
    model = model_of(STAGES)
    uses = [(use.name, use.layers, use.depth) for use in model.blocks]
    assert uses == [
        ("conv", (0, 1), 1), ("conv", (2, 3), 1), ("stage", (0, 1, 2, 3, 4), 0),
        ("conv", (5, 6), 1), ("conv", (7, 8), 1), ("stage", (5, 6, 7, 8, 9), 0),
    ]  # fmt: skip
    assert check("CN(8, 3) -> FL()").blocks == ()
    (source,) = [s for s in file_models("nets.cnn", STAGES, "nets") if s.label == "net"]
    assert source.check().blocks == ()  # only a picture asks for them: checking stays as fast as it was


def test_block_uses_inside_merges_follow_keras_s_order():
    model = model_of("block conv = CN(8, 3, padding=same) -> BN()\nnet = ADD(conv | CN(8, 1)) -> FL()")
    (use,) = model.blocks
    assert [model.layers[i].code for i in use.layers] == ["CN", "BN"]
    assert [model.layers[i].layer.text for i in use.layers][0] == "CN(8, 3, padding=same)"


@pytest.mark.parametrize(
    ("text", "inlined"),
    [
        ("block head = FL() -> DN(10)\nnet = CN(8, 3) -> head", "CN(8, 3) -> FL() -> DN(10)"),
        ("block top = IN(32, 32, 3) -> CN(8, 3)\nnet = top -> FL()", "IN(32, 32, 3) -> CN(8, 3) -> FL()"),
        (
            "block soft = FL() -> DN(4, activation=softmax)\nnet = CN(8, 3) -> soft",
            "CN(8, 3) -> FL() -> DN(4, activation=softmax)",
        ),
    ],
)
def test_a_block_at_either_end_checks_as_the_same_layers_written_out(text, inlined):
    model, written = model_of(text), check(inlined)
    assert [(i.code, i.output_shape, i.params, i.layer.head) for i in model.layers] == [
        (i.code, i.output_shape, i.params, i.layer.head) for i in written.layers
    ]


def test_depth_zero_draws_each_use_written_in_the_model_as_one_box():
    model = model_of(STAGES)
    svg = draw(model, unfold=True, depth=0)
    boxes = groups(svg, "block")
    assert [g.get("data-block") for g in boxes] == ["stage", "stage"]
    assert [said(g, "shape") for g in boxes] == [
        ["in  (None, 28, 28, 1)", "out (None, 14, 14, 8)"],
        ["in  (None, 14, 14, 8)", "out (None, 7, 7, 8)"],
    ]
    params = [sum(model.layers[i].params for i in use.layers) for use in model.blocks if use.name == "stage"]
    assert [said(g, "params") for g in boxes] == [[f"5 layers, {p:,} params"] for p in params]
    assert [g.get("data-layers") for g in groups(svg, "layer")] == ["flatten", "dense"]
    assert sorted(drawn_layers(svg)) == sorted(info.name for info in model.layers)


def test_depth_one_opens_the_outer_uses():
    model = model_of(STAGES)
    svg = draw(model, unfold=True, depth=1)
    assert [g.get("data-block") for g in groups(svg, "block")] == ["conv"] * 4
    assert [g.get("data-layers") for g in groups(svg, "layer")] == [
        "max_pooling2d", "max_pooling2d_1", "flatten", "dense",
    ]  # fmt: skip
    assert drawn_layers(svg).count("conv2d") == 1


def test_a_depth_past_the_deepest_use_draws_every_layer():
    model = model_of(STAGES)
    assert draw(model, depth=2) == draw(model, depth=None) == draw(model, depth=50)
    assert groups(draw(model, depth=2), "block") == []


def test_uses_of_a_block_fold_like_layers():
    svg = draw(model_of(STAGES), depth=0)
    (box,) = groups(svg, "block")
    assert "×2" in [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert said(box, "shape") == [
        "in  (None, 28, 28, 1) … (None, 14, 14, 8)",
        "out (None, 14, 14, 8) … (None, 7, 7, 8)",
    ]


def test_a_block_inside_a_merge_branch_is_a_box_in_its_branch():
    model = model_of("block conv = CN(8, 3, padding=same) -> BN()\nnet = ADD(conv | CN(8, 1)) -> FL()")
    svg = draw(model, depth=0)
    (box,) = groups(svg, "block")
    assert box.get("data-block") == "conv"
    assert [g.get("data-layers") for g in groups(svg, "layer")] == ["conv2d_1", "add", "flatten", "dense"]


@pytest.mark.parametrize("name", ["resnet50", "inception_v3", "mobilenet_v2", "densenet121"])
@pytest.mark.parametrize("depth", [0, 1])
def test_every_layer_is_drawn_once_at_every_depth(name, depth):
    (source,) = read_models(str(EXAMPLES / f"{name}.cnn"))
    model = marked(source, None, 1000)
    svg = draw(model, unfold=True, depth=depth)
    assert sorted(drawn_layers(svg)) == sorted(info.name for info in model.layers)
    assert groups(svg, "block")


@pytest.mark.parametrize("name", ["efficientnet_b0", "inception_v3", "nasnet_mobile", "resnet50", "xception"])
def test_the_default_depth_is_the_deepest_that_fits(name):
    (source,) = read_models(str(EXAMPLES / f"{name}.cnn"))
    model = marked(source, None, 1000)
    depth = fitting_depth(model)
    counts = [count_boxes(elements(model, False, None, d)) for d in range(4)]
    whole = count_boxes(elements(model))
    if whole <= MAX_BOXES:
        assert depth is None
    else:
        assert depth == max([d for d in range(4) if counts[d] <= MAX_BOXES], default=0)
        assert counts[depth] <= MAX_BOXES or depth == 0
    assert draw(model) == draw(model, depth=depth)


def test_the_command_line_s_help_says_the_picture_s_limit():
    from cnndsl.cli import draw as draw_command

    assert draw_command.MAX_BOXES == MAX_BOXES


def test_a_big_model_s_default_picture_is_short():
    (source,) = read_models(str(EXAMPLES / "efficientnet_b0.cnn"))
    model = marked(source, None, 1000)
    assert count_boxes(elements(model)) > MAX_BOXES
    svg = draw(model)
    assert len(groups(svg, "layer")) + len(groups(svg, "block")) <= MAX_BOXES
    assert int(ET.fromstring(svg).get("height")) < int(ET.fromstring(draw(model, depth=9)).get("height")) / 3


def failing_drawable(text: str):
    (source,) = [s for s in file_models("nets.cnn", text, "nets") if s.label == "net"]
    return source_drawable(source)


def test_a_failing_spec_draws_its_blocks_as_boxes_up_to_the_failing_layer():
    drawable = failing_drawable(STAGES.replace("stage -> stage -> FL()", "stage -> stage -> CN(8, 9) -> FL()"))
    assert drawable.failed is not None
    svg = draw(drawable, unfold=True, depth=0)
    assert [g.get("data-block") for g in groups(svg, "block")] == ["stage", "stage"]
    assert [g.get("class") for g in groups(svg, "layer")] == ["layer convolution failed"]


def test_the_block_holding_the_failing_layer_is_opened():
    drawable = failing_drawable(
        STAGES.replace("net = stage -> stage", "net = stage -> stage -> stage -> stage -> stage")
    )
    svg = draw(drawable, unfold=True, depth=0)  # 28, 14, 7, 3, 1: the fifth stage's MP(2) fails
    assert [g.get("data-block") for g in groups(svg, "block")] == ["stage"] * 4 + ["conv"] * 2
    failed = [g for g in groups(svg, "layer") if "failed" in g.get("class")]
    assert len(failed) == 1 and said(failed[0], "spec") == ["MP(2)"]
    assert sorted(drawn_layers(svg)) == sorted(info.name for info in drawable.model.layers)


def test_the_graph_style_draws_blocks_as_nodes():
    svg = draw(model_of(STAGES), style="graph", unfold=True, depth=0)
    assert [said(g, "spec") for g in groups(svg, "block")] == [["stage (block)"]] * 2


def test_draw_depth_on_the_command_line(tmp_path):
    spec = tmp_path / "nets.cnn"
    spec.write_text(STAGES)
    out = tmp_path / "net.svg"
    result = run_cli("draw", str(spec), "--depth", "0", "--unfold", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert [g.get("data-block") for g in groups(out.read_text(), "block")] == ["stage", "stage"]
    bad = run_cli("draw", str(spec), "--depth", "-1", "-o", str(out))
    assert bad.returncode == 2 and "expected a depth from 0 to 1000" in bad.stderr and "Traceback" not in bad.stderr


def test_the_notebook_display_takes_a_depth():
    view = draw_spec("CN(8, 3) -> FL()", depth=0)
    assert groups(view._repr_mimebundle_()["image/svg+xml"], "block") == []
    from cnndsl.notebook import CellDefinitions, run_cell

    (shown,) = run_cell("--depth 0", STAGES, CellDefinitions(), "<cell>")
    assert [g.get("data-block") for g in groups(shown._repr_mimebundle_()["image/svg+xml"], "block")] == ["stage"]


def test_uses_nested_past_the_marked_depth_are_drawn_layer_by_layer():
    from cnndsl.passes.expand import MAX_MARKED_DEPTH

    nested = "".join(f"block b{i} = b{i - 1} -> BN()\n" for i in range(1, 7))
    model = model_of(f"block b0 = CN(4, 1)\n{nested}net = b6 -> FL()")
    assert sorted({use.depth for use in model.blocks}) == list(range(MAX_MARKED_DEPTH))
    assert [g.get("data-block") for g in groups(draw(model, depth=MAX_MARKED_DEPTH - 1), "block")] == ["b3"]
    svg = draw(model, unfold=True, depth=MAX_MARKED_DEPTH)
    assert groups(svg, "block") == [] and len(groups(svg, "layer")) == len(model.layers)
