"""A conv's kernel computed before the conv reads it: weight standardisation and fixed filters.

- `ws: std` (BiT's StdConv, timm's StdConv2d): each output channel's weights less their mean, over
  sqrt(variance + eps). The weight is still the parameter; the arithmetic costs nothing per sample.
- `ws: scaled` (NFNets' scaled weight standardisation, arXiv 2101.08692 eq. 2; timm's ScaledStdConv2d):
  the same times a learned gain per output channel and 1/sqrt(fan-in). PyTorch counts the gain: C_out
  parameters more.
- `filter: binomial` (anti-aliased downsampling, Zhang 2019, arXiv 1904.11486; TResNet's blur pool): a
  depthwise kernel that is a buffer, the outer product of binomial coefficients over its sum, the same
  for every channel. PyTorch counts no parameter for it; its multiply-accumulates are a conv's.
"""

from __future__ import annotations

import math

from groupcost.ops.adapters import OnnxGraph, Place
from groupcost.ops.base import LayerError, one_of

STANDARDISATIONS = one_of("none", "std", "scaled")
FILTERS = one_of("learned", "binomial")
WS_DOC = "weight standardisation: none, std ((w − mean) / sqrt(var + ws_eps) per output channel) or scaled (std × a learned gain per output channel / sqrt(fan-in): C_out more parameters)"
WS_EPS_DOC = "added to the variance of a standardised weight (timm's StdConv2d: 1e-6)"
FILTER_DOC = "learned, or binomial: a fixed blur kernel (a buffer, no parameters), the outer product of binomial coefficients over their sum"


def binomial(k: int) -> list[int]:
    """Row k − 1 of Pascal's triangle: [1, 2, 1] for k = 3."""
    return [math.comb(k - 1, i) for i in range(k)]


def binomial_kernel(kernel: tuple[int, ...]) -> list[float]:
    """The fixed filter, flat: the outer product of the binomial rows over its sum (exact in binary floats)."""
    values = [1]
    for k in kernel:
        values = [v * b for v in values for b in binomial(k)]
    total = sum(values)
    return [v / total for v in values]


def check_weight_args(ws: str, fixed: bool) -> None:
    if ws != "none" and fixed:
        raise LayerError("a fixed filter is not standardised", "use ws: none with filter: binomial", arg="ws")


def standardised(weight, ws: str, eps: float, gain):
    """The NumPy weight as the conv reads it (float64 statistics)."""
    import numpy as np

    if ws == "none":
        return weight
    flat = weight.reshape(weight.shape[0], -1).astype(np.float64)
    w = (flat - flat.mean(axis=1, keepdims=True)) / np.sqrt(flat.var(axis=1, keepdims=True) + eps)
    if ws == "scaled":
        w = w * gain.reshape(-1, 1) / math.sqrt(flat.shape[1])
    return w.reshape(weight.shape).astype(weight.dtype, copy=False)


def fixed_kernel(shape: tuple[int, ...], dtype):
    """The binomial filter for every output channel: (C_out, 1, k...)."""
    import numpy as np

    one = np.array(binomial_kernel(shape[2:]), dtype=np.float64).reshape(shape[2:])
    return np.broadcast_to(one, shape).astype(dtype)


