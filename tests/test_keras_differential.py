"""cnndsl against Keras itself: shapes, parameter counts and verdicts must agree.

The reference side never reads cnndsl's AST: each generated spec comes with the
Keras layers it means, built straight from the notation's documented rules
(kernel inheritance, ``MP(a,b)`` pools, the classifier head).
"""

from __future__ import annotations

import numpy as np
import pytest
from golden_tables import notebook_specs, notebook_table
from hypothesis import event, given, settings
from spec_strategies import Desc, MergeDesc, NameDesc, TakeDesc, ended_specs, graph_specs

from cnndsl import SpecError, check, compile_spec
from cnndsl.layers import ACTIVATIONS, BLOCK_CODES, LAYERS, example_text

keras = pytest.importorskip("keras", reason="the differential tests need the tensorflow extra")

pytestmark = pytest.mark.slow


def fresh_session() -> None:
    """Keras's global state reset (layer names count from the start again), once per example.

    Without the full garbage collection ``clear_session`` runs by default: that scans every
    object the test process holds (half a second with TensorFlow imported, more in a whole
    test run), and the properties below build hundreds of models.
    """
    keras.backend.clear_session(free_memory=False)


# --- the reference: Keras layers from the documented rules -------------------------------


def reference_layers(descs: list[Desc], classes: int) -> list:
    layers, kernel = [], (3, 3)
    for desc in descs:
        a = desc.args
        if desc.code == "CN":
            kernel = a.get("kernel", kernel)
            layers.append(
                keras.layers.Conv2D(
                    a["filters"],
                    kernel,
                    strides=a.get("strides", 1),
                    padding=a.get("padding", "valid"),
                    activation=a.get("activation", "relu"),
                    dilation_rate=a.get("dilation", 1),
                    groups=a.get("groups", 1),
                    use_bias=a.get("bias", True),
                )  # fmt: skip
            )
        else:
            layers.append(_reference_simple(desc))
    last = descs[-1]
    if last.code == "DN" and last.args["units"] == classes and last.args.get("activation", "softmax") == "softmax":
        layers[-1] = keras.layers.Dense(classes, activation="softmax")
    elif not _own_head(last):
        layers.append(keras.layers.Dense(classes, activation="softmax"))
    return layers


def _own_head(last) -> bool:
    """A spec ending in ``ACT(softmax)`` is its own head (MobileNet's): no Dense is appended."""
    return isinstance(last, Desc) and last.code == "ACT" and last.args["name"] == "softmax"


def _keras_application_layer(module: str, name: str):
    """A layer class keras.applications defines for itself (ConvNeXt's LayerScale, InceptionResNetV2's scaled add)."""
    import importlib

    return getattr(importlib.import_module(f"keras.src.applications.{module}"), name)


AUGMENTATIONS = ("FLIP", "ROT", "TRN", "ZOOM", "RCR", "CON")
"""Keras's random preprocessing layers (tests/test_augmentation.py checks them against Keras)."""
SAME_LAYER = {"CustomScaleLayer": "ScaledAdd", "RandomCrop": "RandomOrCenterCrop"}
"""keras.applications' name for a layer the notation builds under another name."""


