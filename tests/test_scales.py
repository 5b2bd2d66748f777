"""Width and depth scaling: a spec file's family of scales (``scale n(0.50, 0.25, 1024)``)."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

from cnndsl import check
from cnndsl.errors import SpecError
from cnndsl.formatter import format_text
from cnndsl.inputs import file_models
from cnndsl.passes.scale import scaled_channels, scaled_repeats
from cnndsl.specfile import Scaling

# Ultralytics' yolo11.yaml and yolov8.yaml scales: [depth, width, max_channels]
YOLO11 = {"n": (0.50, 0.25, 1024), "s": (0.50, 0.50, 1024), "m": (0.50, 1.00, 512), "l": (1.00, 1.00, 512),
          "x": (1.00, 1.50, 512)}  # fmt: skip
YOLOV8 = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768), "l": (1.00, 1.00, 512),
          "x": (1.00, 1.25, 512)}  # fmt: skip

FAMILY = """\
scale n(0.50, 0.25, 1024)
scale s(0.50, 0.50, 1024)
scale m(0.50, 1.00, 512)
scale l(1.00, 1.00, 512)
scale x(1.00, 1.50, 512)

net = CN(64, 3) -> CN(128, 3) * 2 -> CN(1024, 1) -> GAP() -> DN(10)
"""


def scales(table, **keywords) -> dict[str, Scaling]:
    return {name: Scaling(name, *values, **keywords) for name, values in table.items()}


# --- the rules, against the numbers the families publish ---------------------------------------


def test_ultralytics_widths_at_every_yolo11_scale():
    """yolo11's last backbone layer writes 1024 channels: n, s, m, l, x build 256, 512, 512, 512, 768."""
    family = scales(YOLO11)
    assert [scaled_channels(1024, family[name]) for name in "nsmlx"] == [256, 512, 512, 512, 768]
    assert [scaled_channels(64, family[name]) for name in "nsmlx"] == [16, 32, 64, 64, 96]
    assert [scaled_channels(256, family[name]) for name in "nsmlx"] == [64, 128, 256, 256, 384]


def test_ultralytics_widths_and_repeats_at_every_yolov8_scale():
    """yolov8's 1024 -> 256, 512, 576 (768 x 0.75), 512, 640; its C2f n=3 and n=6 -> 1, 1, 2, 3, 3 and 2, 2, 4, 6, 6."""
    family = scales(YOLOV8)
    assert [scaled_channels(1024, family[name]) for name in "nsmlx"] == [256, 512, 576, 512, 640]
    assert [scaled_repeats(3, family[name]) for name in "nsmlx"] == [1, 1, 2, 3, 3]
    assert [scaled_repeats(6, family[name]) for name in "nsmlx"] == [2, 2, 4, 6, 6]


def test_ultralytics_repeats_round_as_python_does_and_never_touch_one():
    half = Scaling("h", 0.50, 1.0, 1024)
    assert [scaled_repeats(n, half) for n in (1, 2, 3, 4, 5, 9)] == [1, 1, 2, 2, 2, 4]  # round(2.5) == 2
    assert scaled_repeats(1, Scaling("big", 3.0, 1.0, 1024)) == 1  # n <= 1 is kept, as Ultralytics keeps it


def test_a_width_rounds_up_to_the_divisor():
    assert scaled_channels(10, Scaling("w", 1.0, 1.0, 1024)) == 16
    assert scaled_channels(10, Scaling("w", 1.0, 1.0, 1024, divisor=4)) == 12
    assert scaled_channels(100, Scaling("w", 1.0, 1.0, None)) == 104


