"""Every zoo model against figures we did not compute: torchvision's published counts and the papers'
tables, as collected in shared/BRIEF.md (inputs 3×224×224 unless the model says otherwise)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import groupcost
from groupcost.graph.network import LayerStep

# torchvision's published figures: PyTorch's parameter count and conv + linear MACs.
TORCHVISION = {
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet50": (25_557_032, 4_089_184_256),
    "resnext50_32x4d": (25_028_904, 4_230_479_872),
    "mobilenet_v2": (3_504_872, 300_774_272),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992),
    "alexnet": (61_100_840, 714_188_480),
    # the second wave (PyTorch 2.14 / torchvision 0.29, batch 1; efficientnet_v2_s at 384×384)
    "efficientnet_v2_s": (21_458_488, 8_365_617_152),
    "mobilenet_v3_small": (2_542_856, 56_510_400),
    "regnet_y_800mf": (6_432_512, 833_856_256),
    "resnext101_64x4d": (83_455_272, 15_460_270_080),
    "wide_resnet50_2": (68_883_240, 11_398_021_120),
    "shufflenet_v2_x0_5": (1_366_792, 40_476_448),
    "convnext_tiny": (28_589_128, 4_455_531_264),
    # torchvision 0.29.1's mobilenet_v3_large, counted with PyTorch (numel; FlopCounterMode / 2)
    "mobilenet_v3_large": (5_483_032, 216_589_760),
}

# BRIEF's second wave, part two: dense prediction and video (params, MACs, every output's shape)
DENSE_AND_VIDEO = {
    "fcn_resnet50": (32_957_013, 142_725_772_800, [(21, 520, 520)]),
    "deeplabv3_mobilenet_v3_large": (11_025_477, 10_436_350_688, [(21, 520, 520)]),
    "lraspp_mobilenet_v3_large": (3_221_538, 2_086_219_688, [(21, 520, 520)]),
    "resnet50_fpn": (26_852_416, 6_929_104_896, [(256, 56, 56), (256, 28, 28), (256, 14, 14), (256, 7, 7), (256, 4, 4)]),
    "unet_2015": (31_030_658, 150_428_424_448, [(2, 388, 388)]),
    "r3d_18": (33_371_472, 40_696_553_472, [(400,)]),
    "r2plus1d_18": (31_505_325, 40_519_080_960, [(400,)]),
    "s3d": (8_320_048, 17_978_771_456, [(400,)]),
}


@pytest.mark.parametrize("name", sorted(DENSE_AND_VIDEO))
def test_dense_prediction_and_video_figures(name):
    report = groupcost.analyze(groupcost.load(name))
    params, macs, outputs = DENSE_AND_VIDEO[name]
    assert (report.totals.params, report.totals.macs, [shape for _, shape in report.outputs]) == (params, macs, outputs)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_figures(name):
    report = groupcost.analyze(groupcost.load(name))
    assert (report.totals.params, report.totals.macs) == TORCHVISION[name]
    assert report.output_shape == (1000,)


def test_alexnet_two_gpu_form():
    """Krizhevsky et al. 2012: 227×227, groups=2 in conv2, conv4 and conv5, biases everywhere."""
    totals = groupcost.analyze(groupcost.load("alexnet_2gpu")).totals
    assert (totals.params, totals.macs) == (60_965_224, 724_406_816)
    assert groupcost.load("alexnet_2gpu").input_shape == (3, 227, 227)
    assert groupcost.analyze(groupcost.load("alexnet_2gpu", G=1)).totals.params == 62_378_344


def test_mobilenet_v1_table1():
    """arXiv 1704.04861 Table 1: 4.2 M weights and 569 M mult-adds."""
    totals = groupcost.analyze(groupcost.load("mobilenet_v1")).totals
    assert totals.weights == 4_209_088
    assert totals.macs == 568_740_352
    assert round(totals.weights / 1e6, 1) == 4.2 and round(totals.macs / 1e6) == 569


def test_shufflenet_v1_g3_table1():
    """arXiv 1707.01083 Table 1 (g = 3): 137 M MFLOPs (the paper's "FLOPs" are mult-adds), FC excluded."""
    report = groupcost.analyze(groupcost.load("shufflenet_v1_g3"))
    fc = [row for row in report.rows if row.type == "fc"]
    assert len(fc) == 1
    assert report.totals.macs - fc[0].macs == 136_500_672
    assert [row.out_shape for row in report.rows if row.type == "concat"][0] == (240, 28, 28)


def test_mobilefacenet_table1_and_gdc():
    """arXiv 1804.07573: 221 M MAdds at 112×112; the GDC layer is 7×7×512 = 25,088 weights and MACs."""
    report = groupcost.analyze(groupcost.load("mobilefacenet"))
    assert report.totals.macs == 220_965_376
    (gdc,) = [row for row in report.rows if row.type == "gdc"]
    assert (gdc.weights, gdc.macs, gdc.out_shape) == (25_088, 25_088, (512, 1, 1))
    assert report.output_shape == (128, 1, 1)


def test_xception_table3():
    """arXiv 1610.02357 Table 3: 22,855,952 parameters at 299×299."""
    net = groupcost.load("xception")
    assert net.input_shape == (3, 299, 299)
    assert groupcost.analyze(net).totals.params == 22_855_952


def test_resnext_exposes_cardinality_and_width():
    net = groupcost.load("resnext50_32x4d")
    assert net.variables == {"depths": [3, 4, 6, 3], "G": 32, "width_per_group": 4}
    conv2 = [row for row in groupcost.analyze(net).rows if row.name == "layer2.0.conv2"]
    assert conv2[0].groups == 32


def test_every_zoo_spec_is_tested_here():
    from test_zoo_detectors import PUBLISHED

    # res2net_bottleneck: tests/language/test_generated.py; mobilevit_block: tests/graph/test_mobilevit_block.py (torch models written there)
    covered = set(TORCHVISION) | set(DENSE_AND_VIDEO) | set(PUBLISHED) | {"res2net_bottleneck", "mobilevit_block", "alexnet_2gpu", "mobilenet_v1", "shufflenet_v1_g3", "mobilefacenet", "xception", "shufflenet_v2_table2"}
    assert set(groupcost.zoo_names()) == covered


STATE_DICTS = Path(__file__).parents[1] / "reference" / "torchvision_state_dicts.json"


SECOND_WAVE = Path(__file__).parents[1] / "reference" / "torchvision_second_wave.json"


def learnable_keys(name: str) -> dict[str, tuple[int, ...]]:
    """torchvision's state_dict keys and shapes of `name`, BN running statistics left out."""
    if name in SECOND_WAVE_NAMES:
        reference = json.loads(SECOND_WAVE.read_text(encoding="utf-8"))[name]
    else:
        reference = json.loads(STATE_DICTS.read_text(encoding="utf-8"))[name]
    return {key: tuple(shape) for key, shape in reference.items() if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))}


