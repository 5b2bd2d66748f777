"""A core-only installation (what pre-commit installs): every command and entry point that needs
an extra says which in one line, exit code 2, never a traceback.

The extras' modules are made unimportable in a fresh process by a ``sitecustomize`` that refuses
every module outside the standard library and cnndsl, so lark too: nothing the core runs needs it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile

import pytest
import tomllib
from helpers import ROOT

from cnndsl.cli import COMMANDS, build_parser
from cnndsl.errors import EXTRA_MODULES

pytestmark = pytest.mark.slow

BLOCKER = """
import sys
ALLOWED = set(sys.stdlib_module_names) | {"cnndsl", "tomli", "sitecustomize"}
class CoreOnly:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in ALLOWED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, CoreOnly())
"""

COMMAND_LINES = {
    "check": [["check", "m.cnn"], ["check", "m.yaml"]],
    "summary": [["summary", "m.cnn"], ["summary", "m.cnn", "--svg", "m.png"]],
    "draw": [["draw", "m.cnn", "-o", "m.svg"], ["draw", "m.cnn", "-o", "m.png"]],
    "fmt": [["fmt", "--check", "m.cnn"]],
    "run": [["run", "m.cnn", "--data", "sample", "--epochs", "1"]],
    "compare": [["compare", "m.cnn", "--data", "sample", "--epochs", "1"]],
    "emit": [["emit", "m.cnn", "--to", to, "-o", f"m.{to}"] for to in ("keras", "torch", "json", "onnx")],
    "from-keras": [["from-keras", "m.keras"]],
    "from-torch": [["from-torch", "torchvision.models:resnet18"]],
    "from-yolo": [["from-yolo", "m.yaml"]],
    "sweep": [["sweep", "s.cnn", "--trials", "1", "--data", "sample"]],
    "lsp": [["lsp"]],
}
"""At least one command line per command, and every choice of emit's --to."""

CALLS = {
    "train": "cnndsl.train('CN(8, 3) -> FL()', data='sample', epochs=1)",
    "compare": "cnndsl.compare(['CN(8, 3) -> FL()'], data='sample', epochs=1)",
    "sweep": "cnndsl.sweep('CN({8, 16}, 3) -> FL()', 'sample', trials=1)",
    "load_data": "cnndsl.load_data('sample')",
    "port_weights": "cnndsl.port_weights(None, None)",
    "from_torch": "cnndsl.from_torch(None)",
    "from_yolo": "cnndsl.from_yolo('m.yaml')",
    "compile_spec": "cnndsl.compile_spec('CN(8, 3) -> FL()')",
    "compile_spec_torch": "cnndsl.compile_spec('CN(8, 3) -> FL()', backend='torch')",
}
"""Every library function that may need an extra (``to_spec`` is given a Keras model, so Keras is there)."""

NEEDS_EXTRA = re.compile(r"(cnndsl: error: )?\S.* needs? .*pip install ['\"]cnndsl\[(\w+)\]['\"].*")


@pytest.fixture
def core_only(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    (tmp_path / "m.cnn").write_text("CN(8, 3) -> FL()\n")
    (tmp_path / "s.cnn").write_text("CN({8, 16}, 3) -> FL()\n")
    (tmp_path / "m.yaml").write_text(
        "nc: 2\nbackbone:\n  - [-1, 1, Conv, [8, 3, 2]]\nhead:\n  - [-1, 1, Classify, [nc]]\n"
    )
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive:
        archive.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": []}}')
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def python(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)

    return python


def test_every_command_has_a_command_line_here():
    assert sorted(COMMAND_LINES) == sorted(COMMANDS)
    (emit,) = [a for a in build_parser("emit")._subparsers._group_actions[0].choices["emit"]._actions if a.dest == "to"]
    assert {line[3] for line in COMMAND_LINES["emit"]} == set(emit.choices)


@pytest.mark.parametrize("argv", [line for lines in COMMAND_LINES.values() for line in lines], ids=" ".join)
def test_a_command_works_or_names_the_extra_it_needs(core_only, argv):
    result = core_only("-c", "import sys; from cnndsl.cli import main; sys.exit(main(sys.argv[1:]))", *argv)
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == 2:
        assert NEEDS_EXTRA.fullmatch(result.stderr.strip()), result.stderr
        assert result.stderr.count("\n") == 1
    else:
        assert result.returncode in (0, 1), result.stderr  # 1: fmt --check would reformat


@pytest.mark.parametrize("name", CALLS)
def test_a_library_function_names_the_extra_it_needs(core_only, name):
    code = f"import cnndsl\ntry:\n    {CALLS[name]}\nexcept cnndsl.errors.MissingExtra as error:\n    print(error)\n"
    result = core_only("-c", code)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert NEEDS_EXTRA.fullmatch(result.stdout.strip()), result.stdout


def test_the_extras_table_holds_what_each_extra_installs():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def modules(extra: str) -> set[str]:
        found = set()
        for requirement in extras[extra]:
            name = re.match(r"[\w.-]+(\[[\w,]+\])?", requirement)
            if name.group().startswith("cnndsl["):
                found |= {m for nested in name.group(1)[1:-1].split(",") for m in modules(nested)}
            else:  # a distribution's name, without its own extras, as the module it installs
                distribution = name.group().split("[")[0].replace("-", "_")
                found.add({"scikit_learn": "sklearn", "pyyaml": "yaml"}.get(distribution, distribution))
        return found

    entry_extras = {name for name in extras if name != "dev"}
    assert set(EXTRA_MODULES) == entry_extras
    for extra in entry_extras:
        assert modules(extra) <= EXTRA_MODULES[extra], extra
