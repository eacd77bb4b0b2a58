"""What a new user hit (issue 11): units, the breakdown by layer type, --input/--batch, one-line errors,
check over many files, diff matching, and the Python API behind every command."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess

import pytest

import groupcost
from groupcost.errors import GroupcostError, UsageError

# ---- where the cost sits, by layer type --------------------------------------------------------


def test_mobilenet_v1_table_2():
    """arXiv 1704.04861, Table 2: Conv 1×1 94.86 % of mult-adds and 74.59 % of parameters, Conv DW 3×3 3.06 % and
    1.06 %, Conv 3×3 1.91 % (printed 1.19 %, transposed digits) and 0.02 %, Fully connected 0.18 % and 24.33 %.
    The paper counts weights (no BN), so its parameter shares are shares of `weights`."""
    kinds = {t.kind: t for t in groupcost.analyze(groupcost.load("mobilenet_v1")).by_type().rows}
    paper = {"pointwise 1×1": (94.86, 74.59), "depthwise 3×3": (3.06, 1.06), "standard 3×3": (1.91, 0.02), "fc": (0.18, 24.33)}
    for kind, (macs, params) in paper.items():
        assert (round(100 * kinds[kind].shares["macs"], 2), round(100 * kinds[kind].shares["weights"], 2)) == (macs, params), kind
    assert kinds["pointwise 1×1"].count == 13 and kinds["depthwise 3×3"].count == 13


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


def test_grouped_kind():
    kinds = {t.kind for t in groupcost.analyze(groupcost.load("resnext50_32x4d")).by_type().rows}
    assert {"grouped 3×3", "pointwise 1×1", "standard 7×7"} <= kinds


# ---- memory: buffers, state_dict, the renamed largest activation ------------------------------


def test_buffers_and_state_dict_match_pytorch():
    torch = pytest.importorskip("torch")
    from reference_resnet import model as reference

    model = reference("resnext50_32x4d")
    totals = groupcost.analyze(groupcost.load("resnext50_32x4d"))
    assert totals.totals.buffers == sum(b.numel() for b in model.buffers())
    state_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert totals.metric("state_dict_bytes") == state_bytes
    del torch


def test_json_names_carry_units(cli):
    doc = json.loads(cli("analyze", "resnet18", "-f", "json").stdout)
    assert "peak_activation" not in doc["totals"] and "peak_activation_bytes" not in doc["totals"]
    assert doc["totals"]["largest_activation_bytes"] == 4 * 64 * 112 * 112  # conv1's output, the largest single tensor
    for key in doc["totals"]:
        assert key in ("params", "weights", "buffers", "macs", "flops") or key.endswith(("_bytes", "_elements")), key


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


def test_old_budget_names_still_read(cli, write_spec):
    path = write_spec("name: n\ninput: [3, 8, 8]\nbudgets: {activations: 10K, traffic: 1M}\nlayers:\n  - conv: {out: 4, k: 3}\n")
    result = groupcost.check([str(path)])
    assert [v.budget.metric for v in result.specs[0].verdicts] == ["activation_elements", "traffic_elements"]
    assert cli("check", path, "--max-peak-activation-bytes", "1MiB").exit_code == 0


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


def test_batch_multiplies_macs():
    one, two = (groupcost.analyze_spec("resnet18", batch=b).totals.macs for b in (1, 2))
    assert two == 2 * one == 2 * 1_814_073_344


def test_spec_from_stdin(cli):
    from groupcost.language.zoo import resolve_source

    result = cli("analyze", "-", "-f", "json", input=resolve_source("alexnet").read_text(encoding="utf-8"))
    assert result.exit_code == 0 and json.loads(result.stdout)["totals"]["params"] == 61_100_840  # torchvision's AlexNet
    assert json.loads(result.stdout)["source"] == "<stdin>"


def test_dash_h(cli):
    assert cli("-h").exit_code == 0 and "Usage" in cli("analyze", "-h").stdout


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


def test_out_of_memory_is_not_a_mismatch(cli, monkeypatch):
    from groupcost.ops.conv import Conv

    def starved(self, x, weights, counter):
        raise MemoryError("Unable to allocate 3.50 GiB for an array with shape (8, 64, 1792, 1792) and data type float32")

    monkeypatch.setattr(Conv, "forward", starved)
    result = cli("verify", "resnet18")
    assert result.exit_code == 2 and "MISMATCH" not in result.stdout + result.stderr
    assert result.stderr.startswith("resnet18:1:1: error: out of memory while verifying resnet18 at conv1: Unable to allocate 3.50 GiB")
    assert result.stderr.count("\n") == 1 and "needs at least" in result.stderr


def test_analyze_warns_about_unknown_budget_keys(cli, write_spec):
    path = write_spec("name: n\ninput: [3, 8, 8]\nbudgets: {parms: 5M}\nlayers:\n  - conv: {out: 4, k: 3}\n")
    result = cli("analyze", path)
    assert result.exit_code == 0 and result.stderr == f"{path}:3:11: warning: unknown budget metric 'parms' (did you mean 'params'?)\n"


# ---- check over many files -------------------------------------------------------------------


def test_check_reports_every_file(cli, tmp_path):
    good = "name: net\ninput: [3, 8, 8]\nbudgets: {params: 1K}\nlayers:\n  - conv: {out: 4, k: 3}\n"
    (tmp_path / "a.yaml").write_text(good)
    (tmp_path / "b.yaml").write_text("name: net\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: 99}\n")
    (tmp_path / "c.yaml").write_text(good.replace("1K", "10"))
    result = cli("check", str(tmp_path / "*.yaml"), "-f", "json")
    assert result.exit_code == 2
    specs = {s["source"]: s for s in json.loads(result.stdout)["specs"]}
    assert [s["status"] for s in specs.values()] == ["ok", "error", "over"]
    assert specs[str(tmp_path / "b.yaml")]["error"].startswith(f"{tmp_path / 'b.yaml'}:4:")
    assert [s["model"] for s in specs.values()] == list(specs)  # two specs named `net`: rows named by path
    assert result.stderr.count("\n") == 1 and "kernel 99×99" in result.stderr
    table = cli("check", str(tmp_path / "*.yaml"))
    assert "(spec not read)" in table.stdout and "over" in table.stdout
    rows = list(csv.DictReader(io.StringIO(cli("check", str(tmp_path / "*.yaml"), "-f", "csv").stdout)))
    assert [r["spec_status"] for r in rows] == ["ok", "error", "over"]


def test_zoo_names_not_paths(cli):
    assert json.loads(cli("analyze", "resnet18", "-f", "json").stdout)["source"] == "resnet18"
    assert "groupcost diff: resnet18 → resnet50" in cli("diff", "resnet18", "resnet50").stdout
    assert "`resnet18` → `resnet50`" in cli("diff", "resnet18", "resnet50", "-f", "markdown").stdout


# ---- diff ------------------------------------------------------------------------------------

NET = "name: net\ninput: [3, 16, 16]\nlayers:\n  - conv: {out: 8, k: 3, p: 1}\n  - relu\n  - conv: {out: 16, k: 3, p: 1}\n  - relu\n  - gap\n  - flatten\n  - fc: {out: 10}\n"


def test_an_inserted_unnamed_layer_is_one_change():
    inserted = NET.replace("  - relu\n  - conv: {out: 16", "  - relu\n  - bn\n  - conv: {out: 16", 1)
    d = groupcost.diff(groupcost.parse_text(NET, "base.yaml"), groupcost.parse_text(inserted, "head.yaml"))
    assert [(c.status, c.name) for c in d.layers] == [("added", "2")]
    d = groupcost.diff(groupcost.parse_text(inserted, "head.yaml"), groupcost.parse_text(NET, "base.yaml"))
    assert [(c.status, c.name) for c in d.layers] == [("removed", "2")]


def test_changed_rows_say_what_changed(cli, write_spec):
    base = write_spec(NET, "base.yaml")
    head = write_spec(NET.replace("{out: 16, k: 3, p: 1}", "{out: 16, k: 3, p: 1, groups: 4}"), "head.yaml")
    d = groupcost.diff(str(base), str(head))
    (change,) = d.layers
    assert change.name == "2" and set(change.what) >= {"kind", "groups", "params", "macs"}
    table = cli("diff", base, head).stdout
    assert "standard 3×3, G=1" in table and "grouped 3×3, G=4" in table
    assert groupcost.to_dict(d)["layers"][0]["changed"] == list(change.what)


def test_git_spec_new_at_head_is_all_added(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["init", "-q"], ["config", "user.email", "t@t"], ["config", "user.name", "t"], ["commit", "-q", "--allow-empty", "-m", "root"]):
        subprocess.run(["git", *args], check=True, cwd=tmp_path)
    (tmp_path / "new.yaml").write_text(NET)
    result = cli("diff", "--git", "HEAD", "new.yaml", "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {layer["status"] for layer in doc["layers"]} == {"added"} and len(doc["layers"]) == 7
    assert doc["totals"]["params"]["base"] == 0 and doc["totals"]["params"]["head"] == 8 * 3 * 9 + 8 + 16 * 8 * 9 + 16 + 16 * 10 + 10


def test_help_quotes_the_rule(cli):
    assert "'macs>5%,params>0'" in cli("diff", "--help").stdout
    assert "[plot]" not in cli("whatif", "--help").stdout or "groupcost[plot]" not in cli("whatif", "--help").stdout
    assert "matplotlib>=3.6" in cli("whatif", "--help").stdout


# ---- plots -------------------------------------------------------------------------------------


def test_plot_has_the_usual_mode(cli, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "sweep.svg"
    old = os.umask(0o022)
    try:
        assert cli("whatif", "alexnet_2gpu", "--vary", "G=1,2", "--plot", target).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


# ---- the Python API ----------------------------------------------------------------------------


def test_every_command_has_a_function_whose_to_dict_is_its_json(cli):
    pairs = [
        (groupcost.analyze_spec("mobilefacenet"), ["analyze", "mobilefacenet"]),
        (groupcost.layer((64, 56, 56), 128, k=3, p=1, groups=[1, 3, "dw"]), ["layer", "64,56,56", "--out", "128", "-p", "1", "--g", "1,3,dw"]),
        (groupcost.compare("resnet18", groups=[2, 4], layers="layer1.*"), ["compare", "resnet18", "--g", "2,4", "--layers", "layer1.*"]),
        (groupcost.whatif("resnext50_32x4d", {"G": [1, 32]}), ["whatif", "resnext50_32x4d", "--vary", "G=1,32"]),
        (groupcost.check(["resnet18"], {"params": "5M"}), ["check", "resnet18", "--max-params", "5M"]),
        (groupcost.diff("resnet18", "resnet50", "macs>5%"), ["diff", "resnet18", "resnet50", "--fail-on-increase", "macs>5%"]),
    ]
    for result, argv in pairs:
        assert groupcost.to_dict(result) == json.loads(cli(*argv, "-f", "json").stdout), argv[0]
    verified = groupcost.verify("shufflenet_v2_table2")
    document = json.loads(cli("verify", "shufflenet_v2_table2", "-f", "json").stdout)
    strip = lambda d: {**d, "seconds": 0, "verdict": "", "layers": [{**layer, "seconds": 0} for layer in d["layers"]]}  # noqa: E731
    assert verified.ok and strip(groupcost.to_dict(verified)) == strip(document)


def test_api_errors_are_groupcost_errors():
    with pytest.raises(UsageError):
        groupcost.compare("resnet18", layers="nosuch*")
    with pytest.raises(GroupcostError):
        groupcost.verify("resnet18", seed=-1)
    assert groupcost.check(["nosuch"]).status == "error"
