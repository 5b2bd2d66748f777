"""``cnndsl compare``: the notebook's table, its files, and a rejected spec among trained ones."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

import pytest
from helpers import EXAMPLES, run_cli

from cnndsl import check
from cnndsl.inputs import file_models
from cnndsl.training import compare

pytestmark = pytest.mark.slow

SMALL = "CN(8,3)->MP(2)->FL()->DN(32)"
TINY = "MP(4)->FL()->DN(16)"


def test_compare_trains_the_good_specs_and_rejects_the_bad_one(tmp_path):
    out = tmp_path / "cmp"
    specs = [SMALL, str(EXAMPLES / "model3_title.cnn"), TINY]
    flags = ["--data", "sample", "--limit", "256", "--epochs", "1", "--seed", "0", "--output", str(out)]
    result = run_cli("compare", *specs, *flags)
    assert result.returncode == 1, result.stderr  # a spec had errors
    assert "model3_title.cnn:16:8: error: CN(150): kernel 5x5 needs an input of at least 5x5" in result.stderr
    assert "Traceback" not in result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [cell.strip() for cell in table[0].strip("| ").split(" | ")] == [
        "Model", "Parameters", "Test accuracy", "Test loss", "Seconds/epoch",
    ]  # fmt: skip
    assert [line.split(" | ")[0].strip("| ").strip() for line in table[1:]] == [SMALL, "model3_title", TINY]
    assert "rejected" in table[2] and "CN(150)" not in table[2]  # the error has its own line under the table
    assert "model3_title: rejected: 16:8: CN(150): kernel 5x5 needs" in result.stdout.split(table[-1])[-1]
    assert max(len(line) for line in result.stdout.splitlines() if line.startswith(("|", "+"))) < 100

    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [row["status"] for row in rows] == ["trained", "rejected", "trained"]
    for row, spec in zip([rows[0], rows[2]], [SMALL, TINY]):
        metrics = json.loads((out / row["folder"] / "metrics.json").read_text())
        assert int(row["parameters"]) == check(spec).total_params == metrics["total_params"]
        assert float(row["test_accuracy"]) == metrics["test_accuracy"]
        assert f"{metrics['test_accuracy']:.4f}" in table[1 if spec == SMALL else 3]
    markdown = (out / "compare.md").read_text()
    assert markdown.startswith("| Model | Parameters | Test accuracy |")
    for row in (rows[0], rows[2]):  # each trained model links to its picture
        assert f"]({row['folder']}/model.svg)" in markdown
        svg = ET.parse(out / row["folder"] / "model.svg").getroot()
        assert svg.tag.endswith("svg")
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / "model3_title").exists()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["model1", "model3"]  # folders for written specs


def test_compare_from_python_names_models_and_keeps_going_past_errors():
    result = compare([("tiny", TINY), ("bad", "CN(8->FL()")], data="sample", limit=128, epochs=1, save=False, verbose=0)
    assert [row["model"] for row in result.rows] == ["tiny", "bad"]
    assert [row["status"] for row in result.rows] == ["trained", "rejected"]
    assert result.results["tiny"].metrics["epochs"] == 1 and result.directory is None
    assert "rejected" in result.table and "bad: rejected: 1:5:" in result.table


def test_run_and_compare_take_the_models_of_a_spec_file(tmp_path):
    nets = tmp_path / "nets.cnn"
    nets.write_text("block stem = MP(2) -> CN(4, 3)\nsmall = stem -> FL()\nwide = stem -> CN(8) -> GAP()\n")
    flags = ["--data", "sample", "--limit", "128", "--epochs", "1", "--seed", "0"]
    run = run_cli("run", f"{nets}:wide", *flags, "--output", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["total_params"] == check("MP(2)->CN(4,3)->CN(8)->GAP()").total_params
    both = run_cli("compare", str(nets), *flags, "--output", str(tmp_path / "cmp"))
    assert both.returncode == 0, both.stderr
    rows = list(csv.DictReader((tmp_path / "cmp" / "compare.csv").open()))
    assert [(row["model"], row["status"]) for row in rows] == [("small", "trained"), ("wide", "trained")]


def test_compare_where_every_spec_is_rejected_draws_no_empty_plot(tmp_path):
    out = tmp_path / "cmp"
    result = run_cli("compare", "CN(8->FL()", "FL()->CN(3)", "--data", "sample", "--output", str(out))
    assert result.returncode == 1
    assert "No artists" not in result.stderr and "Warning" not in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.md"]
    assert result.stdout.splitlines()[-1] == f"Wrote {out}/: compare.csv, compare.md"
    assert [row["status"] for row in csv.DictReader((out / "compare.csv").open())] == ["rejected", "rejected"]


def test_compare_reports_a_rejected_spec_before_training_any(tmp_path):
    flags = ["--data", "sample", "--limit", "128", "--epochs", "1", "--seed", "0", "--output", str(tmp_path / "c")]
    result = run_cli("compare", TINY, "CN(8,30)->FL()", *flags)
    assert result.returncode == 1, result.stderr
    error = result.stderr.index("kernel 30x30 needs an input of at least 30x30")
    assert error < result.stderr.index("cnndsl: training")
    assert result.stderr.count("kernel 30x30 needs") == 1


FAMILY = "scale n(1, 0.25, 1024)\nscale s(1, 0.5, 1024)\n\nnet = MP(4) -> FL() -> DN(64) -> DN(10)\n"


def test_compare_trains_the_scales_it_names_of_each_family_a_row_each(tmp_path):
    family = tmp_path / "family.cnn"
    family.write_text(FAMILY)
    flags = ["--data", "sample", "--limit", "128", "--epochs", "1", "--seed", "0", "--output", str(tmp_path / "c")]
    result = run_cli("compare", str(family), TINY, "--scale", "n,s,q", *flags)
    assert result.returncode == 1, result.stderr  # the file has no scale q: that row is rejected, at the scale lines
    assert f"{family}:1:1: error: no scale named 'q'; the file's scales are n, s" in result.stderr
    assert "note:" not in result.stderr  # the scales were chosen
    rows = list(csv.DictReader((tmp_path / "c" / "compare.csv").open()))
    assert [(row["model"], row["status"]) for row in rows] == [
        ("net-n", "trained"), ("net-s", "trained"), ("net-q", "rejected"), (TINY, "trained"),
    ]  # fmt: skip
    (source,) = file_models(str(family), FAMILY, "family")
    widths = {name: check(source, scale=name).total_params for name in ("n", "s")}
    assert widths == {"n": 49 * 16 + 16 + 17 * 10, "s": 49 * 32 + 32 + 33 * 10}  # DN(64) at 0.25 and 0.5
    assert [int(row["parameters"]) for row in rows[:2]] == [widths["n"], widths["s"]]


def test_run_and_compare_train_a_family_at_the_projects_scale_setting_else_its_first_saying_so(tmp_path):
    (tmp_path / "family.cnn").write_text(FAMILY)
    (tmp_path / "pyproject.toml").write_text('[tool.cnndsl]\nscale = "s"\n')
    flags = ["--data", "sample", "--limit", "128", "--epochs", "1", "--seed", "0"]
    run = run_cli("run", "family.cnn", *flags, "--output", "r", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (source,) = file_models("family.cnn", FAMILY, "family")
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["total_params"] == (
        check(source, scale="s").total_params
    )
    assert "note:" not in run.stderr  # the project chose it
    (tmp_path / "pyproject.toml").unlink()
    compared = run_cli("compare", "family.cnn", *flags, "--output", "c", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert (
        "cnndsl: note: family.cnn:net: checked at its first scale, n (depth 1, width 0.25, cap 1024)" in compared.stderr
    )
    (row,) = csv.DictReader((tmp_path / "c" / "compare.csv").open())
    assert (row["model"], int(row["parameters"])) == ("net", check(source, scale="n").total_params)


def test_compare_refuses_scales_when_no_input_declares_any(tmp_path):
    result = run_cli("compare", TINY, SMALL, "--scale", "n", "--data", "sample", "--output", str(tmp_path / "c"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "cnndsl: error: --scale n: no input declares scales (a spec file's scale lines, such as scale n(0.50, 0.25, 1024))"
    ]
    assert not (tmp_path / "c").exists()
