"""The checker benchmark's own pieces, so that it keeps measuring what it says it does.

The timings themselves are not asserted (they belong to benchmark runs, not tests); what
is tested is that the specs it times are valid and as described, and that it reads
``cnndsl check``'s verdicts from the real output.
"""

from __future__ import annotations

import json
import sys

import pytest
from helpers import EXAMPLES, ROOT, load_script, run_cli

from cnndsl import check

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    return _load("checker")


@pytest.mark.parametrize("layers", [10, 100, 1_000])
def test_the_timed_specs_check_with_the_layers_they_claim(bench, layers):
    for make in (bench.notebook_spec, bench.distinct_spec):
        assert len(check(make(layers)).layers) == layers + 1  # and the appended head


@pytest.mark.parametrize("layers", [10, 100, 1_000])
def test_the_modern_spec_checks_with_the_layers_it_claims_and_every_new_code(bench, layers):
    model = check(bench.modern_spec(layers))
    assert len(model.layers) == layers + 1  # and the appended head
    codes = {info.code for info in model.layers}
    assert {"RSC", "NRM", "LN", "LS", "CR", "RS", "DP"} <= codes or layers < 20


def test_the_distinct_spec_writes_no_two_layers_alike(bench):
    written = bench.distinct_spec(1_000).split(" -> ")
    assert len(set(written)) == len(written) == 1_000


def test_the_notebook_spec_repeats_the_notebooks_layers(bench):
    written = bench.notebook_spec(100).split(" -> ")
    assert written[0] == "CN(20,(5,5),padding=same)" and written.count("BN()") >= 30


def test_throughput_rows_and_growth(bench):
    rows = bench.throughput(sizes=(10, 20))
    assert [row["layers"] for row in rows] == [10, 20]
    assert all(row["check"] > 0 and row["lex"] > 0 for row in rows)
    line = bench.growth({"layers": 1_000, "check": 0.5}, {"layers": 10_000, "check": 5.0})
    assert "x10.0 for x10 layers, growth exponent 1.00" in line


def test_the_verdicts_are_read_from_cnndsl_checks_real_output(bench):
    files = [str(path) for path in bench.EXAMPLES]
    result = run_cli("check", *files, cwd=ROOT)
    assert bench.cnndsl_verdicts(result.stdout + result.stderr) == {
        "model1.cnn": "OK 240380",
        "model2.cnn": "OK 65358",
        "model3.cnn": "OK 479650",
        "model3_title.cnn": "error",
    }
    assert {path.name for path in bench.EXAMPLES} <= {path.name for path in EXAMPLES.glob("*.cnn")}


def test_the_golden_section_times_every_golden_file_with_its_counts(bench):
    from golden_tables import EVERY as TABLE

    rows = bench.golden_check_times(repeats=1)
    assert list(rows) == [f"{stem}.cnn" for stem in TABLE]
    assert [row["params"] for row in rows.values()] == [total for _, _, total, _ in TABLE.values()]
    assert all(row["median"] > 0 and row["layers"] > 20 for row in rows.values())


def test_the_keras_baseline_builds_each_golden_with_its_constructor(bench):
    from golden_tables import EVERY as TABLE

    compile(bench.KERAS_APPLICATIONS, "<keras baseline>", "exec")
    assert {name: constructor for name, (constructor, _) in bench.GOLDENS.items()} == {
        f"{stem}.cnn": constructor for stem, (constructor, *_) in TABLE.items()
    }
    assert all(f"'{constructor}'" in bench.KERAS_APPLICATIONS for constructor, _ in bench.GOLDENS.values())


def test_the_golden_verdicts_are_read_from_cnndsl_checks_real_output(bench):
    from golden_tables import EVERY as TABLE

    result = run_cli("check", "--classes", "1000", *[f"examples/{name}" for name in bench.GOLDENS], cwd=ROOT)
    assert bench.golden_verdicts(result.stdout) == {
        f"{stem}.cnn": f"OK {total}" for stem, (_, _, total, _) in TABLE.items()
    }


def test_the_keystroke_file_is_a_valid_spec_file_of_the_layers_it_claims(bench):
    from cnndsl.inputs import file_models

    (model,) = file_models("net.cnn", bench.keystroke_file(), "net")
    assert len(model.check().layers) == bench.KEYSTROKE_LAYERS + 1  # and the head


def test_the_keystroke_benchmark_edits_keep_the_file_valid_and_every_hint_is_answered(bench):
    whole = bench.keystroke(4)
    assert whole["hints"] == bench.KEYSTROKE_LAYERS + 2  # a shape per layer, the block use, the parameter count
    assert '"diagnostics": []' in whole["diagnostics"]
    assert bench.keystroke(2, visible=60)["hints"] == 60