# EfficientNet: B0's stem, stage and head widths and its stage repeats; B1 to B3 as published
B0_WIDTHS = [32, 16, 24, 40, 80, 112, 192, 320, 1280]
B0_REPEATS = [1, 2, 2, 3, 3, 4, 1]
EFFICIENTNET = {  # (width, depth): widths, repeats
    "b1": ((1.0, 1.1), [32, 16, 24, 40, 80, 112, 192, 320, 1280], [2, 3, 3, 4, 4, 5, 2]),
    "b2": ((1.1, 1.2), [32, 16, 24, 48, 88, 120, 208, 352, 1408], [2, 3, 3, 4, 4, 5, 2]),
    "b3": ((1.2, 1.4), [40, 24, 32, 48, 96, 136, 232, 384, 1536], [2, 3, 3, 5, 5, 6, 2]),
}


@pytest.mark.parametrize("name", list(EFFICIENTNET))
def test_efficientnet_widths_and_depths(name):
    (width, depth), widths, repeats = EFFICIENTNET[name]
    scaling = Scaling(name, depth, width, None, channels="nearest", repeats="ceil")
    assert [scaled_channels(c, scaling) for c in B0_WIDTHS] == widths
    assert [scaled_repeats(n, scaling) for n in B0_REPEATS] == repeats


@pytest.mark.slow
def test_nearest_widths_are_timms_round_channels(torchvision_import):
    from timm.models._efficientnet_builder import round_channels

    for width in (0.25, 0.5, 0.75, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2):
        scaling = Scaling("w", 1.0, width, None, channels="nearest")
        for channels in [*B0_WIDTHS, 1, 3, 8, 17, 96, 144, 240, 480, 672, 1152]:
            assert scaled_channels(channels, scaling) == round_channels(channels, width), (channels, width)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["b1", "b3"])
def test_efficientnet_stage_depths_and_widths_are_timms_own_models(torchvision_import, name):
    """timm builds efficientnet_b1 and _b3 from B0's table with these rules: its stages hold the blocks ours say."""
    import timm
    import torch

    (width, depth), widths, repeats = EFFICIENTNET[name]
    model = timm.create_model(f"efficientnet_{name}", pretrained=False)
    assert [len(stage) for stage in model.blocks] == repeats
    assert model.conv_stem.out_channels == widths[0] and model.num_features == widths[-1]
    convs = [[m for m in stage.modules() if isinstance(m, torch.nn.Conv2d)] for stage in model.blocks]
    assert [stage[-1].out_channels for stage in convs] == widths[1:-1]


# --- a file's family, checked at a scale -------------------------------------------------------


def test_a_model_checks_at_each_scale_with_widths_repeats_and_totals():
    (source,) = file_models("family.cnn", FAMILY, "family")
    filters = {}
    for name in "nsmlx":
        model = check(source, scale=name)
        convs = [info for info in model.layers if info.code == "CN"]
        filters[name] = [info.output_shape[-1] for info in convs]
        assert model.scale.name == name and not model.scale.default
    assert filters == {
        "n": [16, 32, 256], "s": [32, 64, 512], "m": [64, 128, 512], "l": [64, 128, 128, 512], "x": [96, 192, 192, 768],
    }  # fmt: skip
    first = check(source)
    assert first.scale.default and first.scale.name == "n"
    assert (
        first.total_params == check(source, scale="n").total_params == 16 * 9 + 16 + 32 * (16 * 9 + 1) + 256 * 33 + 2570
    )


def test_the_head_and_calls_written_scaled_false_keep_their_numbers():
    text = "scale n(1, 0.25, 1024)\nnet = CN(64, 3) -> CN(64, 3, scaled=false) -> GAP() -> DN(10)\n"
    (source,) = file_models("f.cnn", text, "f")
    model = check(source)
    assert [info.output_shape[-1] for info in model.layers] == [16, 64, 64, 10]
    assert model.layers[-1].layer.head
    hidden = "scale n(1, 0.25, 1024)\nnet = CN(64, 3) -> GAP() -> DN(128)\n"  # a hidden DN, the head appended
    (source,) = file_models("f.cnn", hidden, "f")
    model = check(source)
    assert [info.output_shape[-1] for info in model.layers] == [16, 16, 32, 10]


