"""Named tensors: ``ELEMENT as NAME`` and ``@NAME``, for graphs that are not nested merges.

Each stage is held to Keras: the checker's counts, layer order and names against a
functional model written by hand; the built model against the same; bad names are
located errors with a hint.
"""

from __future__ import annotations

import pytest

from cnndsl import SpecError, SpecValueError, check
from cnndsl.inputs import file_models
from cnndsl.model import INPUT, From, Merge

pytestmark = pytest.mark.slow

UNET = (
    "IN(32,32,1) -> CN(16,3,padding=same) as e1 -> MP(2) -> CN(32,3,padding=same) as e2 -> MP(2)"
    " -> CN(64,3,padding=same) -> UP(2) -> CAT(ID() | @e2) -> CN(32,3,padding=same) -> UP(2)"
    " -> CAT(ID() | @e1) -> CN(4,1) -> GAP()"
)
NASNET = (
    "IN(16,16,3) -> CN(8,3,padding=same) as p -> CN(8,1) as h"
    " -> ADD(@p -> SC(8,3,padding=same) | @h -> SC(8,5,padding=same)) as h2 -> CAT(@h | @h2) -> GAP()"
)
PREACT = (
    "IN(16,16,3) -> CN(64,3) -> BN() -> ACT(relu) as pre"
    " -> ADD(@pre -> CN(256, 1, activation=linear) | CN(64, 1) -> CN(64, 3, padding=same)"
    " -> CN(256, 1, activation=linear)) -> GAP()"
)


def keras_unet(keras):
    L = keras.layers
    x = keras.Input((32, 32, 1))
    e1 = L.Conv2D(16, 3, padding="same", activation="relu")(x)
    y = L.MaxPooling2D(2)(e1)
    e2 = L.Conv2D(32, 3, padding="same", activation="relu")(y)
    y = L.MaxPooling2D(2)(e2)
    y = L.Conv2D(64, 3, padding="same", activation="relu")(y)
    y = L.UpSampling2D(2)(y)
    y = L.Concatenate()([y, e2])
    y = L.Conv2D(32, 3, padding="same", activation="relu")(y)
    y = L.UpSampling2D(2)(y)
    y = L.Concatenate()([y, e1])
    y = L.Conv2D(4, 1, activation="relu")(y)
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(10, activation="softmax")(y))


def keras_nasnet(keras):
    L = keras.layers
    x = keras.Input((16, 16, 3))
    p = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    h = L.Conv2D(8, 1, activation="relu")(p)
    a = L.SeparableConv2D(8, 3, padding="same", activation="relu")(p)
    b = L.SeparableConv2D(8, 5, padding="same", activation="relu")(h)
    h2 = L.Add()([a, b])
    y = L.Concatenate()([h, h2])
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(10, activation="softmax")(y))


def keras_preact(keras):
    L = keras.layers
    x = keras.Input((16, 16, 3))
    y = L.Conv2D(64, 3, activation="relu")(x)
    y = L.BatchNormalization()(y)
    pre = L.Activation("relu")(y)
    short = L.Conv2D(256, 1, activation="linear")(pre)
    y = L.Conv2D(64, 1, activation="relu")(pre)
    y = L.Conv2D(64, 3, padding="same", activation="relu")(y)
    y = L.Conv2D(256, 1, activation="linear")(y)
    y = L.Add()([short, y])
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(10, activation="softmax")(y))


HAND_MADE = [(UNET, keras_unet), (NASNET, keras_nasnet), (PREACT, keras_preact)]


# --- the checker against Keras ----------------------------------------------------------


