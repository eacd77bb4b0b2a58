"""The output-size rule against closed forms worked by hand and against PyTorch's own layers."""

from __future__ import annotations

import pytest

import groupcost
from groupcost.ops.base import same_padding, window_output


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
        (2, 3, 2, (0, 0), 1, False, 0),  # floor((2 - 3) / 2) + 1 = floor(-1/2) + 1 = 0: no window fits
        (2, 3, 2, (0, 0), 1, True, 1),  # floor((2 - 3 + 1) / 2) + 1 = 1: one window, hanging over the end
        (2, 3, 3, (0, 0), 1, True, 1),  # floor((2 - 3 + 2) / 3) + 1 = 1
        (2, 4, 2, (0, 0), 1, True, 0),  # floor((2 - 4 + 1) / 2) + 1 = 0: ceil_mode cannot save it
        (3, 5, 1, (0, 0), 1, True, 0),  # stride 1 adds nothing in ceil mode
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
    steps = groupcost.language.build(net).steps()
    assert [s.out_shape for s in steps] == [(8, 8, 8), (8, 6, 6)]


def _pool_configurations(kind: str):
    """(size, k, s, p, d, ceil_mode): sizes 1-9, windows 1-5, strides 1-4, padding 0-3 (legal or
    not), dilation 1-3 for max pooling, both rounding modes: 5,760 max pools and 1,440 average pools."""
    for size in range(1, 10):
        for k in range(1, 6):
            for s in range(1, 5):
                for p in range(0, 4):
                    for d in (1, 2, 3) if kind == "maxpool" else (1,):
                        for ceil in (False, True):
                            yield size, k, s, p, d, ceil


@pytest.fixture
def torch_one_thread():
    """torch for thousands of tiny calls, where threads only add overhead; the setting restored after."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
def test_pool_sizes_and_refusals_match_pytorch(kind, torch_one_thread):
    """Each configuration on a size × size input: torch's output size, or a refusal where torch refuses."""
    accepted = refused = 0
    for config in _pool_configurations(kind):
        outcome = _compare_pool(torch_one_thread, kind, *config)
        accepted, refused = accepted + (outcome == "accepted"), refused + (outcome == "refused")
    assert accepted > 500 and refused > 300  # both sides of the rule are exercised


def _compare_pool(torch, kind: str, size: int, k: int, s: int, p: int, d: int, ceil: bool) -> str:
    from groupcost.ops.base import LayerError
    from groupcost.ops.pool import AvgPool, MaxPool

    if kind == "maxpool":
        module = torch.nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
        layer = MaxPool(k=(k, k), s=(s, s), p=(p, p), d=(d, d), ceil_mode=ceil)
    else:
        module = torch.nn.AvgPool2d(k, s, p, ceil_mode=ceil)
        layer = AvgPool(k=(k, k), s=(s, s), p=(p, p), ceil_mode=ceil)
    config = (size, k, s, p, d, ceil)
    try:
        expected = tuple(module(torch.zeros(1, 2, size, size)).shape[1:])
    except RuntimeError:
        with pytest.raises(LayerError):
            layer.out_shape((2, size, size))
        return "refused"
    assert layer.out_shape((2, size, size)) == expected, config
    assert window_output(size, k, s, p, p, d, ceil) == expected[1], config
    return "accepted"


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_kernel_values_match_pytorch_in_ceil_mode(kind, torch_one_thread):
    """The NumPy kernel on windows hanging over the end (ceil_mode), against torch's values."""
    torch = torch_one_thread
    np = pytest.importorskip("numpy")
    from groupcost.ops.kernels import pool

    rng = np.random.default_rng(0)
    checked = 0
    for size in range(1, 8):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    out = window_output(size, k, s, p, p, 1, True)
                    if out < 1:
                        continue
                    x = rng.standard_normal((1, 2, size, size + 1)).astype(np.float32)
                    out_w = window_output(size + 1, k, s, p, p, 1, True)
                    module = torch.nn.MaxPool2d(k, s, p, ceil_mode=True) if kind == "max" else torch.nn.AvgPool2d(k, s, p, ceil_mode=True)
                    expected = module(torch.from_numpy(x)).numpy()
                    got = pool(x, (k, k), (s, s), (p, p), (1, 1), (out, out_w), kind)
                    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=str((size, k, s, p)))
                    checked += 1
    assert checked > 100


def test_pool_window_over_a_small_input_in_a_spec():
    """MaxPool2d(3, 2, ceil_mode=True) and AvgPool2d(3, 2, ceil_mode=True) on 2×2 give 1×1, as in torch."""
    for kind in ("maxpool", "avgpool"):
        text = f"input: [4, 2, 2]\nlayers:\n  - {kind}: {{k: 3, s: 2, ceil_mode: true}}\n"
        (step,) = groupcost.language.build(groupcost.parse_text(text)).steps()
        assert step.out_shape == (4, 1, 1)
