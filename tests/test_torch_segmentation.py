"""Segmentation modules into the notation: a per-pixel head, a dictionary's ``'out'``, its ``'aux'`` left out.

torchvision's segmentation models return ``{'out': ..., 'aux': ...}`` from a backbone that
itself returns a dictionary (``IntermediateLayerGetter``); the notation has one output, the
``'out'`` entry, and the auxiliary head, which none of the output's values depend on, is
named as left out. Differential: the spec, built by both backends with the source's
weights, computes the source's ``'out'``.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="from_torch needs the torch extra")
from torch import nn  # noqa: E402

from cnndsl import check, compile_spec, from_torch, port_weights  # noqa: E402
from cnndsl.errors import UnsupportedModel  # noqa: E402

pytestmark = pytest.mark.slow


def _randomised(model: nn.Module) -> nn.Module:
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.rand(module.num_features, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


class TwoHeads(nn.Module):
    """torchvision's segmentation model without its final resize: a backbone returning a dictionary, two heads."""

    def __init__(self, torchvision, classes: int = 3):
        from torchvision.models._utils import IntermediateLayerGetter
        from torchvision.models.segmentation.fcn import FCNHead

        super().__init__()
        body = nn.Sequential(OrderedDict(
            stem=nn.Conv2d(3, 8, 3, padding=1, bias=False), bn=nn.BatchNorm2d(8), relu=nn.ReLU(inplace=True),
            layer=nn.Sequential(nn.Conv2d(8, 16, 3, padding=2, dilation=2), nn.ReLU()),
        ))  # fmt: skip
        self.backbone = IntermediateLayerGetter(body, return_layers={"layer": "out", "relu": "aux"})
        self.classifier = FCNHead(16, classes)
        self.aux_classifier = FCNHead(8, classes)

    def forward(self, x):
        features = self.backbone(x)
        result = OrderedDict()
        result["out"] = self.classifier(features["out"])
        result["aux"] = self.aux_classifier(features["aux"])
        return result


def test_a_dictionary_s_out_reads_exactly_and_its_auxiliary_head_is_named_as_left_out(torchvision_import):
    torch.manual_seed(0)
    source = _randomised(TwoHeads(torchvision_import.module))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = from_torch(source, (16, 16, 3), task="segment")
    assert [(d.path, d.cls) for d in spec.dropped] == [("aux_classifier", "FCNHead")]
    assert any("aux_classifier (FCNHead)" in str(warning.message) for warning in caught)
    model = check(spec.text, task="segment")
    total = sum(p.numel() for p in source.parameters())
    assert model.trainable_params + spec.dropped[0].params == total
    assert spec.num_classes == 3 and model.layers[-1].output_shape == (None, 16, 16, 3)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        logits = source(x)["out"]
        built = compile_spec(spec.text, backend="torch", logits=True, task="segment").eval()
        port_weights(spec, built)
        np.testing.assert_allclose(built(x).numpy(), logits.numpy(), atol=1e-5)
    keras_model = compile_spec(spec.text, task="segment")
    port_weights(spec, keras_model)
    expected = torch.softmax(logits, 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(keras_model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0), expected, atol=1e-5)


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 2, 1), nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return {"mask": self.a(x), "edges": self.b(x)}


def test_a_dictionary_without_out_is_refused_naming_its_keys():
    with pytest.raises(UnsupportedModel, match="dictionary of 'mask', 'edges': the notation has one output"):
        from_torch(Pair(), (8, 8, 3), task="segment")


def test_a_per_pixel_output_read_as_a_classifier_is_refused_saying_what_the_task_ends_in():
    with pytest.raises(UnsupportedModel, match=r"not one \(batch, classes\) tensor"):
        from_torch(nn.Sequential(nn.Conv2d(3, 2, 1)), (8, 8, 3), task="classify")
    with pytest.raises(UnsupportedModel, match=r"not one \(batch, classes, height, width\) tensor"):
        from_torch(nn.Sequential(nn.Flatten(), nn.Linear(192, 2)), (8, 8, 3), task="segment")


def test_torchvision_s_lraspp_reads_exactly_with_the_segment_task(torchvision_import):
    torch.manual_seed(0)
    builder = torchvision_import.module.models.segmentation.lraspp_mobilenet_v3_large
    source = _randomised(builder(weights=None, weights_backbone=None, num_classes=3))
    spec = from_torch(source, (64, 64, 3), task="segment")
    assert "RSZTO(" in spec.text and "RSZ(" not in spec.text  # resized to the sizes of tensors, as written
    model = check(spec.text, task="segment")
    assert model.trainable_params == sum(p.numel() for p in source.parameters())
    assert spec.num_classes == 3 and model.layers[-1].output_shape == (None, 64, 64, 3)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = source(x)["out"]
        built = compile_spec(spec.text, backend="torch", logits=True, task="segment").eval()
        port_weights(spec, built)
        np.testing.assert_allclose(built(x).numpy(), logits.numpy(), atol=1e-4 * float(logits.abs().max()))
    keras_model = compile_spec(spec.text, task="segment")
    port_weights(spec, keras_model)
    expected = torch.softmax(logits, 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(keras_model.predict(x.permute(0, 2, 3, 1).numpy(), verbose=0), expected, atol=1e-4)


class KeywordJoin(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(3, 4, 1)
        self.head = nn.Conv2d(6, 3, 1)

    def forward(self, x):
        return self.head(torch.cat(tensors=[self.a(x), self.b(x)], dim=1))


def test_tensors_given_as_keyword_arguments_are_read_as_the_tensors_they_are():
    torch.manual_seed(0)
    source = KeywordJoin().eval()
    spec = from_torch(source, (8, 8, 3), task="segment")
    assert "CAT(" in spec.text
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        built = compile_spec(spec.text, backend="torch", logits=True, task="segment").eval()
        port_weights(spec, built)
        np.testing.assert_allclose(built(x).numpy(), source(x).numpy(), atol=1e-5)