@pytest.mark.parametrize("text, reference", HAND_MADE, ids=["unet", "nasnet", "preact"])
def test_counts_order_names_and_shapes_are_keras_own(text, reference):
    keras = pytest.importorskip("keras")
    keras.utils.clear_session()
    made, model = reference(keras), check(text)
    layers = [layer for layer in made.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert [info.name for info in model.layers] == [layer.name for layer in layers]
    assert [info.output_shape for info in model.layers] == [tuple(layer.output.shape) for layer in layers]
    assert [info.params for info in model.layers] == [layer.count_params() for layer in layers]
    assert model.total_params == made.count_params()


@pytest.mark.parametrize("text, reference", HAND_MADE, ids=["unet", "nasnet", "preact"])
def test_the_built_model_is_the_hand_made_one(text, reference):
    keras = pytest.importorskip("keras")
    import numpy as np

    from cnndsl import compile_spec

    keras.utils.clear_session()
    made = reference(keras)
    names = [layer.name for layer in made.layers]
    keras.utils.clear_session()
    built = compile_spec(text)
    assert [layer.name for layer in built.layers] == names
    built.set_weights(made.get_weights())
    images = np.random.default_rng(0).random((2, *made.input_shape[1:]), dtype=np.float32)
    assert np.allclose(built.predict(images, verbose=0), made.predict(images, verbose=0), atol=1e-5)


def test_a_chain_that_goes_on_from_a_name_takes_that_tensor():
    model = check(NASNET)
    names = {info.name: index for index, info in enumerate(model.layers)}
    add, cat = model.layers[names["add"]], model.layers[names["concatenate"]]
    assert [model.layers[i].name for i in add.inputs] == ["separable_conv2d", "separable_conv2d_1"]
    assert [model.layers[i].name for i in cat.inputs] == ["conv2d_1", "add"]
    merge = next(item for item in model.items if isinstance(item, Merge) and item.layer == names["add"])
    assert merge.branches[0][0] == From(names["conv2d"], "p")


def test_the_input_can_be_named():
    model = check("IN(8,8,3) as image -> CN(3,3,padding=same) -> ADD(ID() | @image) -> GAP()")
    add = next(info for info in model.layers if info.code == "ADD")
    assert add.inputs[1] == INPUT


def test_a_block_that_names_a_tensor_has_its_own_name_at_each_use():
    text = "block unit = BN() -> ACT(relu) as pre -> ADD(@pre -> CN(8,1) | CN(8,3,padding=same))\n"
    [source] = file_models("nets.cnn", text + "m = CN(8,1) -> unit*2 -> unit -> GAP()\n", "nets")
    model = source.check()
    adds = [info for info in model.layers if info.code == "ADD"]
    acts = [index for index, info in enumerate(model.layers) if info.code == "ACT"]
    assert len(adds) == 3 and sorted(model.layers[add.inputs[0]].inputs[0] for add in adds) == sorted(acts)


@pytest.mark.parametrize(
    "text, column, message, hint",
    [
        ("a = CN(8) as x -> ADD(@x | ID()) -> GAP()\nb = CN(8) -> ADD(@x | ID()) -> GAP()\n", 18,
         "the tensor 'x' is defined in 'a', not here", "local to one definition"),
        ("block u = CN(8) as x -> ADD(@x | ID())\nb = u -> ADD(@x | ID()) -> GAP()\n", 14,
         "the tensor 'x' is defined in 'u', not here", "local to one definition"),
    ],
)  # fmt: skip
def test_a_name_of_another_definition_is_a_located_error(text, column, message, hint):
    sources = file_models("nets.cnn", text, "nets")
    with pytest.raises(SpecValueError) as caught:
        sources[-1].check()
    first = caught.value.diagnostics[0]
    assert (first.span.line, first.span.column) == (2, column)
    assert message in first.message and hint in first.hint


def test_each_copy_of_a_repetition_has_its_own_names():
    model = check("CN(8,1) -> (ACT(relu) as pre -> ADD(@pre | CN(8,3,padding=same)))*3 -> GAP()")
    adds = [info for info in model.layers if info.code == "ADD"]
    acts = [index for index, info in enumerate(model.layers) if info.code == "ACT"]
    assert len(adds) == 3 and sorted(add.inputs[0] for add in adds) == sorted(acts)


# --- bad names: located errors with a hint ----------------------------------------------


@pytest.mark.parametrize(
    "text, column, message, hint",
    [
        ("CN(8) as a -> CN(8) -> GAP()", 10, "the tensor 'a' is named but never used", "@a"),
        ("CN(8) as abc -> ADD(@abd | ID()) -> GAP()", 21, "no tensor is named 'abd'", "did you mean @abc?"),
        ("CN(8) -> ADD(@a | ID()) -> CN(8) as a -> GAP()", 14, "'a' is used before it is defined", "move"),
        ("CN(8) as a -> CN(8) as a -> ADD(@a | ID()) -> GAP()", 24, "the name 'a' is defined twice", "line 1, column 10"),
        ("CN(8) as a -> CN(4) -> @a -> GAP()", 15, "the output of CN(4) is lost", "CN(4) as x"),
        ("(CN(8) as a)*2 -> ADD(@a | ID()) -> GAP()", 23, "'a' is named inside a repetition", "outside"),
        ("CN(8) -> ADD(@x | ID()) -> GAP()", 14, "no tensor is named 'x'", "CN(32) as x"),
    ],
)  # fmt: skip
def test_bad_names_are_located_errors_with_a_hint(text, column, message, hint):
    with pytest.raises(SpecError) as caught:
        check(text)
    first = caught.value.diagnostics[0]
    assert (first.span.line, first.span.column) == (1, column)
    assert message in first.message and hint in first.hint


# --- every spec of today keeps its architecture ------------------------------------------

HASHES_BEFORE_NAMES = {
    "examples/densenet121.cnn": "a6fdf48698fd",
    "examples/inception_v3.cnn": "703eff6c798d",
    "examples/mobilenet_v2.cnn": "08eaf50ce3a2",
    "examples/model1.cnn": "802a99459e63",
    "examples/model2.cnn": "f60695c8f562",
    "examples/model3.cnn": "b365bef45c61",
    "examples/model3_title.cnn": "6bfb12b2b3e1",
    "examples/resnet50.cnn": "d729f3c51ea1",
    "examples/resnet_mnist.cnn": "77f4b19c7365",
    "examples/vgg16.cnn": "e300bb35aac5",
    "examples/xception.cnn": "b8c872b062b7",
    "tests/golden/draw_model1.cnn": "802a99459e63",
    "tests/golden/notebook_specs.txt:model1": "802a99459e63",
    "tests/golden/notebook_specs.txt:model2": "f4b151b90362",
    "tests/golden/notebook_specs.txt:model3": "b365bef45c61",
}
"""The hashes the notation gave before it had named tensors (recorded from the main line then)."""


def _hashes() -> dict[str, str]:
    from golden_tables import notebook_specs
    from helpers import ROOT

    from cnndsl.report import architecture_hash

    hashes = {}
    for path in sorted([*ROOT.glob("examples/*.cnn"), *ROOT.glob("tests/golden/*.cnn")]):
        [source] = file_models(path.name, path.read_text(), path.stem)
        try:
            model = source.check()
        except SpecError:  # an ImageNet model, too deep for the default 28x28 input; a U-Net segments
            try:
                model = source.check(input_shape=(224, 224, 3), num_classes=1000)
            except SpecError:
                model = source.check(task="segment")
        hashes[path.relative_to(ROOT).as_posix()] = architecture_hash(model)
    for name, spec in notebook_specs().items():
        hashes[f"tests/golden/notebook_specs.txt:{name}"] = architecture_hash(check(spec))
    return hashes


def test_every_example_and_golden_keeps_its_architecture_hash():
    hashes = _hashes()
    assert {key: hashes.get(key) for key in HASHES_BEFORE_NAMES} == HASHES_BEFORE_NAMES


# --- every stage that walks the tree -----------------------------------------------------

NAMED = [(UNET, (32, 32, 1)), (NASNET, (16, 16, 3)), (PREACT, (16, 16, 3))]
IDS = ["unet", "nasnet", "preact"]


def test_the_hash_is_the_architecture_not_the_names_chosen():
    from cnndsl.report import architecture_hash

    renamed = NASNET.replace("as p ", "as prev ").replace("@p ", "@prev ").replace("h2", "out")
    assert architecture_hash(check(renamed)) == architecture_hash(check(NASNET))
    nested = PREACT.replace(" as pre", "").replace("@pre -> ", "")
    assert architecture_hash(check(nested)) == architecture_hash(check(PREACT))
    other = NASNET.replace("CAT(@h | @h2)", "CAT(@h2 | @h)")
    assert architecture_hash(check(other)) != architecture_hash(check(NASNET))


@pytest.mark.parametrize("text", [UNET, NASNET, PREACT, "(CN(8) as a) * 2 -> (CN(3) as b) as c"], ids=[*IDS, "nested"])
def test_fmt_keeps_names_and_is_stable(text):
    from cnndsl.formatter import format_text
    from cnndsl.syntax import parse

    formatted = format_text(text)
    assert format_text(formatted) == formatted
    assert parse(formatted.strip()) is not None
    assert "@" in formatted or "as c" in formatted


@pytest.mark.parametrize("text, shape", NAMED, ids=IDS)
def test_the_json_architecture_reads_back_with_its_names(text, shape):
    import json

    from cnndsl.backends import json_ir
    from cnndsl.emit import emit
    from cnndsl.report import architecture_hash

    model = check(text)
    document = json.loads(emit(model, "json"))
    assert any("from" in json.dumps(item) for item in document["tree"])
    spec, classes = json_ir.read(document)
    assert architecture_hash(check(spec, num_classes=classes)) == architecture_hash(model)


@pytest.mark.parametrize("text, shape", NAMED, ids=IDS)
def test_the_keras_script_builds_what_compile_spec_builds(text, shape):
    pytest.importorskip("keras")
    from torch_strategies import assert_same_keras_model, run_source

    from cnndsl import compile_spec
    from cnndsl.emit import emit

    emitted = run_source(emit(check(text), "keras").decode())["model"]
    assert_same_keras_model(compile_spec(text), emitted)


@pytest.mark.parametrize("text, shape", NAMED, ids=IDS)
def test_pytorch_the_module_and_its_source_compute_what_keras_computes(text, shape):
    pytest.importorskip("torch")
    from torch_strategies import assert_equal_to_keras, assert_torch_source_equals_keras

    assert_equal_to_keras(text, shape)
    assert_torch_source_equals_keras(text, shape)


def test_the_onnx_file_computes_what_keras_computes():
    pytest.importorskip("onnxruntime")
    from torch_strategies import assert_onnx_equals_keras

    assert_onnx_equals_keras(NASNET, (16, 16, 3), 10)


def test_draw_brings_an_edge_from_the_named_tensor_to_where_the_chain_goes_on():
    from cnndsl.backends.svg import draw

    svg = draw(check(NASNET))
    assert svg.count('<g class="from"') == 4
    assert 'data-from="conv2d"' in svg and 'data-from="conv2d_1"' in svg and 'data-from="add"' in svg
    assert svg.count('stroke-dasharray="4 3"') == 8  # each mark's frame, and the edge into it


def test_the_from_marks_say_the_names_the_spec_wrote_in_svg_and_png():
    from cnndsl.backends.picture import Drawable, Text, picture
    from cnndsl.backends.svg import draw, draw_spec

    def marks(drawn) -> list[str]:
        found = []
        for shape in drawn:
            if isinstance(shape, Text) and shape.role == "from":
                found.append(shape.text)
            found += marks(getattr(shape, "items", ()))
        return found

    model = check(NASNET)
    assert sorted(marks(picture(Drawable(model), "boxes").shapes)) == ["from h", "from h", "from h2", "from p"]
    svg = draw(model)
    assert ">from p<" in svg and ">from h2<" in svg and "from conv2d" not in svg and "from add" not in svg
    assert 'data-tensor="h2"' in svg and 'data-from="add"' in svg  # the edge still comes from the add's box
    failing = draw_spec(NASNET.replace("SC(8,5,padding=same)", "SC(8,5)"))  # drawn up to its error
    assert ">from p<" in failing and "from conv2d" not in failing
    named_input = draw(check("IN(8,8,3) as image -> CN(3,3,padding=same) -> ADD(ID() | @image) -> GAP()"))
    assert ">from image<" in named_input


def test_a_model_read_from_elsewhere_names_its_from_marks_by_keras_layer():
    from cnndsl.backends.svg import draw
    from cnndsl.records import replace

    model = check(NASNET)
    unnamed = replace(model, tree=_unnamed(model.tree))
    svg = draw(unnamed)
    assert ">from conv2d<" in svg and ">from add<" in svg


def _unnamed(items):
    out = []
    for item in items:
        if isinstance(item, From):
            out.append(From(item.source))
        elif isinstance(item, Merge):
            out.append(Merge(item.layer, tuple(_unnamed(branch) for branch in item.branches)))
        else:
            out.append(item)
    return tuple(out)


def test_a_failing_named_spec_is_drawn_up_to_its_error():
    from cnndsl.backends.partial import check_partial
    from cnndsl.syntax import parse

    text = NASNET.replace("SC(8,5,padding=same)", "SC(8,5)")
    drawable = check_partial(parse(text), text)
    assert drawable.error is not None and drawable.model.layers[drawable.failed].code == "ADD"
    assert any(isinstance(item, Merge) and item.branches[0][0] == From(0, "p") for item in drawable.model.items)


def test_summary_says_what_feeds_a_layer_fed_by_a_name():
    from cnndsl.report import summary_table

    rows = {
        line.split()[0]: line
        for line in summary_table(check(NASNET)).splitlines()
        if line.startswith(("add", "concatenate"))
    }
    assert "separable_conv2d, separable_conv2d_1" in rows["add"]
    assert "conv2d_1, add" in rows["concatenate"]


# --- the Keras reader: graphs that are not nested merges are written with names ----------


def keras_two_cells_and_a_long_skip(keras):
    """NASNet's cells (each reads the two cells before it) and a U-Net's skip over them."""
    L = keras.layers
    x = keras.Input((16, 16, 3))
    stem = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    prev, cell = stem, L.Conv2D(8, 1, activation="relu")(stem)
    for _ in range(2):
        a = L.SeparableConv2D(8, 3, padding="same", activation="relu")(prev)
        b = L.SeparableConv2D(8, 5, padding="same", activation="relu")(cell)
        prev, cell = cell, L.Add()([a, b])
    y = L.Concatenate()([cell, prev])
    y = L.MaxPooling2D(2)(y)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(y)
    y = L.UpSampling2D(2)(y)
    y = L.Concatenate()([y, stem])
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(5, activation="softmax")(y))


