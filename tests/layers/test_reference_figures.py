"""Three models of the brief's second wave, written with the new layer types, reproduce its figures
exactly (PyTorch 2.14 / torchvision 0.29, batch 1): a 2-D U-Net (convtranspose, crop, concat), a 3-D
ResNet (3-D convs and pools) and ConvNeXt (layernorm, linear on channels, layerscale). Drafts for the zoo."""

from __future__ import annotations

from pathlib import Path

import pytest

import groupcost

SPECS = Path(__file__).parent / "specs"


@pytest.mark.parametrize(
    ("name", "params", "macs", "output"),
    [
        ("unet_2015", 31_030_658, 150_428_424_448, (2, 388, 388)),
        ("r3d_18", 33_371_472, 40_696_553_472, (400,)),
        ("convnext_tiny", 28_589_128, 4_455_531_264, (1000,)),
    ],
)
def test_brief_figures(name, params, macs, output):
    report = groupcost.load(SPECS / f"{name}.yaml").analyze()
    assert (report.totals.params, report.totals.macs, report.output_shape) == (params, macs, output)
