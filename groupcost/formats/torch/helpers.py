"""The helpers a raised PyTorch file may need, by name: functions and classes written once at its top.

Layer types ask for them through `Raising.need` (groupcost.ops.adapters); `HELPER_ORDER` is the order
they appear in, `HELPER_NEEDS` what each needs in turn. The `activation` helper is written from the
activation types' own facts (groupcost.ops.activation).
"""

from __future__ import annotations

from groupcost.ops.activation import plain_activations
from groupcost.ops.attention import FEATURE_MAP_ATTENTION
from groupcost.ops.elementwise import UNARY
from groupcost.ops.grn import GRN
from groupcost.ops.norm import GROUP_NORM_NO_BIAS
from groupcost.ops.view import TORCH_HELPERS as VIEW_HELPERS


def _activation_text() -> str:
    """`ACTIVATIONS` (name → torch class) and `activation(name)`, for the activations without parameters."""
    types = plain_activations()
    entries = [f"{t.type_name!r}: {t.torch_class}".replace("'", '"') for t in types if not t.torch_args_needed]
    lines, line = [], "   "
    for entry in entries:
        if len(line) + len(entry) + 2 > 100:
            lines.append(line)
            line = "   "
        line += f" {entry},"
    lines.append(line)
    special = [f"    if name == {t.type_name!r}:\n        return {t.torch_text()}\n".replace("'", '"') for t in types if t.torch_args_needed]
    return ("\nACTIVATIONS = {\n" + "\n".join(lines) + "\n}\n\n\n"
            "def activation(name):\n"
            '    """An activation module by its groupcost name (`act: hswish`)."""\n'
            + "".join(special) + "    return ACTIVATIONS[name]()\n")