@pytest.mark.parametrize(
    "chain, widths",
    [
        # a softmax of the model's own: the layer that gives its count keeps its numbers, as a written head does
        ("CN(64, 3) -> GAP() -> DN(10) -> ACT(softmax)", [16, 16, 10, 10]),
        # a layer written as the kept one is, before it, still scales (each binds on its own)
        ("CN(64, 3) -> GAP() -> DN(10) -> DN(10) -> ACT(softmax)", [16, 16, 8, 10, 10]),
        # MobileNet's: a convolution, a reshape, a softmax of its own
        ("CN(64, 3) -> GAP() -> RS(1, 1, 16) -> CN(10, 1) -> RS(10) -> ACT(softmax)", [16, 16, 16, 10, 10, 10]),
        # not a head: the task appends one, and everything written scales
        ("CN(64, 3) -> GAP() -> DN(10) -> ACT(relu)", [16, 16, 8, 8, 10]),
    ],
)
def test_the_layer_that_counts_a_softmax_of_the_models_own_keeps_its_numbers(chain, widths):
    (source,) = file_models("f.cnn", f"scale n(1, 0.25, 1024)\nnet = {chain}\n", "f")
    model = check(source)
    assert [info.output_shape[-1] for info in model.layers] == widths
    assert model.num_classes == 10 and model.layers[-1].layer.head


def test_blocks_scale_where_used_and_a_repeat_inside_a_block():
    text = "scale n(0.5, 0.5, 1024)\nblock stage = CN(32, 3) * 4 -> BN()\nnet = stage -> MP(2) -> stage -> GAP()\n"
    (source,) = file_models("f.cnn", text, "f")
    model = check(source)
    assert [info.output_shape[-1] for info in model.layers if info.code == "CN"] == [16, 16, 16, 16]