@pytest.mark.parametrize(
    "reference, named",
    [(keras_two_cells_and_a_long_skip, True), (keras_nasnet, True), (keras_unet, False)],
    ids=["cells+skip", "nasnet", "unet"],
)
def test_a_keras_graph_that_is_not_nested_merges_reads_as_named_tensors(reference, named):
    keras = pytest.importorskip("keras")
    import numpy as np

    from cnndsl import compile_spec, to_spec

    keras.utils.clear_session()
    made = reference(keras)
    spec = to_spec(made)
    assert ("@" in spec.text and " as " in spec.text) is named  # a U-Net's skips nest: CAT(... | ID())
    shape = tuple(made.input_shape[1:])
    model = check(spec.text, shape, spec.num_classes)
    trainable = sum(int(np.prod(w.shape)) for w in made.trainable_weights)
    assert (model.total_params, model.trainable_params) == (made.count_params(), trainable)
    built = compile_spec(spec.text, shape, spec.num_classes)
    built.set_weights(made.get_weights())
    images = np.random.default_rng(1).random((2, *shape), dtype=np.float32)
    assert np.allclose(built.predict(images, verbose=0), made.predict(images, verbose=0), atol=1e-4)


def test_a_nested_keras_graph_is_written_as_nested_merges_still():
    keras = pytest.importorskip("keras")

    from cnndsl import to_spec

    keras.utils.clear_session()
    text = to_spec(keras_preact(keras)).text
    assert "@" not in text and " as " not in text and "ADD(CN(256, 1, activation=linear) | CN(64, 1) -> " in text


