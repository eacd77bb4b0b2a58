"""The command line as a user types it: formats, exit codes, help, and what `analyze` imports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

import groupcost

ANALYZE_FORMATS = ("table", "json", "csv", "markdown")


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout == f"groupcost {groupcost.__version__}\n"


@pytest.mark.parametrize("command", ["analyze", "layer", "zoo", "layers"])
def test_help_has_a_worked_example(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout


def test_analyze_table_states_the_convention(cli):
    result = cli("analyze", "resnet50")
    assert result.exit_code == 0, result.stderr
    assert "params 25,557,032" in result.stdout and "MACs 4,089,184,256" in result.stdout
    assert "MACs count conv + linear; matmul MACs (attention's products of two activations) are reported apart" in " ".join(result.stdout.split())
    assert "matmul MACs" not in result.stdout.split("\n")[1]  # no column of them: resnet50 has none
    assert "layer1.0.conv2" in result.stdout and "25.56 M" in result.stdout


def test_analyze_json_document(cli):
    result = cli("analyze", "resnext50_32x4d", "--set", "G=64", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 2 and doc["model"] == "resnext50_32x4d"
    assert doc["variables"] == {"depths": [3, 4, 6, 3], "G": 64, "width_per_group": 4}
    assert set(doc["convention"]) >= {"macs", "params", "activations", "traffic"}
    assert doc["totals"]["flops"] == 2 * doc["totals"]["macs"]
    for metric in ("params", "weights", "buffers", "macs", "activation_elements", "traffic_elements", "traffic_bytes", "state_dict_bytes"):
        assert doc["totals"][metric] == sum(layer[metric] for layer in doc["layers"]), metric
        assert all(type(layer[metric]) is int for layer in doc["layers"])
    assert doc["totals"]["activation_bytes"] == 4 * doc["totals"]["activation_elements"]
    assert doc["layers"][0]["in_shapes"] == [[3, 224, 224]] and doc["layers"][0]["out_shape"] == [64, 112, 112]


def test_analyze_csv_has_exact_integers(cli):
    result = cli("analyze", "mobilenet_v2", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert table[-1]["name"] == "total"
    assert int(table[-1]["params"]) == 3_504_872 == sum(int(r["params"]) for r in table[:-1])
    assert int(table[-1]["macs"]) == 300_774_272


def test_analyze_markdown(cli):
    """AlexNet's conv1: 64·3·11·11 + 64 = 23,296 params, 23,232·55·55 = 70,276,800 MACs."""
    result = cli("analyze", "alexnet", "--format", "markdown")
    lines = result.stdout.splitlines()
    assert lines[2].startswith("| layer | type | input | output |") and lines[3].startswith("| :--- |")
    assert "| features.0 | conv | 3×224×224 | 64×55×55 | 1 | 23.30 K | 70.28 M |" in result.stdout


def test_analyze_depth(cli):
    result = cli("analyze", "resnet18", "--depth", "1", "--format", "csv")
    names = [r["name"] for r in csv.DictReader(io.StringIO(result.stdout))]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "9", "fc", "total"]