@pytest.mark.slow
def test_compile_spec_builds_the_scale(torchvision_import):
    import torch

    from cnndsl import compile_spec

    (source,) = file_models("family.cnn", FAMILY, "family")
    for name in ("n", "x"):
        module = compile_spec(source, input_shape=(32, 32, 3), backend="torch", scale=name)
        built = sum(p.numel() for p in module.parameters())
        assert built == check(source, input_shape=(32, 32, 3), scale=name).total_params
        assert module(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


# --- errors, at their spans --------------------------------------------------------------------


def errors(text: str, scale: str | None = None):
    (source,) = file_models("f.cnn", text, "f")
    with pytest.raises(SpecError) as caught:
        check(source, scale=scale)
    return [(d.code, d.span.line, d.span.column, d.message) for d in caught.value.diagnostics]


def test_a_scale_declared_twice_is_an_error_at_its_name():
    found = errors("scale n(1, 1, 64)\nnet = CN(8)\nscale n(1, 0.5, 64)\n")
    assert found == [("duplicate-scale", 3, 7, "the scale 'n' is already declared on line 1")]


@pytest.mark.parametrize(
    "line, column, words",
    [
        ("scale n(0, 1, 64)", 9, "depth multiplier must be a number above 0"),
        ("scale n(1, -1, 64)", 12, "width multiplier must be a number above 0"),
        ("scale n(1, 1, 6.5)", 15, "channel cap must be a whole number"),
        ("scale n(1, 1, 64, divisor=0)", 27, "divisor must be a whole number from 1"),
        ("scale n(1, 1, 64, channels=floor)", 28, "channels rounding is ceil or nearest"),
        ("scale n(1, 1, 64, repeats=nearest)", 27, "repeats rounding is round or ceil"),
        ("scale n(1, 1, 64, scaled=false)", 19, "a scale's variable may not be named 'scaled'"),
        ("scale n(1, 1, 64, k=3, k=5)", 24, "the scale's k is given twice"),
        ("scale n(1, 1)", 1, "a scale takes depth, width and channel cap, 2 given"),
    ],
)
def test_bad_scale_values_are_errors_at_their_spans(line, column, words):
    ((code, at_line, at_column, message),) = errors(f"{line}\nnet = CN(8)\n")
    assert (code, at_line, at_column) == ("bad-scale", 1, column) and words in message


def test_an_unknown_scale_names_the_scales_there_are():
    ((code, line, column, message),) = errors(FAMILY, scale="q")
    assert (code, line, column) == ("unknown-scale", 1, 1)
    assert message == "no scale named 'q'; the file's scales are n, s, m, l, x"
    with pytest.raises(SpecError, match="the spec declares no scales"):
        check("CN(8) -> GAP()", scale="n")


def test_a_scaled_value_out_of_range_is_reported_at_the_number_written():
    ((code, line, column, message),) = errors("scale w(1, 64, none)\nnet = CN(2000000) -> GAP()\n")
    assert (code, line, column) == ("bad-value", 2, 10) and "128,000,000" in message.replace("128000000", "128,000,000")


def test_scaled_takes_true_or_false():
    ((code, line, column, _),) = errors("scale n(1, 1, 64)\nnet = CN(8, scaled=maybe)\n")
    assert (code, line, column) == ("bad-value", 2, 20)


# --- the command line, the setting, the formatter ----------------------------------------------


@pytest.fixture
def family(tmp_path):
    path = tmp_path / "family.cnn"
    path.write_text(FAMILY)
    return path


def test_check_takes_a_scale_and_says_when_it_chose_the_first(family):
    first = run_cli("check", str(family))
    assert first.returncode == 0 and "15,818 parameters" in first.stdout
    assert (
        "note: " in first.stderr and "checked at its first scale, n (depth 0.5, width 0.25, cap 1024)" in first.stderr
    )
    chosen = run_cli("check", str(family), "--scale", "x")
    assert chosen.returncode == 0 and "654,922 parameters" in chosen.stdout and "note" not in chosen.stderr
    unknown = run_cli("check", str(family), "--scale", "q")
    assert unknown.returncode == 1
    assert f"{family}:1:1: error: no scale named 'q'; the file's scales are n, s, m, l, x" in unknown.stderr


def test_every_command_that_checks_takes_a_scale(family, tmp_path):
    summary = json.loads(run_cli("summary", "--json", str(family), "--scale", "s").stdout)
    assert summary["total_params"] == 57226 and summary["scale"]["name"] == "s"
    assert summary["scale"]["changes"][0] == {"line": 7, "column": 10, "written": 64, "value": 32, "kind": "width"}
    table = run_cli("summary", str(family), "--scale", "s").stdout
    assert "Scale: s (depth 0.5, width 0.5, cap 1024) of n, s, m, l, x" in table and "CN(64→32, 3)" in table
    emitted = run_cli("emit", str(family), "--to", "json", "--scale", "l")
    assert emitted.returncode == 0 and emitted.stdout.count('"Conv2D"') == 4
    svg = tmp_path / "x.svg"
    assert run_cli("draw", str(family), "-o", str(svg), "--scale", "x").returncode == 0
    assert "768" in svg.read_text()
    png = run_cli("draw", str(family), "-o", str(tmp_path / "x.png"), "--scale", "1")  # a number: the PNG's scale
    assert png.returncode == 0
    assert run_cli("draw", str(family), "-o", str(tmp_path / "y.svg"), "--scale", "q").returncode == 1


def test_the_scale_setting_applies_to_files_with_scales(family, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.cnndsl]\nscale = "m"\n')
    result = run_cli("check", str(family), cwd=tmp_path)
    assert result.returncode == 0 and "145,674 parameters" in result.stdout and "note" not in result.stderr
    assert run_cli("check", str(family), "--scale", "n", cwd=tmp_path).stdout.count("15,818") == 1
    assert run_cli("check", "CN(8) -> GAP()", cwd=tmp_path).returncode == 0  # no scales: the setting passes it over
    (tmp_path / "pyproject.toml").write_text('[tool.cnndsl]\nscale = "q"\n')
    unknown = run_cli("check", str(family), cwd=tmp_path)
    assert unknown.returncode == 1 and "no scale named 'q' (scale in " in unknown.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.cnndsl]\nscale = 3\n")
    assert run_cli("check", str(family), cwd=tmp_path).returncode == 2


