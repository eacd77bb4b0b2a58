"""The DenseNet-121 and U-Net fixtures of tests/valid/ (drawn by the HTML report's tests): their
figures against references we did not compute."""

from __future__ import annotations

from pathlib import Path

import groupcost

VALID = Path(__file__).parents[1] / "valid"


def test_densenet121_is_torchvisions():
    # torchvision's model card for densenet121: 7,978,856 params, 2.83 GFLOPS (multiply-adds).
    report = groupcost.analyze(groupcost.load(VALID / "densenet121.yaml"))
    assert report.totals.params == 7_978_856
    assert round(report.totals.macs / 1e9, 2) == 2.83
    assert report.output_shape == (1000,)


def test_unet_matches_its_closed_form():
    # Padded 3×3 convs with bias: each double conv is 9·c_in·out + out + 9·out·out + out weights;
    # each up step's 1×1 reduce conv halves the channels with a bias; the head is a 1×1 conv to 2.
    def double(c_in, out):
        return 9 * c_in * out + out + 9 * out * out + out

    widths = [64, 128, 256, 512, 1024]
    encoder = double(3, 64) + sum(double(a, b) for a, b in zip(widths, widths[1:]))
    decoder = sum(c * (c // 2) + c // 2 + double(c, c // 2) for c in widths[:0:-1])
    head = 64 * 2 + 2
    report = groupcost.analyze(groupcost.load(VALID / "unet.yaml"))
    assert report.totals.params == encoder + decoder + head
    assert report.output_shape == (2, 256, 256)