# --- the language server -----------------------------------------------------------------

BLOCKS = (
    "block unit = BN() -> ACT(relu) as pre -> ADD(@pre -> CN(8, 1) | CN(8, 3, padding=same))\n"
    "net = CN(8, 1) as stem -> unit * 2 -> CAT(ID() | @stem) -> GAP()\n"
)


@pytest.mark.parametrize("text", [NASNET, UNET, BLOCKS], ids=["nasnet", "unet", "blocks"])
def test_the_language_server_hints_and_hovers_every_layer_of_a_named_graph(text):
    from cnndsl.lsp import analysis as an
    from cnndsl.settings import Settings

    analysis = an.analyze_spec_file(text, Settings())
    assert analysis.diagnostics == []
    model = next(iter(analysis.models.values()))
    assert sum(hint.label.endswith("params") for hint in analysis.hints) == 1
    assert {call.span.start for call in analysis.calls()} - _no_layers(analysis) <= set(analysis.layers)
    assert all(an.describe_call(call, analysis) for call in analysis.calls() if call.span.start in analysis.layers)
    merges = [info for info in analysis.layers.values() if info.layer.type.merge]
    assert merges and all(info in model.layers for info in merges)


def _no_layers(analysis) -> set[int]:
    """Calls that make no layer (IN, ID)."""
    return {call.span.start for call in analysis.calls() if call.code in ("IN", "ID")}