def test_the_draw_benchmarks_stand_in_spec_is_resnet50_sized_and_draws():
    module = _load("draw")
    model = check(module.straight_spec(), num_classes=1000)
    assert 170 <= len(model.layers) <= 190  # keras.applications.ResNet50 has 176 besides its input
    seconds, layers, size = module.in_process(module.straight_spec(), runs=1)
    assert layers == len(model.layers) and seconds > 0 and size > 0


def _load(name: str):
    return load_script(ROOT / "benchmarks" / f"{name}.py", f"{name}_benchmark")


def test_the_distributed_benchmark_pins_each_process_to_its_own_core_and_shares_one_cluster(tmp_path):
    bench = _load("distributed")
    args = type("Args", (), {"data": "sample", "epochs": 2, "batch_size": 128, "limit": 1024})()
    flags = ["--distribute", "data-parallel", "--coordinator", "127.0.0.1:1", "--num-processes", "2"]
    zero = bench.command(args, tmp_path / "a", 0, *flags, "--process-id", "0")
    one = bench.command(args, tmp_path / "b", 1, *flags, "--process-id", "1")
    assert zero[:3] == ["taskset", "-c", "0"] and one[:3] == ["taskset", "-c", "1"]
    assert zero[zero.index("run") + 1] == str(EXAMPLES / "model1.cnn") and "--backend" in zero
    assert zero[zero.index("--batch-size") + 1] == "128" and zero.count("--limit") == 1
    assert bench.command(args, tmp_path / "c", None)[:2] != ["taskset", "-c"]


def test_the_benchmarks_leave_out_the_first_epoch(tmp_path):
    history = [{"epoch": 1, "seconds": 50.0}, {"epoch": 2, "seconds": 3.0}, {"epoch": 3, "seconds": 5.0}]
    (tmp_path / "history.json").write_text(json.dumps(history))
    assert _load("distributed").seconds_per_epoch(tmp_path) == 4.0


def test_the_goldens_section_is_written_from_its_measurements(bench, monkeypatch):
    """The section's layout, with the (slow) measurements stubbed: every golden gets its row."""
    rows = {name: {"median": 0.004, "layers": 10, "params": 1_000} for name in bench.GOLDENS}
    monkeypatch.setattr(bench, "golden_check_times", lambda: rows)
    cold = {"cnndsl": 0.05, "keras": 5.0, "agree": True, "verdicts": {}, "keras_verdicts": {}}
    monkeypatch.setattr(bench, "golden_cold_start", lambda runs: cold)
    lines = bench.goldens_report(runs=1)
    assert all(any(line.startswith(name) for line in lines) for name in bench.GOLDENS)
    assert any("ratio (target >= 50x)" in line and "100.0x" in line for line in lines)


def test_the_keystroke_section_times_every_kind_of_edit(bench):
    lines = bench.keystroke_report(edits=2)
    assert len(lines) == 2 + 4 + 2
    assert all("median" in line for line in lines[2:])
    assert all("1,002 hints" in line for line in lines[2:6:2]) and all("60 hints" in line for line in lines[3:7:2])


def test_the_cold_start_projects_hold_the_examples_a_broken_copy_and_settings_that_change_no_verdict(bench, tmp_path):
    made = bench.projects(tmp_path)
    assert set(made) == {"no settings", "settings"}
    assert "[tool.cnndsl]" in (made["settings"] / "pyproject.toml").read_text()
    assert "[tool.cnndsl]" not in (made["no settings"] / "pyproject.toml").read_text()
    files = [path.name for path in bench.EXAMPLES]
    results = [run_cli("check", *files, cwd=made[name]) for name in made]
    verdicts = [bench.cnndsl_verdicts(result.stdout + result.stderr) for result in results]
    assert verdicts[0] == verdicts[1] and len(verdicts[0]) == len(files)
    broken = run_cli("check", bench.BROKEN, cwd=made["no settings"])
    assert broken.returncode == 1 and f"{bench.BROKEN}:" in broken.stderr and "error: expected" in broken.stderr


def test_the_cold_check_runs_each_part_in_both_trees_and_compares_their_outputs(tmp_path):
    bench = _load("cold_check")
    (tmp_path / bench.MODEL).write_text((EXAMPLES / bench.MODEL).read_text())
    other = tmp_path / "other" / "cnndsl"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    (other / "__main__.py").write_text("print('another cnndsl')\n")
    same = {tree: bench.environment(ROOT, tmp_path / "cache") for tree in ("old", "new")}
    for name in bench.PARTS:
        figures = bench.part(name, sys.executable, same, tmp_path, rounds=1)
        assert figures["same"] and figures["status"] == 0, name
        assert all(seconds > 0 for seconds in (*figures["wall"].values(), *figures["cpu"].values()))
    differing = {**same, "new": bench.environment(other.parent, tmp_path / "cache")}
    assert not bench.part("cnndsl check", sys.executable, differing, tmp_path, rounds=1)["same"]


