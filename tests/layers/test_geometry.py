"""The output-size rule against closed forms worked by hand and against PyTorch's own layers."""

from __future__ import annotations

import pytest

import groupcost
from groupcost.layers.base import same_padding, window_output


@pytest.mark.parametrize(
    ("size", "k", "s", "pads", "d", "ceil", "expected"),
    [
        (224, 7, 2, (3, 3), 1, False, 112),  # ResNet stem: floor((224 + 6 - 7) / 2) + 1
        (112, 3, 2, (1, 1), 1, False, 56),  # ResNet max pool
        (227, 11, 4, (0, 0), 1, False, 55),  # AlexNet conv1: (227 - 11) / 4 + 1
        (56, 3, 1, (2, 2), 2, False, 56),  # dilation 2 keeps the size with padding 2
        (56, 3, 1, (0, 0), 2, False, 52),  # 56 - 2·(3 - 1)
        (10, 3, 2, (0, 1), 1, False, 5),  # asymmetric: floor((10 + 1 - 3) / 2) + 1
        (10, 3, 2, (1, 0), 1, False, 5),
        (55, 3, 2, (0, 0), 1, False, 27),
        (56, 3, 2, (0, 0), 1, False, 27),  # floor(53 / 2) + 1
        (56, 3, 2, (0, 0), 1, True, 28),  # ceil(53 / 2) + 1
        (5, 2, 2, (1, 1), 1, True, 3),  # ceil(6/2)+1 = 4, but the last window would start in the padding
        (3, 5, 1, (0, 0), 1, False, 0),  # kernel larger than the input
    ],
)
def test_window_output_hand_worked(size, k, s, pads, d, ceil, expected):
    assert window_output(size, k, s, *pads, dilation=d, ceil_mode=ceil) == expected


@pytest.mark.parametrize(("size", "k", "s", "d", "expected_pads"), [(224, 3, 1, 1, (1, 1)), (224, 4, 1, 1, (1, 2)), (225, 3, 2, 1, (1, 1)), (224, 3, 2, 1, (0, 1)), (10, 3, 1, 3, (3, 3))])
def test_same_padding(size, k, s, d, expected_pads):
    """TensorFlow's rule: output ceil(size / s), the odd pixel of padding after."""
    assert same_padding(size, k, s, d) == expected_pads
    assert window_output(size, k, s, *expected_pads, dilation=d) == -(-size // s)


def test_same_and_valid_in_a_spec():
    net = groupcost.parse_text("input: [8, 15, 15]\nlayers:\n  - conv: {out: 8, k: 4, s: 2, p: same}\n  - conv: {out: 8, k: 3, p: valid}\n")
    steps = groupcost.spec.build(net).steps()
    assert [s.out_shape for s in steps] == [(8, 8, 8), (8, 6, 6)]


@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("d", [1, 2])
def test_pool_sizes_match_pytorch(ceil, d):
    """Every size from 4 to 40, windows 1-4, strides 1-3 and legal paddings, as torch computes them."""
    torch = pytest.importorskip("torch")
    for size in range(4, 41):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    if d * (k - 1) + 1 > size + 2 * p or p > (d * (k - 1) + 1) // 2:
                        continue
                    pool = torch.nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
                    expected = pool(torch.zeros(1, 1, size, 1 + 2 * p + d * (k - 1))).shape[2]
                    assert window_output(size, k, s, p, p, d, ceil) == expected, (size, k, s, p, d, ceil)
