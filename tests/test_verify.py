"""A reading verifies itself: a spec that does not compute what its source computes is refused, never returned.

Each model here is read wrongly on purpose (a layer that computes otherwise than the class it is
read as, or a reading rule patched to drop an activation), with a layer that is read right
before it and layers after it, so that the refusal must name the first layer whose output
differs. ``verify=False`` (``--no-verify``) returns the reading as it is.
"""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch", reason="from_torch needs the torch extra")
keras = pytest.importorskip("keras")
from helpers import run_cli  # noqa: E402
from torch import nn  # noqa: E402

from cnndsl import check, from_torch, to_spec  # noqa: E402
from cnndsl.backends import torch_reader  # noqa: E402
from cnndsl.backends.verify import RTOL, Difference, verify_torch  # noqa: E402
from cnndsl.errors import UnsupportedModel  # noqa: E402

pytestmark = pytest.mark.slow


def one_line(text: str) -> str:
    return " ".join(text.split()).replace("( ", "(").replace(" )", ")")


class StandardizedConv2d(nn.Conv2d):
    """Weight standardisation, written on ``_conv_forward``: it keeps ``Conv2d.forward``, so the reader
    reads it as a plain convolution, and its weights port as they are stored (not standardised)."""

    def _conv_forward(self, x, weight, bias):
        mean = weight.mean((1, 2, 3), keepdim=True)
        std = weight.std((1, 2, 3), keepdim=True)
        return super()._conv_forward(x, (weight - mean) / (std + 1e-5), bias)


def _standardized_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), StandardizedConv2d(8, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5),
    ).eval()  # fmt: skip


def test_a_module_that_computes_otherwise_than_its_class_is_refused_at_its_layer():
    module = _standardized_net()
    text = one_line(from_torch(module, (16, 16, 3), verify=False).text)
    assert text.startswith("IN(16, 16, 3) -> CN(8) -> CN(8, activation=linear) -> BN("), text  # read as a Conv2d
    with pytest.raises(UnsupportedModel) as caught:
        from_torch(module, (16, 16, 3))
    message = str(caught.value)
    assert message.startswith(
        "module '2' (StandardizedConv2d), node '_2', read as CN(8, activation=linear): its output"
    )
    assert "nothing is written" in message
    largest, scale = (float(x) for x in re.search(r"by up to (\S+) \((?:\S+) of .*?value, (\S+);", message).groups())
    assert largest > 100 * RTOL * scale


def test_the_first_layer_that_differs_is_named_when_a_reading_drops_an_activation(monkeypatch):
    """A reading rule that forgets the ReLU: the convolution before it still agrees, the one after it differs."""
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.Tanh(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    ).eval()  # fmt: skip
    assert one_line(from_torch(module, (16, 16, 3)).text).endswith(
        "CN(8, activation=tanh) -> CN(8) -> CN(8) -> GAP() -> DN(5, activation=linear)"
    )
    monkeypatch.setitem(torch_reader._MODULES, "torch.nn.modules.activation.ReLU", lambda reader, relu, x: x)
    with pytest.raises(UnsupportedModel, match=r"^module '4' \(Conv2d\), node '_4', read as CN\(8"):
        from_torch(module, (16, 16, 3))


def test_a_subclass_read_as_its_base_class_is_refused(monkeypatch):
    """A Conv2d whose forward adds one, read as its base (as it was before such subclasses were traced into)."""
    from test_from_torch import _Shifted

    def as_base(module):
        for cls in type(module).__mro__:
            entry = torch_reader._MODULES.get(f"{cls.__module__}.{cls.__qualname__}")
            if entry is not None:
                return entry
        return None

    monkeypatch.setattr(torch_reader, "_module_entry", as_base)
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3), _Shifted(4, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                           nn.Linear(8, 10)).eval()  # fmt: skip
    with pytest.raises(UnsupportedModel, match=r"^module '1' \(_Shifted\), node '_1', read as CN\(8"):
        from_torch(module, (16, 16, 3))


def test_a_head_put_on_a_module_s_own_softmax_is_refused(monkeypatch):
    """The softmax the notation puts on logits, put on a module that applies its own: a softmax of a softmax."""
    from cnndsl.tasks import Task

    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3), nn.Softmax(1))
    logits = nn.Sequential(*list(module)[:-1])
    asked = from_torch(logits, (8, 8, 3), task="classify")  # the softmax appended to its logits
    assert one_line(from_torch(module, (8, 8, 3)).text) == one_line(asked.text)
    monkeypatch.setattr(Task, "head_of_logits", lambda self, code, args: None)  # every read model gets a softmax
    assert one_line(from_torch(module, (8, 8, 3), verify=False).text).endswith(
        "DN(3, activation=softmax) -> ACT(softmax)"
    )
    from_torch(logits, (8, 8, 3), task="classify")  # on logits, the appended softmax is the head
    with pytest.raises(UnsupportedModel, match=r"read as ACT\(softmax\) \(the model's output\): its output differs"):
        from_torch(module, (8, 8, 3))


def test_a_head_put_on_a_module_s_own_softmax_before_a_flatten_is_refused(monkeypatch):
    """The same, where the module flattens its softmax's (N, C, 1, 1) output after it: the softmax seen through
    the reshape."""
    module = nn.Sequential(nn.Conv2d(3, 4, 8), nn.Softmax(1), nn.Flatten())
    assert one_line(from_torch(module, (8, 8, 3)).text).endswith("CN(4, 8, activation=linear) -> FL() -> ACT(softmax)")
    monkeypatch.setattr(torch_reader, "_activation_last", lambda reader, result: result)  # read where written
    monkeypatch.setattr(torch_reader, "_reshaped_head", lambda reader, result: None)
    assert one_line(from_torch(module, (8, 8, 3), verify=False).text).endswith(
        "CN(4, 8, activation=softmax) -> FL() -> ACT(softmax)"
    )
    with pytest.raises(UnsupportedModel, match=r"read as ACT\(softmax\) \(the model's output\): its output differs"):
        from_torch(module, (8, 8, 3))