HELPER_TEXT = {
    "_pair": '''
def _pair(value):
    """N or [h, w] → (h, w)."""
    return (value, value) if isinstance(value, int) else tuple(value)
''',
    "_window": '''
def _window(size, k, s, before, after, d=1, ceil_mode=False):
    """PyTorch's output length of a sliding window (rounding towards −∞; ceil_mode as ATen)."""
    span = size + before + after - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = span // s + 1
    if ceil_mode and (out - 1) * s >= size + before:
        out -= 1
    return out
''',
    "_pads": '''
def _pads(p, k, s, d, h, w):
    """Padding N, [h, w], [top, bottom, left, right], 'same' or 'valid' → (top, bottom, left, right)."""
    if p == "valid":
        return 0, 0, 0, 0
    if p == "same":
        sides = []
        for size, kk, ss, dd in ((h, k[0], s[0], d[0]), (w, k[1], s[1], d[1])):
            total = max((-(-size // ss) - 1) * ss + dd * (kk - 1) + 1 - size, 0)
            sides += [total // 2, total - total // 2]
        return tuple(sides)
    if isinstance(p, int):
        return p, p, p, p
    return (p[0], p[0], p[1], p[1]) if len(p) == 2 else tuple(p)
''',
    "Conv2d": '''
class Conv2d(nn.Conv2d):
    """nn.Conv2d built from the input shape, taking any padding (uneven padding is applied with F.pad)."""

    def __init__(self, shape, out, k, s=1, p=0, d=1, groups=1, bias=True):
        c, h, w = shape
        k, s, d = _pair(k), _pair(s), _pair(d)
        top, bottom, left, right = _pads(p, k, s, d, h, w)
        even = top == bottom and left == right
        super().__init__(c, out, k, s, (top, left) if even else 0, d, groups, bias)
        self.uneven = None if even else (left, right, top, bottom)
        self.out_shape = (out, _window(h, k[0], s[0], top, bottom, d[0]), _window(w, k[1], s[1], left, right, d[1]))

    def forward(self, x):
        return super().forward(x if self.uneven is None else F.pad(x, self.uneven))
''',
    "MaxPool2d": '''
class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d that knows its output shape."""

    def __init__(self, shape, k, s=None, p=0, d=1, ceil_mode=False):
        c, h, w = shape
        k, s, p, d = _pair(k), _pair(s if s is not None else k), _pair(p), _pair(d)
        super().__init__(k, s, p, d, ceil_mode=ceil_mode)
        self.out_shape = (c, _window(h, k[0], s[0], p[0], p[0], d[0], ceil_mode), _window(w, k[1], s[1], p[1], p[1], d[1], ceil_mode))
''',
    "AvgPool2d": '''
class AvgPool2d(nn.AvgPool2d):
    """nn.AvgPool2d that knows its output shape."""

    def __init__(self, shape, k, s=None, p=0, ceil_mode=False, count_include_pad=True):
        c, h, w = shape
        k, s, p = _pair(k), _pair(s if s is not None else k), _pair(p)
        super().__init__(k, s, p, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
        self.out_shape = (c, _window(h, k[0], s[0], p[0], p[0], 1, ceil_mode), _window(w, k[1], s[1], p[1], p[1], 1, ceil_mode))
''',
    "FeatureMapAttention": FEATURE_MAP_ATTENTION,
    "Unary": UNARY,
    "GRN": GRN,
    "SqueezeExcitation": '''
class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: global average, 1×1 conv C→S, act, 1×1 conv S→C, gate, scale the input."""

    def __init__(self, channels, squeeze, act="relu", gate="sigmoid"):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = activation(act)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = activation(gate)

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True)))))
''',
    "activation": _activation_text(),
    "_chw": '''
def _chw(shape):
    """(C, H, W) of a feature map; a flat vector of F reads as (F, 1, 1)."""
    return tuple(shape) if len(shape) == 3 else (shape[0], 1, 1)
''',
    "_div": '''
def _div(a, b):
    """The spec's `/`: true division, a whole result kept as an int."""
    q = a / b
    return int(q) if q == int(q) else q
''',
    "divisible": '''
def divisible(value, divisor, min_value=None):
    """torchvision's _make_divisible: round to the nearest multiple of divisor, never 10 % below."""
    floor_value = divisor if min_value is None else min_value
    new = max(floor_value, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new
''',
    "_batchnorm": '''
def _batchnorm(shape, affine=True, eps=1e-5, momentum=0.1):
    """BatchNorm2d on a feature map, BatchNorm1d on a flat vector (PyTorch's eps and momentum unless given)."""
    return (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[0], eps=eps, momentum=momentum, affine=affine)
''',
    "_linear": '''
class ChannelLinear(nn.Linear):
    """nn.Linear on the channels at every position: channels moved last, mapped, moved back."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


def _linear(shape, out, bias=True):
    """nn.Linear on a flat vector, ChannelLinear on a feature map."""
    return (nn.Linear if len(shape) == 1 else ChannelLinear)(shape[0], out, bias)
''',
    "_layernorm": '''
class ChannelLayerNorm(nn.LayerNorm):
    """nn.LayerNorm over the channels at every position (ConvNeXt's LayerNorm2d)."""

    def forward(self, x):
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


def _layernorm(shape, eps=1e-6, affine=True, bias=True):
    """nn.LayerNorm on a flat vector, ChannelLayerNorm on a feature map (groupcost's default eps, ConvNeXt's)."""
    return (nn.LayerNorm if len(shape) == 1 else ChannelLayerNorm)(shape[0], eps=eps, elementwise_affine=affine, bias=bias)
''',
    "_groupnorm": GROUP_NORM_NO_BIAS + '''

def _groupnorm(groups, channels, eps=1e-5, affine=True, bias=True):
    """nn.GroupNorm, or GroupNormNoBias where it learns a scale and no shift."""
    return (nn.GroupNorm if bias or not affine else GroupNormNoBias)(groups, channels, eps=eps, affine=affine)
''',
    "LayerScale": '''
class LayerScale(nn.Module):
    """A learned scale per channel, torchvision's `layer_scale` (C×1×1)."""

    def __init__(self, shape, init=1e-6):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full(tuple(shape), float(init)))

    def forward(self, x):
        return x * self.layer_scale
''',
    "_numel": '''
def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n
''',
    **VIEW_HELPERS,
    "Variables": '''
class Variables:
    """The spec's variables, as build() resolved them: v.G, v.depths, ..."""

    def __init__(self, **values):
        self.__dict__.update(values)

    def __repr__(self):
        return "Variables(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"
''',
}
MATH_HELPERS = {"_ceil": "math.ceil", "_floor": "math.floor", "_log": "math.log", "_log2": "math.log2", "_sqrt": "math.sqrt", "_exp": "math.exp"}
HELPER_NEEDS = {"Conv2d": ("_pair", "_pads", "_window"), "MaxPool2d": ("_pair", "_window"), "AvgPool2d": ("_pair", "_window"),
                "SqueezeExcitation": ("activation",)}
HELPER_ORDER = ["Variables", "_pair", "_window", "_pads", "_chw", "_div", "_numel", "divisible", "activation", "_batchnorm", "_linear", "_layernorm", "_groupnorm", "LayerScale",
                "Conv2d", "MaxPool2d", "AvgPool2d", "SqueezeExcitation", "FeatureMapAttention", "Unary", "GRN",
                *VIEW_HELPERS]