def test_summary_scales_shows_every_scaled_number_at_every_scale(family):
    result = run_cli("summary", str(family), "--scales")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[2].split() == ["Written", "Line:Col", "n", "s", "m", "l", "x"]
    rows = {line[:26].strip(): line[26:].split() for line in lines[4:8]}
    assert rows == {
        "CN(64, 3)": ["7:10", "16", "32", "64", "64", "96"],
        "CN(128, 3)": ["7:23", "32", "64", "128", "128", "192"],
        "CN(128, 3) * 2 (repeats)": ["7:33", "1", "1", "1", "2", "2"],
        "CN(1024, 1)": ["7:41", "256", "512", "512", "512", "768"],
    }
    assert lines[-2].split()[2:] == ["15,818", "57,226", "145,674", "293,258", "654,922"]
    document = json.loads(run_cli("summary", str(family), "--scales", "--json").stdout)
    assert document["total_params"] == [15818, 57226, 145674, 293258, 654922]
    assert [scale["name"] for scale in document["scales"]] == list("nsmlx")
    refused = run_cli("summary", "CN(8)", "--scales")
    assert refused.returncode == 2 and "--scales needs a file with scale lines" in refused.stderr


def test_fmt_keeps_scale_lines_and_their_comments():
    text = "scale  n( 0.50,0.25 ,1024)   # nano\n# wide\nscale x(1,1.5,512,channels=ceil)\n\nnet = CN(64,3)*3->GAP()\n"
    formatted = format_text(text)
    assert formatted == (
        "scale n(0.50, 0.25, 1024)  # nano\n# wide\nscale x(1, 1.5, 512, channels=ceil)\n\nnet = CN(64, 3) * 3 -> GAP()\n"
    )
    assert format_text(formatted) == formatted


def test_a_definition_may_still_be_named_scale():
    (source,) = file_models("f.cnn", "block scale = CN(8)\nnet = scale -> GAP()\n", "f")
    assert check(source).scale is None and check(source).layers[0].output_shape[-1] == 8


def test_the_language_server_checks_at_the_scale_and_hover_says_what_it_made():
    from cnndsl.lsp.analysis import analyze_spec_file, describe_call
    from cnndsl.settings import Settings

    analysis = analyze_spec_file(FAMILY, Settings(scale="s"))
    assert analysis.diagnostics == [] and analysis.models["net"].total_params == 57226
    call = next(call for call in analysis.calls() if call.code == "CN")
    assert describe_call(call, analysis).splitlines()[-1] == "64 -> 32 at scale s (depth 0.5, width 0.5, cap 1024)"
    assert analyze_spec_file(FAMILY, Settings()).models["net"].total_params == 15818  # the first scale
    unknown = analyze_spec_file(FAMILY, Settings(scale="q"))
    assert [d.code for d in unknown.diagnostics] == ["unknown-scale"]
    bad = analyze_spec_file("scale n(1, 1, 64)\nscale n(1, 1, 64)\nnet = CN(8) -> GAP()\n", Settings())
    assert [(d.code, d.span.line) for d in bad.diagnostics] == [("duplicate-scale", 2)]


def test_the_docs_show_the_family_and_its_scales_table_as_summary_prints_them(tmp_path):
    import re

    from docs_pages import section

    text = section("docs/spec-files.md", "Scales")
    family, table = re.findall(r"```(?:text)?\n(.*?)```", text, re.S)[:2]
    path = tmp_path / "family.cnn"
    path.write_text(family)
    result = run_cli("summary", str(path), "--scales")
    assert result.returncode == 0 and result.stdout == table


def test_a_search_space_in_a_file_with_scales_is_refused_at_the_scales(tmp_path):
    path = tmp_path / "space.cnn"
    path.write_text("scale n(1, 0.5, 64)\nnet = CN({8, 16}) -> GAP()\n")
    result = run_cli("check", str(path))
    assert result.returncode == 1 and f"{path}:1:1: error: a search space in a file with scales" in result.stderr