def onnx_standardised(g: OnnxGraph, at: Place, kernel: str, shape: tuple[int, ...], ws: str, eps: float) -> str:
    """The kernel standardised as torch.export writes F.batch_norm of w.view(1, C_out, -1): its statistics by
    ReduceMean, BatchNormalization scaled by the gain (times 1/sqrt(fan-in)) or ones."""
    c_out, fan_in = shape[0], math.prod(shape[1:])
    name = f"{at.name}/ws"
    rows = g.node("Reshape", [kernel, g.ints(f"{name}.rows", [1, c_out, fan_in])], f"{name}/Reshape")
    axes = g.ints(f"{name}.axes", [0, 2])
    mean = g.node("ReduceMean", [rows, axes], f"{name}/mean", keepdims=0)
    centred = g.node("Sub", [rows, g.node("ReduceMean", [rows, axes], f"{name}/mean_kept", keepdims=1)], f"{name}/Sub")
    var = g.node("ReduceMean", [g.node("Mul", [centred, centred], f"{name}/square"), axes], f"{name}/var", keepdims=0)
    if ws == "scaled":
        gain = g.node("Reshape", [g.tensor(f"{at.name}.gain", (c_out, *(1,) * (len(shape) - 1)), "ones"), g.ints(f"{name}.channels", [c_out])],
                      f"{name}/gain")
        scale = g.node("Mul", [gain, g.tensor(f"{name}.fan_in", (), repr(fan_in ** -0.5))], f"{name}/scale")
    else:
        scale = g.tensor(f"{name}.ones", (c_out,), "ones")
    normed = g.node("BatchNormalization", [rows, scale, g.tensor(f"{name}.zeros", (c_out,), "zeros"), mean, var], f"{name}/BatchNormalization",
                    epsilon=eps)
    return g.node("Reshape", [normed, g.ints(f"{name}.shape", list(shape))], f"{name}/kernel")


def onnx_fixed(g: OnnxGraph, at: Place, shape: tuple[int, ...]) -> str:
    """The binomial filter as a constant (C_out, 1, k...) under `NAME.filter`, a buffer's name."""
    flat = g.floats(f"{at.name}.filter", binomial_kernel(shape[2:]) * shape[0])
    return g.node("Reshape", [flat, g.ints(f"{at.name}/filter_shape", list(shape))], f"{at.name}/filter")


STANDARDISED_CONV = '''
class _Standardised:
    """A conv whose weight is standardised per output channel before use (timm's StdConv2d; with a gain,
    ScaledStdConv2d): F.batch_norm of the weight viewed 1×C_out×fan-in, in training mode."""

    def __init__(self, *args, ws="std", ws_eps=1e-6, **kwargs):
        super().__init__(*args, **kwargs)
        self.ws_eps = ws_eps
        self.scale = self.weight[0].numel() ** -0.5
        if ws == "scaled":
            self.gain = nn.Parameter(torch.ones(self.out_channels, *(1,) * (self.weight.dim() - 1)))
        else:
            self.gain = None

    def forward(self, x):
        scale = None if self.gain is None else self.gain.view(-1) * self.scale
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, weight=scale, training=True, momentum=0.0, eps=self.ws_eps)
        return self._conv_forward(x, w.reshape_as(self.weight), self.bias)


class StdConv1d(_Standardised, nn.Conv1d):
    pass


class StdConv2d(_Standardised, nn.Conv2d):
    pass


class StdConv3d(_Standardised, nn.Conv3d):
    pass
'''

FIXED_FILTER = '''
class FixedFilter(nn.Module):
    """A depthwise conv over a buffer: the binomial filter (outer product of Pascal's row over its sum),
    the same for every channel (anti-aliased downsampling, Zhang 2019)."""

    def __init__(self, channels, out, kernel, stride, padding, dilation, bias):
        super().__init__()
        one = torch.ones(())
        for k in kernel:
            row = [1.0]
            for _ in range(k - 1):
                row = [a + b for a, b in zip([0.0, *row], [*row, 0.0])]
            one = one.unsqueeze(-1) * torch.tensor(row)
        self.register_buffer("filter", (one / one.sum()).expand(out, 1, *kernel).clone())
        self.bias = nn.Parameter(torch.zeros(out)) if bias else None
        self.groups, self.stride, self.padding, self.dilation = channels, stride, padding, dilation

    def forward(self, x):
        conv = (F.conv1d, F.conv2d, F.conv3d)[x.dim() - 3]
        return conv(x, self.filter, self.bias, self.stride, self.padding, self.dilation, self.groups)
'''
