"""Rich display in Jupyter, tested for real: notebooks executed by nbclient in an ipykernel
started here (this interpreter, this cnndsl), their outputs read back; and the display
pieces on their own, with no kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from helpers import EXAMPLES

from cnndsl import check, draw_spec
from cnndsl.notebook import CellDefinitions, compare_html, curves_svg, run_cell, summary_html

nbformat = pytest.importorskip("nbformat")

pytestmark = pytest.mark.slow
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

KERNEL = "cnndsl-test"
MODEL1_PARAMS = "240,380"


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.cnn").read_text()


# --- without a kernel ------------------------------------------------------------------


def test_a_checked_model_is_its_table_beside_its_picture():
    bundle = check(example("model1"))._repr_mimebundle_()
    html = bundle["text/html"]
    assert "<table" in html and MODEL1_PARAMS in html and "<svg" in html
    for text in ("CN(72, (7, 7))", "(None, 22, 22, 72)", "3,600", "Architecture hash"):
        assert text in html
    ET.fromstring(bundle["image/svg+xml"])  # a whole SVG document
    assert f"Total params: {MODEL1_PARAMS}" in bundle["text/plain"]


def test_a_long_summary_scrolls_beside_a_picture_drawn_at_its_depth():
    from cnndsl.backends.svg import source_drawable
    from cnndsl.inputs import read_models
    from cnndsl.notebook import LONG_TABLE, model_view

    (source,) = read_models(str(EXAMPLES / "resnet50.cnn"))
    model = source_drawable(source, None, 1000).model  # with its block uses, as pictures check it
    assert len(model.layers) > LONG_TABLE
    html = model_view(model, "resnet50", depth=0)._repr_mimebundle_()["text/html"]
    assert "overflow:auto'><table" in html and 'class="block"' in html
    assert 'class="block"' not in model_view(check(example("model1")))._repr_mimebundle_()["text/html"]


def test_the_table_has_every_layer_with_its_macs():
    model = check(example("model1"))
    html = summary_html(model)
    assert html.count("<tr>") == len(model.layers) + 2  # header and totals
    assert f"{model.layers[0].macs:,}" in html


def test_a_failing_spec_shows_carets_and_its_picture_up_to_the_error():
    bundle = draw_spec(example("model3_title"))._repr_mimebundle_()
    plain = bundle["text/plain"]
    assert "CN(150)" in plain and "^^^^^^^" in plain and "help:" in plain
    assert "^^^^^^^" in bundle["text/html"] and "Traceback" not in bundle["text/html"]
    assert 'class="layer convolution failed"' in bundle["image/svg+xml"]


def test_an_unreadable_spec_shows_its_errors_and_no_picture():
    bundle = draw_spec("CN(8, 3 -> FL()")._repr_mimebundle_()
    assert "image/svg+xml" not in bundle and "^" in bundle["text/plain"]


def test_text_in_a_spec_is_escaped_in_html():
    bundle = draw_spec("CN(8, 3) -> <script>")._repr_mimebundle_()
    assert "<script>" not in bundle["text/html"] and "&lt;script&gt;" in bundle["text/html"]


def test_cells_see_earlier_definitions_and_errors_point_into_their_own_cell():
    cells, names = CellDefinitions(), {}
    first = run_cell("", "# a stem\nblock stem = CN(8, 3) -> BN()\nsmall = stem -> FL()", cells, "<cell 1>", names)
    assert [view.title for view in first] == ["small"] and not first[0].failed
    later = run_cell("--input-shape 4,4,1", "tiny = stem * 2 -> FL()", cells, "<cell 2>", names)
    errors = later[0]._repr_mimebundle_()["text/plain"]
    assert errors.startswith("<cell 1>:2:14: error: CN(8, 3): kernel 3x3")  # the block's line in its own cell
    assert "2 | block stem = CN(8, 3) -> BN()\n                 ^^^^^^^^" in errors
    assert (
        set(names) == {"small", "tiny"}
        and names["small"].check().total_params == check("CN(8, 3) -> BN() -> FL()").total_params
    )


def test_a_cell_error_is_counted_from_the_cell():
    cells = CellDefinitions()
    run_cell("", "a = CN(8, 3) -> FL()", cells, "<cell 1>")
    (view,) = run_cell("", "b = CN(8,\n  3 -> FL()", cells, "<cell 2>")
    assert view._repr_mimebundle_()["text/plain"].startswith("<cell 2>:2:")


@pytest.mark.parametrize(
    ("line", "cell", "shown"),
    [
        ("", "", "<cell 2>:1:1: error: the spec is empty"),
        ("", "# only a comment\n", "<cell 2>:1:1: error: the spec is empty\n1 | # only a comment"),
        ("", "\n\nCN(8", "<cell 2>:3:5: error: expected ')' or ','"),
        ("--bogus", "a = CN(8)", "%%cnndsl: error: unrecognized arguments: --bogus"),
        ('"open', "a = CN(8)", "%%cnndsl: error: No closing quotation"),
        ("", "block b = CN(8)\nblock c = b", "%%cnndsl: defined b, c (no model to show)"),
    ],
)
def test_odd_cells_say_what_is_wrong_in_their_own_terms(line, cell, shown):
    cells = CellDefinitions()
    run_cell("", "first = CN(8, 3) -> FL()", cells, "<cell 1>")
    (view,) = run_cell(line, cell, cells, "<cell 2>")
    assert view._repr_mimebundle_()["text/plain"].startswith(shown)


def test_magic_options_are_the_command_line_s():
    (message,) = run_cell("--input-shape 32,32", "m = CN(8, 3) -> FL()", CellDefinitions(), "<cell>")
    assert "expected HEIGHT,WIDTH,CHANNELS such as 32,32,3" in message._repr_mimebundle_()["text/plain"]
    (view,) = run_cell("--input-shape 32,32,3 --classes 100", "m = CN(8, 3) -> FL()", CellDefinitions(), "<cell>")
    assert view.model.input_shape == (None, 32, 32, 3) and view.model.output_shape == (None, 100)


UNET = (
    "stem = CN(8, 3, padding=same) as s1 -> MP(2) -> CN(16, 3, padding=same) -> UP(2) -> CAT(ID() | @s1)"
    " -> CN(8, 3, padding=same)"
)


@pytest.mark.parametrize(
    ("options", "output"),
    [("--task segment", (None, 48, 48, 2)), ("--task segment --classes 5", (None, 48, 48, 5)), ("", None)],
)
def test_the_task_option_checks_the_cell_for_that_task(options, output):
    names: dict = {}
    (view,) = run_cell(f"{options} --input-shape 48,48,3", UNET, CellDefinitions(), "<cell 1>", names)
    if output is None:  # the same cell as a classifier: its head gets a feature map
        assert view.failed and "the classifier head" in view._repr_mimebundle_()["text/plain"]
        return
    assert not view.failed, view._repr_mimebundle_()["text/plain"]
    assert view.model.task == "segment" and view.model.output_shape == output
    assert names["stem"].check().output_shape == output and names["stem"].check().task == "segment"


def test_a_regression_cell_is_checked_for_its_outputs():
    names: dict = {}
    (view,) = run_cell("--task regress --classes 3", "r = CN(8, 3) -> GAP()", CellDefinitions(), "<cell 1>", names)
    assert view.model.task == "regress" and view.model.output_shape == (None, 3)
    assert names["r"].check().layers[-1].layer.text == view.model.layers[-1].layer.text


OPTION_EFFECTS = {
    "input_shape": ("--input-shape 32,32,3", lambda view: view.model.input_shape),
    "classes": ("--classes 4", lambda view: view.model.output_shape),
    "task": ("--task regress", lambda view: view.model.task),
    "scale": ("--scale s", lambda view: view.model.total_params),
    "depth": ("--depth 0", lambda view: view.svg),
    "style": ("--style graph", lambda view: view.svg),
}
"""What each option of the magic changes in what a cell shows."""


def test_every_option_of_the_magic_is_one_it_honours():
    from cnndsl.notebook import magic_parser

    assert {action.dest for action in magic_parser()._actions} - {"help"} == set(OPTION_EFFECTS)


@pytest.mark.parametrize("option", OPTION_EFFECTS)
def test_each_option_of_the_magic_changes_what_the_cell_shows(option):
    line, seen = OPTION_EFFECTS[option]
    cell = "scale n(1, 0.25, 1024)\nscale s(1, 0.5, 1024)\nblock stem = CN(64, 3) -> BN()\nm = stem -> stem -> GAP()"
    (plain,) = run_cell("", cell, CellDefinitions(), "<cell 1>")
    (given,) = run_cell(line, cell, CellDefinitions(), "<cell 1>")
    assert not given.failed and seen(given) != seen(plain)


def test_the_task_option_is_refused_when_unknown():
    (message,) = run_cell("--task track", UNET, CellDefinitions(), "<cell 1>")
    assert "argument --task: invalid choice: 'track'" in message._repr_mimebundle_()["text/plain"]


def test_errors_after_a_long_cell_are_located_in_their_own_cell():
    cells = CellDefinitions()
    run_cell("", "\n".join(f"m{i} = CN(8, 3) -> FL()  # model {i}" for i in range(40)), cells, "<cell 1>")
    (view,) = run_cell("", "\n\nx = CN(8, 3) -> MP(2) -> CN(4, 1)", cells, "<cell 2>")
    shown = view._repr_mimebundle_()["text/plain"]
    assert shown.startswith("<cell 2>:3:34: error: the classifier head DN(10, activation=softmax) gets"), shown
    assert "\n3 | x = CN(8, 3) -> MP(2) -> CN(4, 1)\n" in shown
    (head,) = run_cell("--task segment", "y = CN(8, 3) -> FL()", cells, "<cell 3>")
    assert head._repr_mimebundle_()["text/plain"].startswith("<cell 3>:1:21: error:")


def test_a_failing_model_of_a_cell_shows_its_errors_in_its_cell_wherever_it_is_displayed():
    cells, names = CellDefinitions(), {}
    run_cell("", "\n".join(f"m{i} = CN(8, 3) -> FL()" for i in range(20)), cells, "<cell 1>", names)
    (view,) = run_cell("--input-shape 8,8,1", "\nsmall = CN(8, 9) -> FL()", cells, "<cell 2>", names)
    shown = names["small"]._repr_mimebundle_()["text/plain"]
    assert shown == view._repr_mimebundle_()["text/plain"] and shown.startswith("<cell 2>:2:9: error:"), shown


def test_a_cell_s_models_keep_the_cell_s_options():
    import cnndsl

    text = (
        "block pair = CN(32, 3, padding=same) -> BN() -> CN(32, 3, padding=same) -> BN()\n"
        "small = pair -> MP(2) -> pair -> MP(2) -> FL() -> DN(128)"
    )
    names: dict = {}
    (view,) = run_cell("--input-shape 32,32,3 --classes 100", text, CellDefinitions(), "<cell 1>", names)
    small = names["small"]
    shown = small._repr_mimebundle_()
    assert "Input: (None, 32, 32, 3) &nbsp; Classes: 100" in shown["text/html"]
    assert shown["text/plain"] == view._repr_mimebundle_()["text/plain"]
    pair = "CN(32, 3, padding=same) -> BN() -> CN(32, 3, padding=same) -> BN()"
    written = f"{pair} -> MP(2) -> {pair} -> MP(2) -> FL() -> DN(128)"
    expected = cnndsl.check(written, (32, 32, 3), 100).total_params
    assert expected != cnndsl.check(written).total_params
    assert view.model.total_params == small.check().total_params == cnndsl.check(small).total_params == expected
    assert cnndsl.check(small, num_classes=10).output_shape == (None, 10)  # what a call says wins


def test_a_cell_s_models_keep_its_scale_and_a_scale_it_lacks_is_an_error_in_the_cell():
    import cnndsl

    cells, names = CellDefinitions(), {}
    run_cell("", "first = CN(8, 3) -> FL()", cells, "<cell 1>", names)
    family = "scale n(1, 0.25, 1024)\nscale s(1, 0.5, 1024)\nnet = CN(64, 3) -> GAP()"
    (view,) = run_cell("--scale s", family, cells, "<cell 2>", names)
    assert view.model.scale.name == "s" and view.model.layers[0].output_shape[-1] == 32
    net = names["net"]
    assert net.check().total_params == cnndsl.check(net).total_params == view.model.total_params
    assert net.check(scale="n").layers[0].output_shape[-1] == 16  # what a call says wins
    (unknown,) = run_cell("--scale q", family, cells, "<cell 3>", names)
    assert unknown._repr_mimebundle_()["text/plain"].startswith(
        "<cell 3>:1:1: error: no scale named 'q'; the file's scales are n, s"
    )
    (none,) = run_cell("--scale s", "\nbare = CN(8, 3) -> GAP()", cells, "<cell 4>", names)
    shown = none._repr_mimebundle_()["text/plain"]
    assert shown.startswith("<cell 4>:1:1: error: no scale named 's' (--scale): the cell declares no scales"), shown
    assert "bare" not in names


def test_the_loss_plot_draws_every_epoch_of_every_model():
    history = [
        {"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "accuracy": 0.5, "val_accuracy": 0.4} for e in (1, 2, 3)
    ]
    svg = curves_svg({"a": history, "b": history[:1]}, "compare")
    root = ET.fromstring(svg)
    curves = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "curve"]
    drawn = {(g.get("data-model"), g.get("data-series"), g.get("data-epochs")) for g in curves}
    keys = ("loss", "val_loss", "accuracy", "val_accuracy")
    assert drawn == {(model, key, str(n)) for model, n in (("a", 3), ("b", 1)) for key in keys}
    assert "compare: 3 epoch(s)" in svg


def test_the_comparison_is_an_html_table():
    class Compared:
        rows = [
            {"model": "m", "parameters": 240380, "test_accuracy": 0.9, "test_loss": 0.3, "seconds_per_epoch": 2.0,
             "status": "trained", "error": ""},
            {"model": "x", "parameters": None, "status": "rejected", "error": "1:5: bad"},
        ]  # fmt: skip

    html = compare_html(Compared())
    assert "<td class='n'>240,380</td>" in html and "rejected" in html and "x: rejected: 1:5: bad" in html
    from cnndsl.training.api import CompareResult
    from cnndsl.training.runner import TrainResult

    compared = CompareResult(Compared.rows, {}, {}, None)._repr_mimebundle_()
    assert compared == {"text/plain": CompareResult(Compared.rows, {}, {}, None).table, "text/html": html}
    history = [{"epoch": 1, "loss": 0.5, "val_loss": 0.6, "seconds": 1.5}]
    trained = TrainResult(None, history, {"test_accuracy": 0.9, "test_loss": 0.3}, None)._repr_mimebundle_()
    assert trained["text/plain"] == "TrainResult: test accuracy 0.9000, test loss 0.3000, 1 epoch(s) (not saved)"
    assert "<th>val_loss</th>" in trained["text/html"] and "<td class='n'>0.6000</td>" in trained["text/html"]


def test_the_notebook_draws_what_lower_modules_display_through_the_hook_the_package_fills(monkeypatch):
    from cnndsl import hooks
    from cnndsl.inputs import Source
    from cnndsl.notebook import bundle

    model = check("CN(8, 3) -> FL()")
    source = Source("<spec>", "CN(8, 3) -> FL()", "spec")
    assert model._repr_mimebundle_() == bundle("model", model) and source._repr_mimebundle_() == bundle(
        "source", source
    )
    asked = []
    monkeypatch.setattr(hooks, "display", lambda kind, value: asked.append(kind) or {"text/plain": kind})
    assert model._repr_mimebundle_() == {"text/plain": "model"} and asked == ["model"]
    monkeypatch.setattr(hooks, "display", None)  # nothing provided: IPython falls back to the plain repr
    assert model._repr_mimebundle_() is None and source._repr_mimebundle_() is None
    with pytest.raises(ValueError, match="no display"):
        bundle("nothing", model)


def test_display_never_imports_ipython():
    code = (
        "import sys, cnndsl\n"
        "cnndsl.check('CN(8,3)->FL()')._repr_mimebundle_()\n"
        "cnndsl.draw_spec('CN(8,30)->FL()')._repr_mimebundle_()\n"
        "print('IPython' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- in a kernel -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernelspec running this interpreter (so this cnndsl), known only to these tests."""
    folder = tmp_path_factory.mktemp("kernels")
    (folder / KERNEL).mkdir()
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"}
    (folder / KERNEL / "kernel.json").write_text(json.dumps({**spec, "display_name": "cnndsl tests"}))
    return folder