def _reference_simple(desc: Desc):
    a, L = desc.args, keras.layers
    if desc.code in ("MP", "AP"):
        cls = L.MaxPooling2D if desc.code == "MP" else L.AveragePooling2D
        return cls(a["pool"], strides=a.get("strides"), padding=a.get("padding", "valid"))
    if desc.code == "DN":
        return L.Dense(a["units"], activation=a.get("activation", "relu"), use_bias=a.get("bias", True))
    if desc.code in ("DW", "SC"):
        options = dict(
            strides=a.get("strides", 1), padding=a.get("padding", "valid"), activation=a.get("activation", "relu"),
            dilation_rate=a.get("dilation", 1), use_bias=a.get("bias", True),
            depth_multiplier=a.get("depth_multiplier", 1),
        )  # fmt: skip
        if desc.code == "DW":
            return L.DepthwiseConv2D(a.get("kernel", 3), **options)
        return L.SeparableConv2D(a["filters"], a.get("kernel", 3), **options)
    if desc.code == "ZP":
        return L.ZeroPadding2D(a.get("pad", 1))
    if desc.code == "UP":
        return L.UpSampling2D(a.get("size", 2), interpolation=a.get("interpolation", "nearest"))
    if desc.code == "CT":
        return L.Conv2DTranspose(
            a["filters"], a.get("kernel", 3), strides=a.get("strides", 1), padding=a.get("padding", "valid"),
            activation=a.get("activation", "relu"), use_bias=a.get("bias", True),
        )  # fmt: skip
    if desc.code == "BN":
        return L.BatchNormalization(**a)
    if desc.code in ("GAP", "GMP"):
        cls = L.GlobalAveragePooling2D if desc.code == "GAP" else L.GlobalMaxPooling2D
        return cls(keepdims=a.get("keepdims", False))
    if desc.code == "DP":
        return L.Dropout(a["rate"], noise_shape=(None, 1, 1, 1) if a.get("per_example") else None)
    if desc.code == "LN":
        return L.LayerNormalization(**a)
    if desc.code == "LS":
        return _ReferenceLayerScale(a.get("init", 1e-6))
    if desc.code == "RS":
        return L.Reshape(a["shape"])
    if desc.code == "CR":
        return L.Cropping2D(a["crop"])
    if desc.code == "RSC":
        return L.Rescaling(a["scale"], offset=a.get("offset", 0.0))
    if desc.code == "NRM":
        return L.Normalization(mean=a.get("mean"), variance=a.get("variance"))
    if desc.code == "ACT":
        return L.Activation(a["name"])
    if desc.code == "PRELU":
        return L.PReLU(shared_axes=[1, 2] if a.get("slopes", "channel") == "channel" else [1, 2, 3])
    if desc.code in AUGMENTATIONS:
        fill = {"fill_mode": a.get("fill", "reflect"), "interpolation": a.get("interpolation", "bilinear")}
        return {
            "FLIP": lambda: L.RandomFlip(a.get("mode", "horizontal_and_vertical")),
            "ROT": lambda: L.RandomRotation(a.get("factor", 0.1), **fill),
            "TRN": lambda: L.RandomTranslation(a.get("height", 0.1), a.get("width", 0.1), **fill),
            "ZOOM": lambda: L.RandomZoom(a.get("height", 0.1), a.get("width"), **fill),
            "RCR": lambda: L.RandomCrop(a.get("height", 1), a.get("width", 1)),  # Keras's shape rule, read as RCR
            "CON": lambda: L.RandomContrast(a.get("factor", 0.1)),
        }[desc.code]()
    if desc.code == "SPL":
        return ChannelSplit(a["index"], a.get("parts", 2))
    if desc.code == "SHF":
        return ChannelShuffle(a.get("groups", 2))
    if desc.code == "SL":
        return ChannelSlice(a["start"], a["stop"])
    if desc.code in ("PXS", "PXU"):
        return BlockMove(desc.code, a["block"], a.get("mode", "crd"))
    if desc.code in ("FL", "GAP", "GMP"):
        return {"FL": L.Flatten, "GAP": L.GlobalAveragePooling2D, "GMP": L.GlobalMaxPooling2D}[desc.code]()
    return _reference_declared(desc)


def _reference_declared(desc: Desc):
    """A code with no rule above: Keras's own class from the entry's Keras declaration, given the written
    arguments under Keras's names (the rest Keras's defaults), so a new code is compared from the start."""
    form = LAYERS[desc.code].keras[0]
    options = {arg.keras: desc.args[arg.name] for arg in form.args if arg.name in desc.args}
    return getattr(keras.layers, form.name)(**options)