SECOND_WAVE_NAMES = ["efficientnet_v2_s", "mobilenet_v3_small", "mobilenet_v3_large", "regnet_y_800mf", "resnext101_64x4d", "shufflenet_v2_x0_5", "wide_resnet50_2",
                     "convnext_tiny", "fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "resnet50_fpn", "r3d_18", "r2plus1d_18", "s3d"]


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2", "shufflenet_v2_x1_0", *SECOND_WAVE_NAMES])
def test_layer_names_are_torchvisions(name):
    """Every learnable tensor has torchvision's state_dict key and shape (BN running statistics are buffers, not listed)."""
    expected = learnable_keys(name)
    net = groupcost.load(name)
    ours = {key: shape for step in net.steps() if isinstance(step, LayerStep) for key, shape in step.parameter_shapes().items()}
    assert ours == expected


def test_second_wave_uses_the_language():
    """Each model of the second wave is written with the feature it exercises."""
    regnet = groupcost.load("regnet_y_800mf")
    assert regnet.variables["stage_widths"] == [64, 144, 320, 784] and regnet.variables["stage_depths"] == [1, 3, 8, 2]
    from groupcost.language.zoo import zoo_dir

    assert "\nextends: resnext50_32x4d\n" in (zoo_dir() / "resnext101_64x4d.yaml").read_text(encoding="utf-8")
    assert groupcost.analyze(groupcost.load("shufflenet_v2_x1_0", width=0.5)).totals == groupcost.analyze(groupcost.load("shufflenet_v2_x0_5")).totals
    small = {row.name: row.type for row in groupcost.analyze(groupcost.load("mobilenet_v3_small")).rows}
    assert small["features.1.block.0.2"] == "relu" and small["features.4.block.0.2"] == "hswish"  # activations passed as block arguments