def test_layer_sweep_against_the_formulas(cli):
    """64×56×56 → 128, 3×3, p=1: weights 128·(64/G)·9, MACs weights·56·56, traffic in + out + weights."""
    result = cli("layer", "64,56,56", "--out", "128", "-k", "3", "-p", "1", "--g", "1,2,3,4,8,32,dw", "--format", "json")
    assert result.exit_code == 0, result.stderr
    variants = {v["g"]: v for v in json.loads(result.stdout)["variants"]}
    for g in (1, 2, 4, 8, 32):
        weights = 128 * (64 // g) * 9
        assert (variants[str(g)]["params"], variants[str(g)]["macs"]) == (weights, weights * 56 * 56)
        assert variants[str(g)]["traffic_elements"] == 64 * 56 * 56 + 128 * 56 * 56 + weights
        assert variants[str(g)]["traffic_bytes"] == 4 * variants[str(g)]["traffic_elements"]
    assert variants["dw"]["groups"] == 64 and variants["dw"]["params"] == 128 * 9
    assert variants["3"] == {"g": "3", "groups": 3, "legal": False, "reason": "groups=3 does not divide C_in=64 and C_out=128", "nearest_legal": [2, 4]}
    assert variants["1"]["weights"] == variants["1"]["params"]  # no bias unless --bias


def test_layer_table_names_the_illegal_g(cli):
    result = cli("layer", "96,27,27", "--out", "256", "-k", "5", "-p", "2", "--g", "1,2,3")
    assert result.exit_code == 0
    assert "G=3 is not legal: groups=3 does not divide C_out=256; nearest legal G: 2, 4" in result.stdout


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["64,56", "--out", "8"], "C,H,W:1:1: error: expected 3 numbers"),
        (["64,x,56", "--out", "8"], "C,H,W:1:4: error: 'x' in '64,x,56' is not a whole number"),
        (["64,56,56", "--out", "8", "--g", "1,0"], "--g:1:3: error: '0' is not a group count"),
        (["64,56,56", "--out", "8", "-k", "99"], "-k:1:1: error: kernel 99×99"),
        (["64,56,56", "--out", "8", "-p", "1,2,3"], "-p:1:1: error: expected 1 or 2 or 4 numbers"),
    ],
)
def test_layer_bad_values(cli, args, prefix):
    result = cli("layer", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(prefix) and result.stderr.count("\n") == 1, result.stderr


def test_zoo_lists_every_model(cli):
    result = cli("zoo", "--format", "json")
    models = {m["model"]: m for m in json.loads(result.stdout)["models"]}
    assert set(models) == set(groupcost.zoo_names())
    assert (models["resnet50"]["params"], models["resnet50"]["macs"]) == (25_557_032, 4_089_184_256)


def test_layers_lists_every_type(cli):
    result = cli("layers")
    for name in ("conv", "dwconv", "pwconv", "dwsep", "gdc", "fc", "se", "shuffle", "residual", "parallel"):
        assert name in result.stdout


def test_python_m_and_no_numpy_on_the_analyze_path(tmp_path):
    """Runs as a user would, from another directory; numpy must not be imported by `analyze`."""
    code = (
        "import sys; from groupcost.cli.app import app\n"
        "try:\n    app(['analyze', 'resnext50_32x4d', '--format', 'json'])\nexcept SystemExit as e:\n    assert e.code in (0, None)\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
        "assert 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["params"] == 25_028_904
    done = subprocess.run([sys.executable, "-m", "groupcost", "analyze", "nope"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("nope:1:1: error:") and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["analyze", "resnet18", "--depth", "x"], "--depth:1:1: error: Invalid value for '--depth': 'x' is not a valid int range. (see `groupcost analyze --help`)\n"),
        (["analyze"], "spec:1:1: error: Missing argument 'spec'. (see `groupcost analyze --help`)\n"),
        (["analyze", "resnet18", "--format", "xml"], "--format:1:1: error: Invalid value for '--format' / '-f': 'xml' is not one of 'table', 'json', 'csv', 'markdown'. (see `groupcost analyze --help`)\n"),
        (["analyze", "resnet18", "--xyzzy"], "--xyzzy:1:1: error: No such option: --xyzzy (see `groupcost analyze --help`)\n"),
        (["nosuch"], "groupcost:1:1: error: No such command 'nosuch'. (see `groupcost --help`)\n"),
        (["layer", "8,8,8", "--out", "many"], "--out:1:1: error: Invalid value for '--out' / '-o': 'many' is not a valid int range. (see `groupcost layer --help`)\n"),
    ],
)
def test_usage_errors_are_one_located_line(capsys, argv, line):
    """The installed command (`run`) turns typer's own usage errors into the same one-line form."""
    from groupcost.cli.app import run

    with pytest.raises(SystemExit) as exit_info:
        run(argv)
    out, err = capsys.readouterr()
    assert (exit_info.value.code, out, err) == (2, "", line)


def test_run_exit_codes(capsys):
    from groupcost.cli.app import run

    for argv, code in ((["--version"], 0), (["zoo", "--format", "csv"], 0), ([], 0)):
        with pytest.raises(SystemExit) as exit_info:
            run(argv)
        assert exit_info.value.code == code
    assert "Usage" in capsys.readouterr().out


def test_a_newline_in_a_value_stays_on_one_line(cli):
    """Found by fuzzing: a value echoed into the message must not split the error over lines."""
    result = cli("check", "resnet18", "--max-macs", "1G", "--warn-at", "\n")
    assert (result.exit_code, result.stderr) == (2, "--warn-at:1:1: error: cannot read '\\n' as a fraction (e.g. 90% or 0.9)\n")


# ---- the breakdown by layer type and the units in every format -------------------------------


def test_by_type_in_every_format(cli):
    doc = json.loads(cli("analyze", "mobilenet_v1", "--by", "type", "-f", "json").stdout)
    shares = {t["kind"]: t for t in doc["types"]}
    assert round(100 * shares["pointwise 1×1"]["macs_share"], 2) == 94.86
    rows = {r["kind"]: r for r in csv.DictReader(io.StringIO(cli("analyze", "mobilenet_v1", "--by", "type", "-f", "csv").stdout))}
    assert int(rows["depthwise 3x3"]["count"]) == 13  # ASCII in CSV
    assert "| pointwise 1×1 | 13 |" in cli("analyze", "mobilenet_v1", "--by", "type", "-f", "markdown").stdout
    table = cli("analyze", "mobilefacenet", "--by", "type").stdout
    assert "GDC 7×7" in table and "94.86%" in cli("analyze", "mobilenet_v1", "--by", "type").stdout
    assert cli("analyze", "resnet18", "--by", "type", "--depth", "1").exit_code == 2


def test_json_names_carry_units(cli):
    doc = json.loads(cli("analyze", "resnet18", "-f", "json").stdout)
    assert "peak_activation" not in doc["totals"] and "peak_activation_bytes" not in doc["totals"]
    assert doc["totals"]["largest_activation_bytes"] == 4 * 64 * 112 * 112  # conv1's output, the largest single tensor
    for key in doc["totals"]:
        assert key in ("params", "weights", "buffers", "macs", "flops", "matmul_macs") or key.endswith(("_bytes", "_elements")), key


def test_csv_has_every_json_column_and_ascii_shapes(cli):
    analyzed = cli("analyze", "resnet18", "-f", "csv", "--device", "a100").stdout
    header = analyzed.splitlines()[0].split(",")
    layer = json.loads(cli("analyze", "resnet18", "-f", "json", "--device", "a100").stdout)["layers"][0]
    assert header == list(layer) and "latency_s" in header
    assert "×" not in analyzed and ",3x224x224,64x112x112," in analyzed
    for args in (["compare", "resnet18", "--layers", "layer1.*"], ["layer", "8,8,8", "--out", "8", "--g", "1,3"],
                 ["whatif", "alexnet_2gpu", "--vary", "G=1,3"], ["verify", "shufflenet_v2_table2"]):
        text = cli(*args, "-f", "csv").stdout
        assert "×" not in text and "True" not in text and "False" not in text, args
    verify = list(csv.DictReader(io.StringIO(cli("verify", "shufflenet_v2_table2", "--batch", "2", "-f", "csv").stdout)))
    assert verify[0]["actual_shape"] == verify[0]["expected_shape"] and verify[0]["actual_batch"] == "2"  # no batch in shapes


# ---- --input and --batch ---------------------------------------------------------------------


def test_input_resizes_a_zoo_model(cli):
    """PyTorch: torchvision resnet50 at 1×3×160×160 has 2,087,321,600 MACs."""
    result = cli("analyze", "resnet50", "--input", "3,160,160", "-f", "json")
    doc = json.loads(result.stdout)
    assert doc["totals"]["macs"] == 2_087_321_600 and doc["input_shape"] == [3, 160, 160]
    assert groupcost.analyze(groupcost.load("resnet50", input_shape=(3, 160, 160))).totals.macs == 2_087_321_600


@pytest.mark.parametrize("command", [["analyze"], ["compare"], ["verify"], ["check", "--max-params", "100M"], ["whatif", "--layer", "conv1", "--g", "1"]])
def test_batch_and_input_everywhere(cli, command):
    result = cli(command[0], "mobilefacenet", *command[1:], "--batch", "2", "--input", "3,96,96", "-f", "json")
    assert result.exit_code == 0, result.stderr


def test_spec_from_stdin(cli):
    from groupcost.language.zoo import resolve_source

    result = cli("analyze", "-", "-f", "json", input=resolve_source("alexnet").read_text(encoding="utf-8"))
    assert result.exit_code == 0 and json.loads(result.stdout)["totals"]["params"] == 61_100_840  # torchvision's AlexNet
    assert json.loads(result.stdout)["source"] == "<stdin>"


def test_dash_h(cli):
    assert cli("-h").exit_code == 0 and "Usage" in cli("analyze", "-h").stdout


def test_zoo_names_not_paths(cli):
    assert json.loads(cli("analyze", "resnet18", "-f", "json").stdout)["source"] == "resnet18"
    assert "groupcost diff: resnet18 → resnet50" in cli("diff", "resnet18", "resnet50").stdout
    assert "`resnet18` → `resnet50`" in cli("diff", "resnet18", "resnet50", "-f", "markdown").stdout


def test_help_quotes_the_rule(cli):
    assert "'macs>5%,params>0'" in cli("diff", "--help").stdout
    assert "[plot]" not in cli("whatif", "--help").stdout or "groupcost[plot]" not in cli("whatif", "--help").stdout
    assert "matplotlib>=3.6" in cli("whatif", "--help").stdout


# ---- one-line errors, exit 2 -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["verify", "shufflenet_v2_table2", "--seed", "-1"], "--seed:1:1: error: Invalid value for '--seed'"),
        (["compare", "resnet18", "--layers", "nosuch*"], "--layers:1:1: error: --layers 'nosuch*' matches no standard or pointwise convolution"),
        (["analyze", "resnet18", "--device", "a100", "--peak-tflops", "10"], "--device:1:1: error: --device and --peak-tflops"),
        (["layer", "-64,56,56", "--out", "8"], "-64,56,56:1:1: error: '-64,56,56' is negative"),
        (["layer", "64,56,56", "--out", "8", "-k", "-3"], "-k:1:1: error: -k values must be positive, got -3"),
        (["layer", "64,56,56", "--out", "8", "-s", "-1"], "-s:1:1: error: -s values must be positive, got -1"),
        (["layer", "64,56,56", "--out", "8", "-p", "samee"], "-p:1:1: error: unknown padding 'samee' (did you mean 'same'?)"),
        (["analyze", "resnet18", "--input", "3,0,4"], "--input:1:1: error: --input values must be positive"),
    ],
)
def test_errors_are_one_line_exit_2(capsys, argv, prefix):
    from groupcost.cli.app import run

    with pytest.raises(SystemExit) as exit_info:
        run(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == "" and err.startswith(prefix) and err.count("\n") == 1, err