class ChannelSplit(keras.layers.Layer):
    """The reference split: keras.ops.split into equal parts, one of them kept."""

    def __init__(self, index, parts):
        super().__init__()
        self.index, self.parts = index, parts

    def call(self, x):
        return keras.ops.split(x, self.parts, axis=-1)[self.index]


class ChannelShuffle(keras.layers.Layer):
    """The reference shuffle: the channels gathered by the permutation written out (channel i of group g to i*groups+g)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def call(self, x):
        channels = x.shape[-1]
        order = np.arange(channels).reshape(self.groups, channels // self.groups).T.reshape(-1)
        return keras.ops.take(x, order, axis=-1)


class ChannelSlice(keras.layers.Layer):
    """The reference slice: the channels start to stop - 1 gathered by their indices."""

    def __init__(self, start, stop):
        super().__init__()
        self.start, self.stop = start, stop

    def call(self, x):
        return keras.ops.take(x, np.arange(self.start, self.stop), axis=-1)


class BlockMove(keras.layers.Layer):
    """The reference depth to space and back: TensorFlow's own, the channels gathered into PyTorch's order for crd
    (channel ``c * r * r + i * r + j`` is TensorFlow's ``(i * r + j) * C + c``)."""

    def __init__(self, code, block, mode):
        super().__init__()
        self.code, self.block, self.mode = code, block, mode

    def call(self, x):
        import tensorflow as tf

        r = self.block
        if self.code == "PXS":
            out = x.shape[-1] // (r * r)
            order = [c * r * r + k for k in range(r * r) for c in range(out)] if self.mode == "crd" else None
            return tf.nn.depth_to_space(x if order is None else tf.gather(x, order, axis=-1), r)
        moved = tf.nn.space_to_depth(x, r)
        order = [k * x.shape[-1] + c for c in range(x.shape[-1]) for k in range(r * r)]
        return tf.gather(moved, order, axis=-1) if self.mode == "crd" else moved


class _ReferenceLayerScale(keras.layers.Layer):
    """Builds keras.applications' ConvNeXt LayerScale once the channel count (its projection_dim) is known."""

    def __init__(self, init):
        super().__init__()
        self.init = init

    def build(self, input_shape):
        self.inner = _keras_application_layer("convnext", "LayerScale")(self.init, input_shape[-1])
        self.inner.build(input_shape)

    def call(self, x):
        return self.inner(x)


def keras_verdict(descs, input_shape, classes):
    """Keras's per-layer (class, shape, params, non-trainable), or the reason it refuses."""
    fresh_session()
    try:
        model = keras.Sequential([keras.Input(shape=input_shape), *reference_layers(descs, classes)])
    except Exception as exc:  # Keras raises ValueError, and TypeError for some ranks
        return None, str(exc)
    table = [_keras_row(layer) for layer in model.layers]
    if any(0 in row[1][1:] for row in table):
        return None, "a zero-sized dimension"
    if table[-1][1] != (None, classes):
        return None, f"output {table[-1][1]} is not (None, {classes})"
    return table, None


def _keras_row(layer):
    frozen = int(sum(np.prod(w.shape) for w in layer.non_trainable_weights))
    return (_keras_row_name(layer), tuple(layer.output.shape), layer.count_params(), frozen)


def _cnndsl_rows(model):
    return [(info.keras_class, info.output_shape, info.params, info.non_trainable) for info in model.layers]


def drawn(nodes: list, outcome: str) -> None:
    """Statistics (``--hypothesis-show-statistics``): each code an example holds, what became of
    the example, and the codes of the examples Keras builds (whose rows are compared)."""
    for code in sorted(_codes(nodes)):
        event(f"code {code}")
        event(f"{outcome}: {code}")
    event(outcome)


def _codes(nodes: list) -> set[str]:
    codes = set()
    for node in nodes:
        if isinstance(node, MergeDesc):
            codes |= {node.code, *(code for branch in node.branches for code in _codes(branch))}
        elif isinstance(node, Desc):
            codes.add(node.code)
    return codes


@settings(max_examples=250)
@given(ended_specs())
def test_shapes_params_and_verdicts_equal_keras(case):
    text, descs, input_shape, classes, declared = case
    expected, reason = keras_verdict(descs, input_shape, classes)
    drawn(descs, "Keras refuses it" if expected is None else "Keras builds it")
    try:
        model = check(text, None if declared else input_shape, classes)
    except SpecError as error:
        assert expected is None, f"cnndsl rejects what Keras builds: {error}"
        assert error.span is not None
        return
    assert expected is not None, f"cnndsl accepts what Keras refuses: {reason}"
    assert _cnndsl_rows(model) == expected


@settings(max_examples=60)
@given(ended_specs())
def test_the_keras_backend_builds_what_the_checker_describes(case):
    text, descs, input_shape, classes, declared = case
    try:
        model = check(text, None if declared else input_shape, classes)
    except SpecError:
        event("the checker refuses it")
        return
    drawn(descs, "built")
    fresh_session()
    built = compile_spec(text, None if declared else input_shape, classes)
    assert [_keras_row(layer) for layer in built.layers] == _cnndsl_rows(model)
    stored = {"swish": "silu", "hard_swish": "hard_silu"}  # Keras keeps these under their other names
    written = [info.layer.args.get("activation", info.layer.args.get("name")) for info in model.layers]
    assert [layer.get_config().get("activation") for layer in built.layers] == [stored.get(a, a) for a in written]


# --- graphs: the reference builds a functional model from the documented rules ---------------

MERGE_LAYERS = {"ADD": "Add", "MUL": "Multiply", "CAT": "Concatenate"}


def reference_graph(nodes: list, input_shape, classes: int):
    """The functional Keras model a graph spec means: branches from one input, then the head."""
    last = nodes[-1] if nodes else None
    written_head = (
        isinstance(last, Desc) and last.code == "DN" and last.args["units"] == classes
        and last.args.get("activation", "softmax") == "softmax"
    )  # fmt: skip
    inputs = keras.Input(shape=input_shape)
    state = {"kernel": (3, 3)}
    x = _reference_chain(nodes[:-1] if written_head else nodes, inputs, state)
    if _own_head(last):
        return keras.Model(inputs, x)
    bias = last.args.get("bias", True) if written_head else True
    outputs = keras.layers.Dense(classes, activation="softmax", use_bias=bias)(x)
    return keras.Model(inputs, outputs)


def _reference_chain(nodes: list, x, state: dict):
    for node in nodes:
        if isinstance(node, NameDesc):
            state[node.name] = x
        elif isinstance(node, TakeDesc):
            x = state[node.name]
        elif isinstance(node, MergeDesc):
            branches = [_reference_chain(branch, x, state) for branch in node.branches]
            if node.code == "ADD" and "scale" in node.args:
                branches = _aligned_as_keras_merges_align(branches)
            x = _reference_merge(node)(branches)
        elif node.code == "CN":
            state["kernel"] = node.args.get("kernel", state["kernel"])
            a = node.args
            x = keras.layers.Conv2D(
                a["filters"], state["kernel"], strides=a.get("strides", 1), padding=a.get("padding", "valid"),
                activation=a.get("activation", "relu"), dilation_rate=a.get("dilation", 1), use_bias=a.get("bias", True),
                groups=a.get("groups", 1),
            )(x)  # fmt: skip
        else:
            x = _reference_simple(node)(x)
    return x


def _reference_merge(node: MergeDesc):
    if node.code == "ADD" and "scale" in node.args:
        return _keras_application_layer("inception_resnet_v2", "CustomScaleLayer")(node.args["scale"])
    return getattr(keras.layers, MERGE_LAYERS[node.code])(**node.args)


def _aligned_as_keras_merges_align(branches: list) -> list:
    """keras.applications' scaled add takes branches of one rank; a lower rank gains axes after the batch axis first,
    as ``keras.layers.Add`` gives it (keras.ops, so the reference's table gains no layer)."""
    rank = max(len(x.shape) for x in branches)
    aligned = []
    for x in branches:
        for _ in range(rank - len(x.shape)):
            x = keras.ops.expand_dims(x, 1)
        aligned.append(x)
    return aligned


def keras_graph_verdict(nodes, input_shape, classes):
    fresh_session()
    try:
        model = reference_graph(nodes, input_shape, classes)
    except Exception as exc:  # Keras raises ValueError (and TypeError for some ranks)
        return None, str(exc)
    table = [_keras_row(layer) for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if any(0 in row[1][1:] for row in table):
        return None, "a zero-sized dimension"
    if table[-1][1] != (None, classes):
        return None, f"output {table[-1][1]} is not (None, {classes})"
    return table, None


@settings(max_examples=150)
@given(graph_specs())
def test_graphs_shapes_params_order_and_verdicts_equal_keras(case):
    text, nodes, input_shape, classes, _ = case
    expected, reason = keras_graph_verdict(nodes, input_shape, classes)
    drawn(nodes, "Keras refuses it" if expected is None else "Keras builds it")
    try:
        model = check(text, input_shape, classes)
    except SpecError as error:
        assert expected is None, f"cnndsl rejects what Keras builds: {error}"
        assert all(d.span is not None for d in error.diagnostics)
        return
    assert expected is not None, f"cnndsl accepts what Keras refuses: {reason}"
    assert _cnndsl_rows(model) == expected


@settings(max_examples=30)
@given(graph_specs())
def test_the_keras_backend_builds_graphs_as_the_checker_describes(case):
    text, nodes, input_shape, classes, _ = case
    try:
        model = check(text, input_shape, classes)
    except SpecError:
        event("the checker refuses it")
        return
    drawn(nodes, "built")
    fresh_session()
    built = compile_spec(text, input_shape, classes)
    layers = [layer for layer in built.layers if type(layer).__name__ != "InputLayer"]
    assert [_keras_row(layer) for layer in layers] == _cnndsl_rows(model)
    assert [layer.name for layer in layers] == [info.name for info in model.layers]
    assert isinstance(built, keras.Sequential) != model.is_graph


REFERENCE_CODES = {code for code, entry in LAYERS.items() if entry.keras and not entry.ends_model}
"""Every code the reference above builds (each code with a Keras class); ID, IN and OUT make no layer."""
OWN_REFERENCE = {"DETECT"}
"""Codes held to a reference of their own: DETECT to Ultralytics' Detect's (tests/test_detect.py)."""


def test_every_code_has_a_place_in_the_reference():
    assert REFERENCE_CODES | {"ID", "IN", "OUT"} | BLOCK_CODES | OWN_REFERENCE == set(
        LAYERS
    )  # blocks: test_yolo_blocks.py
    for code in REFERENCE_CODES - set(MERGE_LAYERS) - {"CN", "ATT"}:  # ATT: held by tests/test_attention.py
        made = _reference_simple(Desc(code, "", dict(LAYERS[code].example)))
        assert _keras_row_name(made) == LAYERS[code].keras_class
    scaled = _reference_merge(MergeDesc("ADD", [[], []], {"scale": 0.5}))
    assert _keras_row_name(scaled) == LAYERS["ADD"].keras_form({"scale": 0.5}).name


@pytest.mark.parametrize("code", sorted(REFERENCE_CODES - set(MERGE_LAYERS) - {"ATT"}))
def test_every_code_s_example_has_keras_s_shape_and_parameters(code):
    """Each entry's example on an 8x8x4 input, against the reference's Keras layer built from it."""
    entry = LAYERS[code]
    info = check(f"{example_text(entry)} -> FL()", (8, 8, 4), 3).layers[0]
    fresh_session()
    inputs = keras.Input((8, 8, 4))
    layer = reference_layers([Desc(code, "", dict(entry.example))], 3)[0]
    outputs = layer(inputs)
    assert (tuple(outputs.shape), layer.count_params()) == (info.output_shape, info.params)
    assert [tuple(w.shape) for w in layer.weights] == [w.shape for w in entry.weights((None, 8, 8, 4), info.layer.args)]


def _keras_row_name(layer) -> str:
    name = "LayerScale" if isinstance(layer, _ReferenceLayerScale) else type(layer).__name__
    if isinstance(layer, BlockMove):
        name = LAYERS[layer.code].keras_class
    return SAME_LAYER.get(name, name)


def test_a_scaled_residual_is_named_and_classed_as_the_layer_keras_builds():
    text = "CN(4, 1) -> ADD(ID() | ID(), scale=0.5) -> ADD(ID() | ID()) -> GAP()"
    fresh_session()  # Keras numbers layer names across one session
    model, built = check(text, (4, 4, 1)), compile_spec(text, (4, 4, 1))
    layers = [layer for layer in built.layers if type(layer).__name__ != "InputLayer"]
    assert [(info.name, info.keras_class) for info in model.layers] == [(x.name, type(x).__name__) for x in layers]
    assert model.layers[1].keras_class == "ScaledAdd"


def test_a_scaled_add_of_branches_of_two_ranks_broadcasts_as_add_does_and_never_across_the_batch():
    # a 2-D branch beside a 4-D one gains axes after the batch axis, as keras.layers.Add aligns them
    text = "IN(4, 4, 2) -> MUL(ID() | GAP(keepdims=true) -> ADD(ID() | FL(), scale=0.5)) -> FL()"
    built = compile_spec(text, None, 10)
    assert check(text, None, 10).layers[-4].output_shape == (None, 1, 1, 2) == built.layers[-4].output.shape
    x = np.random.default_rng(0).random((3, 4, 4, 2), dtype=np.float32)
    together = built.predict(x, verbose=0)
    one_by_one = np.concatenate([built.predict(x[i : i + 1], verbose=0) for i in range(3)])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    pooled = x.mean(axis=(1, 2))  # GAP, then GAP + 0.5 * FL(GAP) multiplies the input: 1.5 times the mean
    scaled_input = x * (1.5 * pooled)[:, None, None, :]
    dense = built.layers[-1].get_weights()
    expected = keras.activations.softmax(scaled_input.reshape(3, -1) @ dense[0] + dense[1]).numpy()
    np.testing.assert_allclose(together, expected, atol=1e-5)


@pytest.mark.parametrize(
    "given", ["mean=(1, 2, 3), variance=4", "mean=1, variance=(1, 2, 3)", "mean=(1, 2), variance=(1, 2, 3)"]
)
def test_a_normalization_keras_refuses_is_refused_at_its_arguments(given):
    with pytest.raises(ValueError, match="same shape"):
        eval(f"keras.layers.Normalization({given})")
    with pytest.raises(SpecError, match="NRM mean and variance must have the same shape") as caught:
        check(f"IN(4, 4, 3) -> NRM({given}) -> GAP()")
    assert caught.value.diagnostics[0].span.column == 16


@pytest.mark.parametrize("name", sorted(notebook_specs()))
def test_notebook_models_built_by_keras_match_the_notebook(name):
    built = compile_spec(notebook_specs()[name])
    table = notebook_table(name)
    assert [tuple(layer.output.shape) for layer in built.layers] == table.shapes
    assert [layer.count_params() for layer in built.layers] == table.params
    assert built.count_params() == table.total


def test_every_activation_the_notation_accepts_is_a_keras_activation():
    for name in ACTIVATIONS:
        layer = keras.layers.Activation(name)
        assert tuple(layer.compute_output_shape((None, 4, 4, 3))) == (None, 4, 4, 3)
        assert keras.activations.get(name) is not None


def test_compile_spec_raises_before_building():
    with pytest.raises(SpecError):
        compile_spec("CN(8)->FL()->CN(8)")
