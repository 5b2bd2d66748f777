"""Specs the checker accepts, and the helpers that compare a model in another framework with Keras's.

Built on :mod:`spec_strategies` (the random specs of the Keras differential test):
the frameworks are compared on accepted specs only, on small inputs.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from spec_strategies import specs

from cnndsl import SpecError, check

BATCH = 3
TOLERANCE = 1e-4


@st.composite
def accepted_specs(draw) -> tuple[str, tuple[int, int, int], int]:
    """(text, input shape, classes) of a random spec that passes every check."""
    text, _descs, input_shape, classes, _declared = draw(specs())
    ending = draw(st.sampled_from(["", "->FL()", "->GAP()"]))
    for candidate in (text, text + ending):
        try:
            check(candidate, input_shape, classes)
        except SpecError:
            continue
        return candidate, input_shape, classes
    assume(False)


def randomize(keras_model, seed: int = 0) -> None:
    """Give every Keras weight a random value (variances positive), so that porting is tested on every number."""
    rng = np.random.default_rng(seed)
    for variable in keras_model.weights:
        value = rng.normal(0, 0.5, size=tuple(variable.shape)).astype("float32")
        if "variance" in variable.name:
            value = np.abs(value) + 0.5
        variable.assign(value)


def sample(input_shape, seed: int = 1) -> np.ndarray:
    """A random batch, channels last as Keras takes it."""
    return np.random.default_rng(seed).normal(size=(BATCH, *input_shape)).astype("float32")


def keras_output(keras_model, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras_model(x, training=False))


def torch_output(torch_model, x: np.ndarray) -> np.ndarray:
    """The module's output on a channels-last batch, in eval mode, back in Keras's layout."""
    import torch

    torch_model.eval()
    with torch.no_grad():
        out = torch_model(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    return out.transpose(0, 2, 3, 1) if out.ndim == 4 else out


def assert_close(expected: np.ndarray, actual: np.ndarray) -> None:
    """Equal shapes, and values within 1e-4 (relative for large values)."""
    assert expected.shape == actual.shape
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE)