def execute(nb, kernel_dir, cwd, timeout=600):
    """Run a notebook in a new kernel; returns it with its outputs and every iopub message's (cell, type, display id)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    class Recording(NotebookClient):
        def process_message(self, msg, cell, cell_index):
            transient = msg["content"].get("transient") or {}
            self.messages.append((cell_index, msg["msg_type"], transient.get("display_id")))
            return super().process_message(msg, cell, cell_index)

    manager = AsyncKernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    )
    client = Recording(nb, km=manager, timeout=timeout, allow_errors=False, resources={"metadata": {"path": str(cwd)}})
    client.messages = []
    env = {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    client.execute(env=env)
    return nb, client.messages


def outputs(nb):
    return [output for cell in nb.cells for output in cell.get("outputs", [])]


def no_traceback(nb):
    for output in outputs(nb):
        assert output["output_type"] != "error", output
        texts = [output.get("text", "")] + [str(value) for value in output.get("data", {}).values()]
        assert not any("Traceback" in text for text in texts), texts


def code_notebook(*cells: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell) for cell in cells]
    return nb


def test_magic_and_display_in_a_kernel(kernel_dir, tmp_path):
    (tmp_path / "model1.cnn").write_text(example("model1"))
    nb, _ = execute(
        code_notebook(
            "%load_ext cnndsl",
            "%%cnndsl\n# the notebook's models\nmodel1 = " + example("model1").split("\n", 1)[1],
            "%%cnndsl --input-shape 28,28,1\n"
            + example("model3_title").replace("CN(30, (5, 5))", "title3 = CN(30, (5, 5))"),
            "import cnndsl\ncnndsl.check(open('model1.cnn').read())",
            "model1.label, cnndsl.check('CN(8, 3) -> FL()').total_params",
        ),
        kernel_dir,
        tmp_path,
    )
    no_traceback(nb)
    magic, title, checked, names = (nb.cells[i].outputs for i in (1, 2, 3, 4))
    for shown in (magic[0], checked[0]):
        assert "<table" in shown["data"]["text/html"] and MODEL1_PARAMS in shown["data"]["text/html"]
        assert shown["data"]["image/svg+xml"].startswith("<svg") or "<svg" in shown["data"]["image/svg+xml"]
    errors = title[0]["data"]["text/plain"]
    assert "CN(150)" in errors and "^^^^^^^" in errors
    assert 'class="layer convolution failed"' in title[0]["data"]["image/svg+xml"]
    assert names[0]["data"]["text/plain"] == f"('model1', {check('CN(8, 3) -> FL()').total_params})"


def test_cells_are_named_as_jupyter_numbers_them_and_their_models_keep_their_options(kernel_dir, tmp_path):
    long = "".join(f"# note {n}: {'x' * 60}\n" for n in range(30))
    nb = code_notebook(
        "%load_ext cnndsl",
        "%%cnndsl --input-shape 32,32,3 --classes 100\n" + long + "block pair = CN(8, 3) -> BN()\nsmall = pair -> FL()",
        "%%cnndsl\n\nhead = CN(8, 3) -> MP(2) -> CN(4, 1)",
        "small",
        "import cnndsl\ncnndsl.check(small).output_shape, small.check().input_shape",
        "small.check(input_shape=(2, 2, 3))",
    )
    nb.cells[5].metadata["tags"] = ["raises-exception"]
    nb, _ = execute(nb, kernel_dir, tmp_path)
    no_traceback(nb)
    counts = [cell.execution_count for cell in nb.cells]
    assert counts == [1, 2, 3, 4, 5, 6]
    (head,) = nb.cells[2].outputs
    assert head["data"]["text/plain"].startswith("<cell 3>:"), head["data"]["text/plain"]  # In [3]
    assert head["data"]["text/plain"].startswith("<cell 3>:2:37: error: the classifier head"), head["data"]
    assert "\n2 | head = CN(8, 3) -> MP(2) -> CN(4, 1)\n" in head["data"]["text/plain"]
    (defined,) = nb.cells[1].outputs
    assert "Input: (None, 32, 32, 3) &nbsp; Classes: 100" in defined["data"]["text/html"]
    (shown,) = nb.cells[3].outputs
    assert "Input: (None, 32, 32, 3) &nbsp; Classes: 100" in shown["data"]["text/html"]
    assert nb.cells[4].outputs[0]["data"]["text/plain"] == "((None, 100), (None, 32, 32, 3))"
    (error,) = nb.cells[5].outputs
    assert error["data"]["text/plain"].startswith("<cell 2>:31:14: error: CN(8, 3): kernel 3x3"), error["data"]


def test_a_spec_error_in_a_cell_shows_carets_not_a_traceback(kernel_dir, tmp_path):
    nb = code_notebook("%load_ext cnndsl", "import cnndsl\ncnndsl.check('CN(8, 3) -> FL() -> CN(2)')")
    nb.cells[1].metadata["tags"] = ["raises-exception"]  # the cell fails, as it should, and the run goes on
    nb, _ = execute(nb, kernel_dir, tmp_path)
    (shown,) = nb.cells[1].outputs
    assert shown["output_type"] == "display_data"
    assert "^^^^^" in shown["data"]["text/plain"] and "CN(2) needs a 4-D input" in shown["data"]["text/plain"]
    no_traceback(nb)


def test_training_redraws_one_plot_in_place_once_per_epoch(kernel_dir, tmp_path):
    epochs = 3
    nb, messages = execute(
        code_notebook(
            "import cnndsl",
            f"result = cnndsl.train('CN(4, 3) -> MP(2) -> FL()', data='sample', epochs={epochs}, limit=256, "
            "seed=0, save=False, verbose=0)",
            "result",
            f"compared = cnndsl.compare([('a', 'CN(2, 3) -> FL()'), ('b', 'CN(3, 3) -> FL()')], data='sample', "
            f"epochs={epochs}, limit=256, seed=0, save=False, verbose=0)\ncompared",
        ),
        kernel_dir,
        tmp_path,
    )
    no_traceback(nb)
    for cell, plotted in ((1, epochs), (3, 2 * epochs)):
        shown = [(kind, display) for index, kind, display in messages if index == cell and display]
        ids = {display for _, display in shown}
        assert len(ids) == 1, shown  # one display, updated in place
        kinds = [kind for kind, _ in shown]
        assert kinds == ["display_data"] + ["update_display_data"] * (plotted + 1), kinds  # each epoch, then the table
        (plot,) = [o for o in nb.cells[cell].outputs if o["output_type"] == "display_data"]
        assert "image/svg+xml" in plot["data"] and f"{epochs} epoch(s)" in plot["data"]["text/plain"]
    final = nb.cells[1].outputs[0]["data"]["text/html"]
    assert "Test accuracy" in final and final.count("<tr>") >= epochs + 1
    assert "Test accuracy" in nb.cells[2].outputs[0]["data"]["text/html"]
    table = nb.cells[3].outputs[-1]["data"]["text/html"]
    assert table.count("<tr>") == 3 and "Seconds/epoch" in table


def test_outside_a_notebook_training_shows_nothing_new():
    code = (
        "import cnndsl\n"
        "from cnndsl.training.api import live_plot\n"
        "cnndsl.train('CN(2, 3) -> FL()', data='sample', epochs=1, limit=128, save=False, verbose=0)\n"
        "print(live_plot('x'))\n"  # Keras may load IPython itself: still no kernel, so no plot
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "None\n"


# --- the example notebook ----------------------------------------------------------------

EXAMPLE = EXAMPLES / "notebook.ipynb"


def test_the_example_notebook_is_stored_without_outputs():
    nb = nbformat.read(EXAMPLE, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_the_example_notebook_runs_top_to_bottom(kernel_dir, digits):
    nb = nbformat.read(EXAMPLE, as_version=4)
    first = nb.cells[[c.cell_type for c in nb.cells].index("code")]
    assert first.source == 'EPOCHS = 12\nLIMIT = None\nDATA = "sample"'
    # 256 test digits instead of the sample's 2,000: the notebook's three models are what is tested, not their scores
    first.source = f"EPOCHS = 1\nLIMIT = 128\nDATA = {str(digits)!r}"
    nb, messages = execute(nb, kernel_dir, EXAMPLES)
    no_traceback(nb)
    html = [o["data"].get("text/html", "") for o in outputs(nb) if "data" in o]
    assert any("<table" in h and MODEL1_PARAMS in h for h in html)
    assert sum("image/svg+xml" in o.get("data", {}) for o in outputs(nb)) >= 4
    plain = "\n".join(o["data"].get("text/plain", "") for o in outputs(nb) if "data" in o)
    assert "CN(150)" in plain and "^^^^^^^" in plain
    assert any(kind == "update_display_data" for _, kind, _ in messages)
    assert any("Seconds/epoch" in h for h in html)
    assert not (EXAMPLES / "runs").exists()


def test_the_example_notebook_has_the_example_files_models():
    source = "\n".join(cell.source for cell in nbformat.read(EXAMPLE, as_version=4).cells)
    for name in ("model1", "model2", "model3", "model3_title"):
        assert f"{name}.cnn" in source