def test_a_verified_reading_reports_what_it_compared():
    """Every layer the source computes a tensor for is compared; the padding before a strided convolution is not."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                           nn.Flatten(), nn.Linear(8 * 4 * 4, 5)).eval()  # fmt: skip
    with torch.no_grad():  # statistics of their own, which the port carries
        module[1].running_mean.uniform_(-1, 1)
        module[1].running_var.uniform_(0.5, 2)
    spec = from_torch(module, (16, 16, 3))
    assert one_line(spec.text).startswith("IN(16, 16, 3) -> ZP() -> CN(8, strides=2, activation=linear) -> BN("), (
        spec.text
    )
    verified = verify_torch(spec, torch_reader.graph_of, torch_reader.port_weights)
    assert (verified.layers, verified.of) == (6, 7)  # ZP, CN, BN, ACT, MP, FL, DN
    assert 0 <= verified.worst <= RTOL


def test_the_difference_is_relative_to_the_source_s_scale():
    assert Difference(1e-3, 100.0).within and not Difference(1e-3, 1.0).within
    assert Difference(0.0, 0.0).within and not Difference(1e-3, 0.0).within
    assert "by up to 0.5 (0.25 of the source's largest value, 2" in str(Difference(0.5, 2.0))


# --- Keras ----------------------------------------------------------------------------------------


class Conv2D(keras.layers.Conv2D):
    """A layer that shares Keras's class name, whose ``call`` adds one: read as a CN by its name."""

    def call(self, inputs):
        return super().call(inputs) + 1.0


def _keras_net(conv) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = conv(6, 3, name="shifted")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Add()([x, keras.layers.Conv2D(6, 1)(x)])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_a_keras_layer_that_computes_otherwise_than_its_class_is_refused_at_its_layer():
    assert check(to_spec(_keras_net(keras.layers.Conv2D)).text).total_params > 0
    model = _keras_net(Conv2D)
    assert "CN(6, activation=linear)" in to_spec(model, verify=False).text  # read by its class's name
    with pytest.raises(UnsupportedModel, match=r"^layer 'shifted' \(Conv2D\), read as CN\(6, activation=linear\): "):
        to_spec(model)


def test_a_keras_reading_that_reads_an_activation_as_another_names_it(monkeypatch):
    from cnndsl.backends import keras_reader

    model = keras.Sequential([
        keras.Input((10, 10, 1)), keras.layers.Conv2D(4, 3), keras.layers.Activation("tanh"),
        keras.layers.Conv2D(4, 3, name="after"), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    real = keras_reader._node_parts
    monkeypatch.setattr(
        keras_reader,
        "_node_parts",
        lambda layer: ("ACT", {"name": "linear"}) if layer.name == model.layers[1].name else real(layer),
    )
    with pytest.raises(UnsupportedModel, match=r"^layer 'activation\w*' \(Activation\), read as ACT\(linear\): "):
        to_spec(model)


def test_a_dense_with_lora_weights_is_refused():
    """Keras's LoRA adds its low-rank kernels to a Dense's: weights the notation's DN has no room for."""
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    )
    model.layers[-1].enable_lora(2)
    with pytest.raises(UnsupportedModel, match=r"layer 'dense\w*' \(Dense\): its weights do not fit DN\(3"):
        to_spec(model)


# --- the commands ---------------------------------------------------------------------------------

STANDARDIZED = """
import torch
from torch import nn


class StandardizedConv2d(nn.Conv2d):
    def _conv_forward(self, x, weight, bias):
        mean, std = weight.mean((1, 2, 3), keepdim=True), weight.std((1, 2, 3), keepdim=True)
        return super()._conv_forward(x, (weight - mean) / (std + 1e-5), bias)


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), StandardizedConv2d(8, 8, 3), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
"""


def test_from_torch_writes_nothing_for_a_reading_that_does_not_verify(tmp_path, monkeypatch):
    (tmp_path / "verifiednets.py").write_text(STANDARDIZED)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "net.cnn"
    refused = run_cli("from-torch", "verifiednets:net", "--input-shape", "12,12,3", "-o", out, cwd=tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith("cnndsl: error: verifiednets:net: module '2' (StandardizedConv2d)")
    assert not out.exists() and refused.stdout == ""
    unverified = run_cli("from-torch", "verifiednets:net", "--input-shape", "12,12,3", "--no-verify", "-o", out)
    assert unverified.returncode == 0, unverified.stderr
    assert one_line(out.read_text()) == "IN(12, 12, 3) -> CN(8) -> CN(8) -> GAP() -> DN(5, activation=linear)"


def test_from_keras_refuses_a_file_whose_reading_does_not_verify(tmp_path):
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    )
    model.layers[-1].enable_lora(2)
    path = tmp_path / "lora.keras"
    model.save(path)
    out = tmp_path / "lora.cnn"
    refused = run_cli("from-keras", path, "-o", out)
    assert refused.returncode == 1 and not out.exists()
    assert refused.stderr.strip().splitlines()[-1].startswith(f"cnndsl: error: {path}: layer 'dense")
    unverified = run_cli("from-keras", path, "--no-verify")
    assert unverified.returncode == 0 and unverified.stdout == "IN(6, 6, 1) -> FL() -> DN(3, activation=softmax)\n"