def test_a_cell_with_scale_lines_checks_at_its_first_scale():
    from cnndsl.notebook import CellDefinitions

    (model,), problems = CellDefinitions().read("scale n(1, 0.5, 64)\nnet = CN(64) -> GAP()\n", "cell")
    assert problems == () and check(model).layers[0].output_shape[-1] == 32
    assert check(model, scale="n").layers[0].output_shape[-1] == 32


def test_scaled_false_outside_a_family_says_what_it_is_for():
    with pytest.raises(SpecError) as caught:
        check("CN(8, scaled=false) -> GAP()")
    (problem,) = caught.value.diagnostics
    assert problem.code == "unknown-argument" and "spec file with scale lines" in problem.hint


def test_an_edit_before_scale_lines_is_read_again_with_them_moved():
    from cnndsl.reparse import reparse_file
    from cnndsl.syntax import parse_file

    old = "net = CN(64, 3) -> GAP()\nscale n(0.5, 0.25, 1024)\n"
    new = old.replace("CN(64, 3)", "CN(128, 3, padding=same)")
    assert reparse_file(old, parse_file(old), new) == parse_file(new)
    assert parse_file(new).scales[0].span.start == new.index("scale")


# --- scale variables: a scale line's own values, taken by the words that name them -------------

VARIABLES = """\
scale n(1, 0.5, 1024, k=3, act=relu, c3k=false)
scale m(1, 1.0, 1024, k=5, act=linear, c3k=true)

net = CN(64, k, activation=act) -> CN(48, (k, 1), padding=same) -> C3K2(64, c3k=c3k) -> GAP() -> DN(10)
"""


def test_a_word_naming_a_scale_variable_takes_the_chosen_scale_s_value():
    (source,) = file_models("f.cnn", VARIABLES, "f")
    small, large = check(source, scale="n"), check(source, scale="m")
    conv, tall = [info.layer for info in small.layers if info.code == "CN" and info.layer.path is None]
    assert (conv.args["kernel"], conv.args["activation"], tall.args["kernel"]) == ((3, 3), "relu", (3, 1))
    assert (conv.args["filters"], tall.args["filters"]) == (32, 24)  # the widths written still scale
    conv, tall = [info.layer for info in large.layers if info.code == "CN" and info.layer.path is None]
    assert (conv.args["kernel"], conv.args["activation"], tall.args["kernel"]) == ((5, 5), "linear", (5, 1))
    assert len(large.layers) > len(small.layers)  # c3k=true: the C3K2's blocks are C3Ks
    changes = {(c.written, c.value) for c in small.scale.changes if c.kind == "variable"}
    assert changes == {("k", "3"), ("act", "relu"), ("c3k", "false")}


def test_a_variable_value_is_taken_as_it_is_and_a_word_naming_none_stays_a_word():
    text = "scale n(1, 0.25, 1024, w=40)\nscale m(1, 1.0, 1024, w=40)\nnet = CN(w, 3, activation=relu) -> CN(64, 3) -> GAP()\n"
    (source,) = file_models("f.cnn", text, "f")
    for name, second in (("n", 16), ("m", 64)):
        model = check(source, scale=name)
        assert [info.output_shape[-1] for info in model.layers if info.code == "CN"] == [40, second]
        assert model.layers[0].layer.args["activation"] == "relu"


def test_a_spec_with_variables_hashes_as_the_spec_written_with_their_values():
    from cnndsl.report import architecture_hash

    (source,) = file_models("f.cnn", VARIABLES, "f")
    body = (
        "net = CN(64, {0}, activation={1}) -> CN(48, ({0}, 1), padding=same) -> C3K2(64, c3k={2}) -> GAP() -> DN(10)\n"
    )
    for name, width, values in (("n", 0.5, ("3", "relu", "false")), ("m", 1.0, ("5", "linear", "true"))):
        (written,) = file_models("g.cnn", f"scale {name}(1, {width}, 1024)\n" + body.format(*values), "g")
        assert architecture_hash(check(source, scale=name)) == architecture_hash(check(written))


