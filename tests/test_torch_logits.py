"""PyTorch users get logits when they ask: the module without the head's softmax, for nn.CrossEntropyLoss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import run_cli  # noqa: E402

from cnndsl import compile_spec  # noqa: E402

pytestmark = pytest.mark.slow

SPECS = ["CN(8, 3) -> MP(2) -> FL() -> DN(16)", "CN(4, 3, padding=same) -> ADD(CN(4, 3, padding=same) | ID()) -> GAP()"]


@pytest.mark.parametrize("text", SPECS)
def test_the_softmax_of_the_logits_module_is_the_default_module(text):
    torch.manual_seed(0)
    default = compile_spec(text, (12, 12, 1), 5, backend="torch").eval()
    logits = compile_spec(text, (12, 12, 1), 5, backend="torch", logits=True).eval()
    logits.load_state_dict(default.state_dict())
    x = torch.rand(3, 1, 12, 12)
    with torch.no_grad():
        raw = logits(x)
        assert not torch.allclose(raw.sum(dim=1), torch.ones(3))  # not probabilities
        torch.testing.assert_close(torch.softmax(raw, dim=1), default(x))
        loss = torch.nn.CrossEntropyLoss()(raw, torch.tensor([0, 1, 2]))
    assert torch.isfinite(loss)


def test_a_head_of_its_own_ends_in_its_logits():
    module = compile_spec("IN(6, 6, 2) -> CN(3, 1) -> GAP() -> ACT(softmax)", backend="torch", logits=True).eval()
    with torch.no_grad():
        out = module(torch.rand(2, 2, 6, 6))
    assert out.shape == (2, 3) and not torch.allclose(out.sum(dim=1), torch.ones(2))


def test_logits_are_refused_for_keras():
    with pytest.raises(ValueError, match="logits=True is for backend='torch'"):
        compile_spec("CN(8) -> GAP()", logits=True)


def test_emit_writes_a_torch_module_without_the_softmax(tmp_path):
    with_softmax = run_cli("emit", "CN(8) -> GAP()", "--to", "torch")
    without = run_cli("emit", "CN(8) -> GAP()", "--to", "torch", "--logits")
    assert with_softmax.returncode == without.returncode == 0, without.stderr
    assert "nn.Softmax" in with_softmax.stdout and "nn.Softmax" not in without.stdout
    refused = run_cli("emit", "CN(8) -> GAP()", "--to", "keras", "--logits")
    assert refused.returncode == 2 and "--logits is for --to torch or onnx" in refused.stderr