def test_completion_after_an_at_offers_the_names_defined_so_far():
    pytest.importorskip("pygls")
    from cnndsl.lsp import analysis as an
    from cnndsl.lsp.server import completion_items
    from cnndsl.settings import Settings

    text = "a = CN(8) as x -> CN(8) as y\nb = CN(8) as p -> CN(8, 1) as h -> ADD(@p -> CN(8) | @"
    analysis = an.analyze_spec_file(text, Settings())
    assert [item.label for item in completion_items(analysis, len(text))] == ["p", "h"]
    assert [item.label for item in completion_items(analysis, text.index("@p") + 1)] == ["p", "h"]
    assert "x" not in [item.label for item in completion_items(analysis, len(text))]


def test_the_docs_document_named_tensors_with_a_spec_that_checks():
    from docs_pages import everything, section

    part = section("docs/notation/graphs.md", "Named tensors")
    block = part[part.index("\n    IN(") : part.index("\n\n", part.index("\n    IN(") + 1)]
    model = check(" ".join(block.split()))
    assert sum(info.code == "CAT" for info in model.layers) == 2 and model.is_graph
    assert "`block` and `as` are reserved words" in everything()


def test_check_says_where_a_name_is_wrong_in_one_located_error_and_summary_shows_the_feeds(tmp_path):
    from helpers import run_cli

    (tmp_path / "nets.cnn").write_text(
        "a = CN(8) as x -> ADD(@x | ID()) -> GAP()\nb = CN(8) -> ADD(@x | ID()) -> GAP()\n"
    )
    result = run_cli("check", str(tmp_path / "nets.cnn"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "nets.cnn:2:18: error: the tensor 'x' is defined in 'a', not here" in result.stderr
    assert "help: names are local to one definition" in result.stderr
    shown = run_cli("summary", NASNET)
    assert shown.returncode == 0 and "separable_conv2d, separable_conv2d_1" in shown.stdout


def test_a_search_space_with_names_gives_candidates_that_check_each_with_its_own_names():
    from cnndsl.checker import check_chain
    from cnndsl.space import Space
    from cnndsl.specfile import resolve_definitions
    from cnndsl.syntax import parse_file

    text = (
        "block u = ACT(relu) as pre -> ADD(@pre -> CN(8, 1) | CN(8, 3, padding=same))\n"
        "m = CN({4, 8}, 1) as stem -> u -> {u | BN()} -> CAT(ID() | @stem) -> GAP()\n"
    )
    definitions = resolve_definitions(parse_file(text))
    space = Space(definitions.models[0].chain, text, definitions.chains)
    counts = [check_chain(space.candidate(i), text).total_params for i in range(space.count)]
    [source] = file_models("nets.cnn", text.replace("{4, 8}", "8").replace("{u | BN()}", "u"), "nets")
    assert space.count == 4 and counts[2] == source.check().total_params  # the last choice varies fastest


@pytest.mark.parametrize(
    "named, nested",
    [
        ("CN(2, 3, padding=same) as t0 -> MUL(ID() | GAP(keepdims=true) -> CN(1, 1) -> CN(2, 1, activation=sigmoid))"
         " -> CAT(ID() | @t0) -> GAP()",
         "CN(2, 3, padding=same) -> CAT(MUL(ID() | GAP(keepdims=true) -> CN(1, 1) -> CN(2, 1, activation=sigmoid))"
         " | ID()) -> GAP()"),
        ("CN(4, 1) as a -> CN(4, 1) as b -> ADD(@a | @b) -> GAP()", "CN(4, 1) -> ADD(ID() | CN(4, 1)) -> GAP()"),
    ],
)  # fmt: skip
def test_a_graph_written_with_names_hashes_as_the_nested_merges_it_is(named, nested):
    from cnndsl.report import architecture_hash, canonical_form

    assert canonical_form(check(named)) == canonical_form(check(nested))
    assert architecture_hash(check(named)) == architecture_hash(check(nested))
