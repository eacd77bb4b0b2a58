"""`whatif`: sweeps over spec variables and one layer's G, against PyTorch and ShuffleNet V2's Eq. 2."""

from __future__ import annotations

import json

import pytest

from groupcost.run.roofline import device
from groupcost.sources import load_document
from groupcost.questions.whatif import whatif

GTX = device("gtx1080ti")


def test_shufflenet_v2_table2_guideline_g2():
    """Ten 1×1 group convs on 56×56, c = 128, 180, 256, 360 for G = 1, 2, 4, 8 (the paper's Table 2).

    MACs stay within 2 %; memory access per layer (Eq. 2: hw(c1 + c2) + c1·c2/g) grows from about
    0.82 M to 2.27 M elements, and so does the estimated latency, as the paper's measured speed falls.
    """
    sweep = whatif(load_document("shufflenet_v2_table2"), {"G": [1, 2, 4, 8]}, GTX)
    reports = [o.report for o in sweep.outcomes]
    macs = [r.totals.macs for r in reports]
    assert max(macs) / min(macs) < 1.02
    for report, (g, c) in zip(reports, [(1, 128), (2, 180), (4, 256), (8, 360)]):
        conv = [row for row in report.rows if row.type == "pwconv"]
        assert len(conv) == 10
        assert all(row.traffic == 56 * 56 * (c + c) + c * c // g for row in conv)
        assert all(row.macs == 56 * 56 * c * c // g for row in conv)
    per_layer = [r.rows[0].traffic for r in reports]
    assert per_layer[0] == 819_200 and per_layer[-1] == 2_274_120  # "about 0.82 M → 2.27 M"
    assert per_layer == sorted(per_layer) and len(set(per_layer)) == 4
    seconds = [o.seconds for o in sweep.outcomes]
    assert seconds == sorted(seconds) and len(set(seconds)) == 4


def test_illegal_configuration_is_a_row():
    sweep = whatif(load_document("alexnet_2gpu"), {"G": [1, 2, 3]}, GTX)
    assert [o.legal for o in sweep.outcomes] == [True, True, False]
    assert sweep.outcomes[2].reason == "conv2 (conv): groups=3 does not divide C_out=256"
    assert sweep.outcomes[1].report.totals.params == 60_965_224


def test_grid_over_two_variables():
    sweep = whatif(load_document("resnext50_32x4d"), {"G": [1, 2], "width_per_group": [4, 8]}, GTX)
    assert [o.config.label for o in sweep.outcomes] == ["G=1, width_per_group=4", "G=1, width_per_group=8", "G=2, width_per_group=4", "G=2, width_per_group=8"]


def test_layer_groups_divisors():
    """resnet18's layer1.0.conv1 (64→64, 3×3 on 56×56): every legal G, each saving 64·64·9·(1 − 1/G) params."""
    sweep = whatif(load_document("resnet18"), {}, GTX, layer="layer1.0.conv1", groups=[3, "divisors"])
    labels = [o.config.groups for o in sweep.outcomes]
    assert labels == [3, 1, 2, 4, 8, 16, 32, 64]
    assert sweep.outcomes[0].reason == "groups=3 does not divide C_in=64 and C_out=64 in layer1.0.conv1"
    for o in sweep.outcomes[1:]:
        assert o.report.totals.params == 11_689_512 - 64 * 64 * 9 + 64 * (64 // o.config.groups) * 9


def test_whatif_cli_json_and_chart(cli):
    result = cli("whatif", "resnext50_32x4d", "--vary", "G=1,2,4,8,16,32,64", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["device"]["name"] == "a100" and doc["varied"] == ["G"]
    rows = {row["variables"]["G"]: row for row in doc["configurations"]}
    assert (rows[32]["params"], rows[32]["macs"]) == (25_028_904, 4_230_479_872)
    table = cli("whatif", "shufflenet_v2_table2", "--vary", "G=1,2,4,8", "--device", "gtx1080ti")
    assert "traffic (bytes)" in table.stdout and "gtx1080ti (11.34 TFLOP/s, 484 GB/s)" in table.stdout


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["resnet18"], "--vary:1:1: error: nothing to vary"),
        (["resnet18", "--vary", "G=1,2"], "--vary:1:1: error: spec 'resnet18' has no variable 'G'"),
        (["resnext50_32x4d", "--vary", "G=1,x"], "--vary:1:5: error: undefined variable 'x'"),
        (["resnext50_32x4d", "--vary", "G"], "--vary:1:1: error: expected VAR=v1,v2,..."),
        (["resnet18", "--g", "2"], "--g:1:1: error: --g needs --layer"),
        (["resnet18", "--layer", "layer1.0.conv2", "--g", "2,x"], "--g:1:3: error: 'x' is not a group count"),
        (["resnet18", "--layer", "layer1.0.conv9", "--g", "2"], "--layer:1:1: error: no layer named 'layer1.0.conv9' in resnet18 (did you mean 'layer1.0.conv"),
        (["resnet18", "--layer", "layer1.0.bn1", "--g", "2"], "--layer:1:1: error: layer 'layer1.0.bn1' is a bn"),
        (["resnext50_32x4d", "--vary", "G=2", "--device", "tpu"], "--device:1:1: error: unknown device 'tpu'"),
        (["resnext50_32x4d", "--vary", "G=2", "--peak-tflops", "3"], "--peak-tflops:1:1: error: give both"),
    ],
)
def test_whatif_bad_values(cli, args, prefix):
    result = cli("whatif", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(prefix) and result.stderr.count("\n") == 1, result.stderr


def test_sweep_matches_torchvision_for_every_g():
    """The sweep's figures are torchvision's ResNet(Bottleneck, [3, 4, 6, 3], groups=G, width_per_group=4)."""
    pytest.importorskip("torch")
    import torch
    from reference_resnet import Bottleneck, ResNet, meta_counts

    sweep = whatif(load_document("resnext50_32x4d"), {"G": [1, 4, 32]}, GTX)
    for o in sweep.outcomes:
        with torch.device("meta"):
            reference = ResNet(Bottleneck, [3, 4, 6, 3], groups=o.config.variables["G"], width_per_group=4)
        params, macs = meta_counts(reference)
        assert (o.report.totals.params, o.report.totals.macs) == (params, macs)
