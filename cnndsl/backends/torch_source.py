"""Emit readable PyTorch source: an ``nn.Module`` class whose ``forward`` is written out.

The calls are those the PyTorch backend builds (:func:`cnndsl.backends.torch.plan`),
printed instead of constructed, and the helper classes they use are copied from
:mod:`cnndsl.backends.torch_modules`, so the module the source defines is the
builder's module: same layers, same names, same order. Needs no torch to write.
"""

from __future__ import annotations

import ast
from pathlib import Path

from cnndsl.backends.keras_source import python_value
from cnndsl.backends.torch import Call, LayerPlan, plan
from cnndsl.model import CheckedModel, input_number, is_input

HELPERS = Path(__file__).with_name("torch_modules.py")


def emit(model: CheckedModel, spec_name: str = "<spec>", logits: bool = False) -> str:
    """The source's text; SpecValueError for a layer PyTorch cannot build. ``logits``: no softmax at the end."""
    plans = plan(model, logits)
    used = {name for p in plans for name in _names(p.calls)}
    lines = [
        f'"""The cnndsl spec {spec_name} as a PyTorch module (written by cnndsl emit --to torch).',
        "",
        f"Input: (batch, {', '.join(str(s) for s in _channels_first(model.input_shape[1:]))}), channels first.",
        '"""',
        "",
        "import math",
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        *helper_source(used),
        "",
        "class Model(nn.Module):",
        "    def __init__(self):",
        "        super().__init__()",
    ]
    for p in plans:
        lines += [f"        # {' '.join(p.text.split())}", f"        self.{p.name} = {_module(p.calls)}"]
    results = model.output_sources if model.outputs else None
    given = [f"input_{each.name}" for each in model.inputs] or ["x"]  # a model of several takes them in order
    lines += ["", f"    def forward(self, {', '.join(given)}):", *_forward(plans, model.is_graph, results, given)]
    lines += ["", "", "model = Model()", "", 'if __name__ == "__main__":', "    print(model)", ""]
    return "\n".join(lines)


def _channels_first(shape) -> tuple:
    return (shape[-1], *shape[:-1])


def _names(calls) -> set[str]:
    found = set()
    for c in calls:
        found.add(c.name)
        found |= _names([a for a in c.args if isinstance(a, Call)])
    return {name for name in found if not name.startswith("nn.")}


def _module(calls: tuple[Call, ...]) -> str:
    return _call(calls[0]) if len(calls) == 1 else f"nn.Sequential({', '.join(_call(c) for c in calls)})"


def _call(c: Call) -> str:
    parts = [_call(a) if isinstance(a, Call) else python_value(a) for a in c.args]
    parts += [f"{k}={python_value(v)}" for k, v in c.kwargs]
    return f"{c.name}({', '.join(parts)})"


def _forward(
    plans: list[LayerPlan], graph: bool, results: tuple[int, ...] | None = None, given: list[str] | None = None
) -> list[str]:
    """The forward pass; ``results``: the layers (INPUT: the input) whose outputs it returns as a tuple, in order;
    ``given``: the inputs' variables, in order (``x``)."""
    if not graph:
        return [*(f"        x = self.{p.name}(x)" for p in plans), "        return x"]
    given = given or ["x"]

    def name(i: int) -> str:
        return given[input_number(i)] if is_input(i) else plans[i].name

    lines = []
    for p in plans:
        feeds = ", ".join(name(i) for i in p.inputs)
        lines.append(f"        {p.name} = self.{p.name}({feeds})")
    if results is not None:
        returned = ", ".join(name(i) for i in results)
        return [*lines, f"        return ({returned},)" if len(results) == 1 else f"        return {returned}"]
    return [*lines, f"        return {plans[-1].name}"]


def helper_source(names: set[str]) -> list[str]:
    """The source of the named classes of torch_modules.py and of the functions they call, in file order."""
    text = HELPERS.read_text(encoding="utf-8")
    tree = ast.parse(text)
    defined = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef | ast.FunctionDef)}
    wanted, pending = set(), [n for n in names if n in defined]
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending += [n.id for n in ast.walk(defined[name]) if isinstance(n, ast.Name) and n.id in defined]
    lines = []
    for node in tree.body:
        if getattr(node, "name", None) in wanted:
            lines += ["", ast.get_source_segment(text, node), ""]
    return lines