def test_a_spec_without_variables_keeps_its_hash_beside_one_with_a_variable_it_does_not_use():
    from cnndsl.report import architecture_hash

    with_variable = FAMILY.replace(")\n", ", act=relu)\n", 5)
    assert with_variable.count("act=relu") == 5
    (plain,) = file_models("f.cnn", FAMILY, "f")
    (other,) = file_models("g.cnn", with_variable, "g")
    for name in "nsx":
        assert architecture_hash(check(plain, scale=name)) == architecture_hash(check(other, scale=name))
    assert check(other, scale="s").scale.scaling.describe().endswith("cap 1024, act relu)")


@pytest.mark.parametrize(
    "text, line, column, words",
    [
        ("scale n(1, 1, 64, k=3)\nscale m(1, 1, 64)\nnet = CN(8, k)\n", 2, 1, "the scale 'm' does not define k="),
        ("scale n(1, 1, 64, k=3)\nscale m(1, 1, 64, k=0)\nnet = CN(8, k)\n", 3, 13, "kernel"),
        ("scale n(1, 1, 64, c3k=3)\nnet = C3K2(8, c3k=c3k)\n", 2, 19, "c3k must be true or false, not 3"),
        ("scale n(1, 1, 64, true=3)\nnet = CN(8)\n", 1, 19, "may not be named 'true'"),
    ],
)
def test_scale_variable_errors_are_at_their_spans(text, line, column, words):
    scale = "m" if "k=0" in text else None
    found = errors(text, scale=scale)
    assert [(at_line, at_column) for _, at_line, at_column, message in found if words in message] == [(line, column)]


def test_fmt_keeps_scale_variables_and_the_words_that_take_them():
    text = "scale n(1,0.5,1024,k=3,  c3k=false)\nscale m(1,1,1024,k=(5,5),c3k=true)\n\nnet=CN(64,k)->C3K2(64,c3k=c3k)->GAP()\n"
    formatted = format_text(text)
    assert formatted == (
        "scale n(1, 0.5, 1024, k=3, c3k=false)\nscale m(1, 1, 1024, k=(5, 5), c3k=true)\n\n"
        "net = CN(64, k) -> C3K2(64, c3k=c3k) -> GAP()\n"
    )
    assert format_text(formatted) == formatted


def test_summary_scales_shows_each_variable_per_scale_and_hover_its_value(tmp_path):
    from cnndsl.lsp.analysis import analyze_spec_file, describe_call
    from cnndsl.settings import Settings

    path = tmp_path / "v.cnn"
    path.write_text(VARIABLES)
    result = run_cli("summary", str(path), "--scales")
    assert result.returncode == 0
    assert "Scales: n (depth 1, width 0.5, cap 1024, k 3, act relu, c3k false), m (" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["C3K2(64,", "c3k=c3k)", "(c3k)", "4:81", "false", "true"] in rows
    assert ["CN(48,", "(k,", "1),", "padding=same)", "(k)", "4:44", "3", "5"] in rows
    document = json.loads(run_cli("summary", str(path), "--json", "--scale", "m").stdout)
    assert document["scale"]["variables"] == {"k": "5", "act": "linear", "c3k": "true"}
    assert "CN(64→64, k→5, activation=act→linear)" in run_cli("summary", str(path), "--scale", "m").stdout
    analysis = analyze_spec_file(VARIABLES, Settings(scale="m"))
    call = next(call for call in analysis.calls() if call.code == "CN")
    assert describe_call(call, analysis).splitlines()[-1].startswith("64 -> 64, k -> 5, act -> linear at scale m (")
    block = next(call for call in analysis.calls() if call.code == "C3K2")  # a block code's hover says it too
    assert describe_call(block, analysis).splitlines()[-1].startswith("64 -> 64, c3k -> true at scale m (")