def test_the_intake_benchmark_reads_tutorial_models_and_tells_exact_from_refused(capsys):
    intake = _load("intake")
    rows = intake.main(["--sources", "tutorials", "--only", "cifar_tutorial_net,keras_mnist_convnet,keras_gan"])
    verdicts = {row.case.name: row.verdict for row in rows}
    assert list(verdicts) == ["cifar_tutorial_net", "cifar_tutorial_net_view", "keras_mnist_convnet",
                              "keras_gan_discriminator"]  # fmt: skip
    assert verdicts["cifar_tutorial_net"] == verdicts["keras_mnist_convnet"] == "exact"
    assert set(verdicts.values()) <= {"exact", "refused"}  # never wrong, never a crash
    assert all(row.reason == "" for row in rows if row.verdict == "exact")
    assert all(row.reason for row in rows if row.verdict != "exact")
    printed = capsys.readouterr().out
    assert "4 models: " in printed and f"{sum(v == 'exact' for v in verdicts.values())} exact" in printed


def test_the_intake_benchmark_compares_on_its_own_and_calls_a_spec_that_computes_otherwise_wrong(monkeypatch):
    import cnndsl

    intake = _load("intake")
    reader = cnndsl.from_torch

    def misread(*args, **kwargs):  # the same layers and parameters, another activation
        spec = reader(*args, **kwargs)
        text = spec.text.replace("DN(84)", "DN(84, activation=tanh)")
        assert text != spec.text
        return type(spec)(text, spec.num_classes, spec.task, reading=spec.reading)

    monkeypatch.setattr(cnndsl, "from_torch", misread)
    [case] = intake.cases(["tutorials"], "cifar_tutorial_net", None)[:1]
    row = intake.measure(case)
    assert row.verdict == "wrong" and "outputs differ" in row.reason


def test_the_intake_benchmark_groups_refusals_by_their_construct():
    intake = _load("intake")
    rows = [
        intake.Row(intake.Case("s", "a", object), "refused", "module 'x.0' (Gate), operation Tensor.view: has no code"),
        intake.Row(intake.Case("s", "b", object), "refused", "module 'y' (Other), operation Tensor.view: has no code"),
        intake.Row(intake.Case("s", "c", object), "refused", "module 'up' (ConvTranspose2d), operation call: no code"),
        intake.Row(intake.Case("s", "d", object), "exact"),
    ]
    assert intake.histogram(rows) == [
        ("refused: operation Tensor.view: has no code", 2, ["a", "b"]),
        ("refused: ConvTranspose2d: no code", 1, ["c"]),
    ]
    assert intake.totals(rows).startswith("4 models: 1 exact (25%), 3 refused (75%), 0 wrong (0%)")
    assert (
        "  2  refused: operation Tensor.view: has no code  [a, b]\n         in Gate (1), Other (1)\n"
        in intake.report(rows)
    )


def test_the_intake_corpus_holds_over_a_hundred_distinct_models_and_no_transformer(torchvision_import):
    intake = _load("intake")
    corpus = intake.cases(list(intake.SOURCES), None, None)
    names = [(case.source, case.name) for case in corpus]
    assert len(names) == len(set(names)) >= 150
    assert {case.source for case in corpus} == {"tutorials", "torchvision", "timm", "keras.applications"}
    assert not [name for source, name in names if source == "torchvision" and name.startswith(("vit_", "swin"))]
    segment = {case.name for case in corpus if case.task == "segment" and case.source == "torchvision"}
    models = ("fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
    assert set(models) <= segment


def test_the_verification_benchmark_times_each_reading_both_ways_alternating():
    """A small module stands in for the benchmark's models: each way read as often, and what it compared said."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from cnndsl import from_torch
    from cnndsl.backends import torch_reader
    from cnndsl.backends.verify import verify_torch

    bench = _load("verify")
    calls = []

    def small(name):
        torch.manual_seed(0)
        module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

        def read(verify):
            calls.append(verify)
            return from_torch(module.eval(), (12, 12, 3), verify=verify)

        return read, lambda spec: verify_torch(spec, torch_reader.graph_of, torch_reader.port_weights)

    row = bench.measure("small", "torch", repeats=2, make=small)
    assert row.error is None and calls == [False, False, True, True, False]  # warm, then alternating
    assert len(row.plain) == len(row.verified) == 2 and (row.compared, row.layers) == (3, 3)  # CN, GAP, DN
    text = bench.table([row, bench.Row("broken", "keras", error="UnsupportedModel: layer 'x'")])
    assert "3 of 3" in text and "broken  keras" in text and "UnsupportedModel: layer 'x'" in text
