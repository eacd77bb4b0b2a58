"""Spec document → PyTorch source that keeps the spec's structure: blocks become nn.Module classes
whose constructors take the block's arguments, `repeat` becomes a `for` loop, and the spec's
variables become the keyword arguments of `build(**vars)`, with the spec's defaults.

The generated constructors track the tensor's shape as the spec builder does (`shape`, a tuple),
so `c_in`, `c_now` and friends, input channels, 'same' padding and flattened widths are computed
when the module is built, for whatever variables `build` is given.

What is raised (the rest raises `Unraisable`, and the caller falls back to the resolved graph,
groupcost.formats.torch.export, saying why):
- a block or the network whose entries only chain (layers, blocks, `seq`, `repeat` of one entry)
  becomes an `nn.Sequential` subclass; `if:` and numbered names are decided as it is built;
- a block whose body holds `residual` or `parallel` (unnamed, as torchvision writes code in
  forward) gets a `forward` written out; where conditions or loops in a residual body decide
  names while building, the constructor lists the modules and forward runs the list;
- a `repeat` of several entries makes an nn.Sequential per repetition;
- a named `residual` or `parallel` (a namespace of its own) becomes a class of its own;
- not raised: `from:`, merge entries and `outputs:` (the graph form), a block of one unnamed
  entry, an unnamed residual or parallel inside a `seq` or `repeat`, transparent branches,
  blocks from `use:` files, 1-D and 3-D inputs, and the layer types convtranspose, upsample, crop, pad,
  adaptive_maxpool (the graph form writes all of these).
  A computed type is an activation (no arguments) or one of the blocks that take its arguments.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field

from groupcost.ops.base import Layer
from groupcost.language.document import (
    Branch,
    ComputedEntry,
    Entry,
    LayerEntry,
    MergeEntry,
    ParallelEntry,
    RepeatEntry,
    ResidualEntry,
    SeqEntry,
    SpecDocument,
    TemplateCall,
)
from groupcost.language.yamlsource import Node


class Unraisable(Exception):
    """A construct this generator does not raise; the message names it."""


SHAPE_KEEPING = {"bn", "prelu", "dropout", "lrn", "shuffle", "se", "relu", "relu6", "leakyrelu", "elu", "gelu", "sigmoid",
                 "hsigmoid", "silu", "hswish", "tanh", "mish", "softmax", "identity"}
ACTIVATION_CLASSES = {
    "relu": "nn.ReLU", "relu6": "nn.ReLU6", "leakyrelu": "nn.LeakyReLU", "elu": "nn.ELU", "gelu": "nn.GELU",
    "sigmoid": "nn.Sigmoid", "hsigmoid": "nn.Hardsigmoid", "silu": "nn.SiLU", "hswish": "nn.Hardswish",
    "tanh": "nn.Tanh", "mish": "nn.Mish", "identity": "nn.Identity",
}
SHAPE_NAMES = ("c_in", "h_in", "w_in", "c_now", "h_now", "w_now")
FUNCTIONS = {"min": "min", "max": "max", "round": "round", "abs": "abs", "int": "int", "len": "len", "sum": "sum",
             "range": "range", "ceil": "_ceil", "floor": "_floor", "divisible": "divisible", "log": "_log",
             "log2": "_log2", "sqrt": "_sqrt", "exp": "_exp"}

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

    def __init__(self, shape, k, s=None, p=0, ceil_mode=False):
        c, h, w = shape
        k, s, p = _pair(k), _pair(s if s is not None else k), _pair(p)
        super().__init__(k, s, p, ceil_mode=ceil_mode)
        self.out_shape = (c, _window(h, k[0], s[0], p[0], p[0], 1, ceil_mode), _window(w, k[1], s[1], p[1], p[1], 1, ceil_mode))
''',
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
    "activation": '''
ACTIVATIONS = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid, "hsigmoid": nn.Hardsigmoid, "silu": nn.SiLU, "hswish": nn.Hardswish,
    "tanh": nn.Tanh, "mish": nn.Mish, "identity": nn.Identity,
}


def activation(name):
    """An activation module by its groupcost name (`act: hswish`)."""
    if name == "softmax":
        return nn.Softmax(dim=1)
    return ACTIVATIONS[name]()
''',
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
def _batchnorm(shape, affine=True):
    """BatchNorm2d on a feature map, BatchNorm1d on a flat vector."""
    return (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[0], affine=affine)
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


def _layernorm(shape, eps=1e-6, affine=True):
    """nn.LayerNorm on a flat vector, ChannelLayerNorm on a feature map (groupcost's default eps, ConvNeXt's)."""
    return (nn.LayerNorm if len(shape) == 1 else ChannelLayerNorm)(shape[0], eps=eps, elementwise_affine=affine)
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
HELPER_ORDER = ["Variables", "_pair", "_window", "_pads", "_chw", "_div", "_numel", "divisible", "activation", "_batchnorm", "_linear", "_layernorm", "LayerScale",
                "Conv2d", "MaxPool2d", "AvgPool2d", "SqueezeExcitation"]


def camel(name: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    text = ""
    for part in parts:
        if text and text[-1].isdigit() and part[0].isdigit():
            text += "_"
        text += part[0].upper() + part[1:]
    return text if text and text[0].isalpha() else "Net" + text


@dataclass
class _Scope:
    """Where entries go: a container variable, its naming counter, and the names an expression may use."""

    container: str
    locals: set[str]
    counter: str | None = None  # a runtime counter once a condition or a loop makes numbering dynamic
    index: int = 0
    static_names: bool = True  # False once a name depends on the run (then forward may not refer to one)
    record: str | None = None  # a list that collects the names placed, in order, for a forward that runs them


@dataclass
class _Class:
    name: str
    lines: list[str] = field(default_factory=list)


class Generator:
    def __init__(self, doc: SpecDocument, overrides: dict | None = None):
        self.doc = doc
        self.overrides = dict(overrides or {})
        self.vars = list(doc.variables)
        self.helpers: set[str] = set()
        self.classes: dict[str, _Class] = {}
        self.order: list[str] = []
        self.fresh = 0
        self.uses_math = False
        self.renames: dict[str, str] = {}  # a repeat variable that shadows an outer one gets a Python name of its own
        self.in_chain = False  # placing an entry that forward calls by name (a parameter may stand there)

    # ---- expressions ------------------------------------------------------------------------

    def expr(self, node: Node, scope: _Scope, in_build: bool = False) -> str:
        value = node.value
        if isinstance(value, bool):
            return repr(value)
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, list):
            return "[" + ", ".join(self.expr(item, scope, in_build) for item in value) + "]"
        if value is None:
            return "None"
        if isinstance(value, dict):
            raise Unraisable(f"a mapping as a value at {node.loc}")
        return self.text_expr(str(value), scope, node, in_build)

    def text_expr(self, text: str, scope: _Scope, node: Node, in_build: bool = False) -> str:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            raise Unraisable(f"expression '{text}' at {node.loc}") from None
        translator = _Translate(self, scope.locals, in_build, node)
        out = translator.visit(tree.body)
        return ast.unparse(out)

    def argument(self, node: Node, scope: _Scope, in_build: bool = False) -> str:
        """A block argument or variable: a bare word that names nothing is a string (`act: hswish`)."""
        value = node.value
        if isinstance(value, str) and value.isidentifier() and value not in scope.locals and value not in self.vars and value not in SHAPE_NAMES:
            return repr(value)
        if isinstance(value, list):
            return "[" + ", ".join(self.argument(item, scope, in_build) for item in value) + "]"
        return self.expr(node, scope, in_build)

    def name_text(self, node: Node, scope: _Scope) -> str:
        """A written name, with `{expr}` parts computed: a Python string expression."""
        value = str(node.value)
        if "{" not in value:
            return repr(value)
        parts, pos = [], 0
        for match in re.finditer(r"\{\{|\}\}|\{([^{}]*)\}", value):
            parts.append(value[pos:match.start()].replace("{", "{{").replace("}", "}}"))
            if match.group(1) is None:
                parts.append(match.group(0))
            else:
                parts.append("{" + self.text_expr(match.group(1), scope, node) + "}")
            pos = match.end()
        parts.append(value[pos:].replace("{", "{{").replace("}", "}}"))
        return "f" + repr("".join(parts)).replace("\\\\", "\\")

    # ---- helpers ------------------------------------------------------------------------------

    def need(self, helper: str) -> str:
        if helper in MATH_HELPERS:
            self.uses_math = True
            return MATH_HELPERS[helper]
        self.helpers.add(helper)
        for other in HELPER_NEEDS.get(helper, ()):
            self.need(other)
        return helper

    def var(self, base: str) -> str:
        self.fresh += 1
        return f"{base}{self.fresh}"

    # ---- entries -------------------------------------------------------------------------------

    def entries(self, entries: tuple[Entry, ...], scope: _Scope, out: list[str], indent: str) -> None:
        for entry in entries:
            self.entry(entry, scope, out, indent)

    def now(self, text: str, out: list[str], indent: str) -> None:
        if any(re.search(rf"\b{n}\b", text) for n in ("c_now", "h_now", "w_now")):
            out.append(f"{indent}c_now, h_now, w_now = {self.need('_chw')}(shape)")

    def entry(self, entry: Entry, scope: _Scope, out: list[str], indent: str, given: str | None = None) -> None:
        common = entry.common
        if common.sources is not None or isinstance(entry, MergeEntry):
            raise Unraisable(f"from: and merge entries (the graph form) at {common.loc}")
        if common.condition is not None:
            cond = self.expr(common.condition, scope)
            self.now(cond, out, indent)
            self.dynamic(scope, out, indent)
            out.append(f"{indent}if {cond}:")
            indent += "    "
        if isinstance(entry, LayerEntry):
            self.layer(entry.layer_type, entry.args, entry, scope, out, indent, given)
        elif isinstance(entry, ComputedEntry):
            kind = self.name_text(entry.kind, scope)
            if not entry.args:  # `- "{act}"`: an activation chosen by an argument
                self.place(entry, scope, out, indent, f"{self.need('activation')}({kind})", given, None)
            else:  # `- "{kinds[st]}": {...}`: a block chosen by a value, among the blocks taking these arguments
                fits = [t for t in self.doc.templates.values() if set(entry.args) <= set(t.params) and t.variables is None]
                if not fits:
                    raise Unraisable(f"a computed type with arguments no block takes, at {common.loc}")
                choices = "{" + ", ".join(f"{t.name!r}: {self.template_class(t.name)}" for t in fits) + "}"
                args = "".join(f", {key}={self.argument(node, scope)}" for key, node in entry.args.items())
                for node in entry.args.values():
                    self.now(self.argument(node, scope), out, indent)
                self.place(entry, scope, out, indent, f"{choices}[{kind}](v, shape{args})", given, "module")
        elif isinstance(entry, TemplateCall):
            self.call(entry, scope, out, indent, given)
        elif isinstance(entry, SeqEntry):
            self.seq(entry, scope, out, indent, given)
        elif isinstance(entry, RepeatEntry):
            self.repeat(entry, scope, out, indent)
        elif isinstance(entry, (ResidualEntry, ParallelEntry)) and (common.name is not None or given is not None):
            self.named_structure(entry, scope, out, indent, given)
        else:
            raise Unraisable(f"{type(entry).__name__.replace('Entry', '').lower()} where modules only chain, at {common.loc}")

    def dynamic(self, scope: _Scope, out: list[str], indent: str) -> None:
        """From here on, numbered names are counted as the module is built."""
        if scope.counter is None:
            scope.counter = self.var("k")
            out.append(f"{indent}{scope.counter} = {scope.index}")
        scope.static_names = False

    def claim(self, entry: Entry, scope: _Scope, out: list[str], indent: str, given: str | None) -> str:
        """The name's Python expression; advances the numbering as the builder does."""
        if given is not None:
            return given
        node = entry.common.name
        if scope.counter is not None:
            return self.name_text(node, scope) if node is not None else f"str({scope.counter})"
        name = self.name_text(node, scope) if node is not None else repr(str(scope.index))
        scope.index += 1
        return name

    def place(self, entry: Entry, scope: _Scope, out: list[str], indent: str, module: str, given: str | None, new_shape: str | None) -> str:
        name = self.claim(entry, scope, out, indent, given)
        literal = _literal_name(name)
        if literal is not None and scope.container == "self" and _attribute(literal):
            out.append(f"{indent}self.{literal} = {module}")
            ref = f"self.{literal}"
        elif new_shape == "module":
            out.append(f"{indent}module = {module}")
            out.append(f"{indent}{scope.container}.add_module({name}, module)")
            ref = "module"
        else:
            out.append(f"{indent}{scope.container}.add_module({name}, {module})")
        if new_shape == "module":
            out.append(f"{indent}shape = {ref}.out_shape")
        elif new_shape is not None:
            out.append(f"{indent}shape = {new_shape}")
        self.added(scope, out, indent, name, given)
        return name

    def added(self, scope: _Scope, out: list[str], indent: str, name: str, given: str | None) -> None:
        if scope.record is not None:
            out.append(f"{indent}{scope.record}.append({name})")
        if scope.counter is not None and given is None:
            out.append(f"{indent}{scope.counter} += 1")

    def layer(self, layer_type: type[Layer], args: dict[str, Node], entry: Entry, scope: _Scope, out: list[str], indent: str, given: str | None) -> None:
        kind = layer_type.type_name
        values: dict[str, str] = {}
        for spec in layer_type.arg_specs():
            node = args.get(spec.name)
            if node is None:
                continue
            if spec.textual:
                values[spec.name] = self.name_text(node, scope) if isinstance(node.value, str) else repr(node.value)
            elif isinstance(node.value, str) and node.value in spec.keywords:
                values[spec.name] = repr(node.value)
            else:
                values[spec.name] = self.expr(node, scope)
        for text in values.values():
            self.now(text, out, indent)
        a = values.get
        kw = lambda *names: "".join(f", {n}={values[n]}" for n in names if n in values)  # noqa: E731
        if kind == "dwsep":
            self.dwsep(values, entry, scope, out, indent, given)
            return
        if kind == "conv":
            module, shape = f"{self.need('Conv2d')}(shape, {a('out')}, {a('k')}{kw('s', 'p', 'd', 'groups', 'bias')})", "module"
        elif kind == "dwconv":
            mult = f"shape[0] * {a('mult')}" if "mult" in values else "shape[0]"
            module, shape = f"{self.need('Conv2d')}(shape, {mult}, {a('k')}{kw('s', 'p', 'd')}, groups=shape[0]{kw('bias')})", "module"
        elif kind == "pwconv":
            module, shape = f"{self.need('Conv2d')}(shape, {a('out')}, 1{kw('s', 'groups', 'bias')})", "module"
        elif kind == "gdc":
            module, shape = f"{self.need('Conv2d')}(shape, shape[0], shape[1:], groups=shape[0], bias={a('bias') or 'False'})", "module"
        elif kind == "fc":
            module, shape = f"nn.Linear(shape[0], {a('out')}{kw('bias')})", f"({a('out')},)"
        elif kind == "bn":
            module, shape = f"{self.need('_batchnorm')}(shape{kw('affine')})", None
        elif kind == "prelu":
            shared = a("shared")
            module, shape = (f"nn.PReLU(1 if {shared} else shape[0])" if shared else "nn.PReLU(shape[0])"), None
        elif kind == "maxpool":
            module, shape = f"{self.need('MaxPool2d')}(shape, {a('k')}{kw('s', 'p', 'd', 'ceil_mode')})", "module"
        elif kind == "avgpool":
            module, shape = f"{self.need('AvgPool2d')}(shape, {a('k')}{kw('s', 'p', 'ceil_mode')})", "module"
        elif kind == "gap":
            module, shape = "nn.AdaptiveAvgPool2d(1)", "(shape[0], 1, 1)"
        elif kind == "gmp":
            module, shape = "nn.AdaptiveMaxPool2d(1)", "(shape[0], 1, 1)"
        elif kind == "linear":
            module, shape = f"{self.need('_linear')}(shape, {a('out')}{kw('bias')})", f"({a('out')}, *shape[1:])"
        elif kind == "layernorm":
            module, shape = f"{self.need('_layernorm')}(shape{kw('eps', 'affine')})", None
        elif kind == "groupnorm":
            module, shape = f"nn.GroupNorm({a('groups')}, shape[0]{kw('eps', 'affine')})", None
        elif kind == "instancenorm":
            module, shape = f"(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[len(shape) - 2](shape[0]{kw('eps', 'affine')})", None
        elif kind == "pixelshuffle":
            module, shape = f"nn.PixelShuffle({a('r')})", f"(shape[0] // {a('r')} ** 2, shape[1] * {a('r')}, shape[2] * {a('r')})"
        elif kind == "pixelunshuffle":
            module, shape = f"nn.PixelUnshuffle({a('r')})", f"(shape[0] * {a('r')} ** 2, shape[1] // {a('r')}, shape[2] // {a('r')})"
        elif kind == "layerscale":
            init = a("init") or "1e-06"
            dims = "(shape[0], *(1,) * (len(shape) - 1))"
            named = entry.common.name is not None and str(entry.common.name.value) == "layer_scale" and given is None
            if named:  # named after its one tensor: a parameter of the enclosing module (torchvision's `features.1.0.layer_scale`)
                if not self.in_chain or scope.container != "self" or scope.record is not None:
                    raise Unraisable(f"a layerscale named layer_scale where forward does not call entries by name, at {entry.common.loc}")
                module, shape = f"nn.Parameter(torch.full({dims}, float({init})))", None
            else:
                module, shape = f"{self.need('LayerScale')}({dims}, {init})", None
        elif kind == "adaptive_avgpool":
            module, shape = f"nn.AdaptiveAvgPool2d({self.need('_pair')}({a('size')}))", f"(shape[0], *{self.need('_pair')}({a('size')}))"
        elif kind == "flatten":
            module, shape = "nn.Flatten()", f"({self.need('_numel')}(shape),)"
        elif kind == "dropout":
            module, shape = f"nn.Dropout({a('p') or '0.5'})", None
        elif kind == "lrn":
            module, shape = f"nn.LocalResponseNorm({a('size') or '5'})", None
        elif kind == "shuffle":
            module, shape = f"nn.ChannelShuffle({a('groups')})", None
        elif kind == "se":
            module, shape = f"{self.need('SqueezeExcitation')}(shape[0], {a('squeeze')}{kw('act', 'gate')})", None
        elif kind == "softmax":
            module, shape = "nn.Softmax(dim=1)", None
        elif kind in ACTIVATION_CLASSES:
            module, shape = f"{ACTIVATION_CLASSES[kind]}()", None
        else:
            raise Unraisable(f"layer type '{kind}' at {entry.common.loc}")
        self.place(entry, scope, out, indent, module, given, shape)

    def dwsep(self, values: dict[str, str], entry: Entry, scope: _Scope, out: list[str], indent: str, given: str | None) -> None:
        """Depthwise then pointwise, in an nn.Sequential under the entry's name (`NAME.dw`, `NAME.dw_bn`, ...)."""
        try:
            bn = bool(ast.literal_eval(values.get("bn", "False")))
            act = ast.literal_eval(values["act"]) if "act" in values else None
        except ValueError:
            raise Unraisable(f"dwsep with bn or act computed at {entry.common.loc}") from None
        var = self.var("sep")
        conv = self.need("Conv2d")
        kw = lambda *names: "".join(f", {n}={values[n]}" for n in names if n in values)  # noqa: E731
        out.append(f"{indent}{var} = nn.Sequential()")
        for part, make in (("dw", f"{conv}(shape, shape[0], {values.get('k', '3')}{kw('s')}, p={values.get('p', repr('same'))}{kw('d')}, groups=shape[0]{kw('bias')})"),
                           ("pw", f"{conv}(shape, {values['out']}, 1{kw('bias')})")):
            out.append(f"{indent}{var}.{part} = {make}")
            out.append(f"{indent}shape = {var}.{part}.out_shape")
            if bn:
                out.append(f"{indent}{var}.{part}_bn = {self.need('_batchnorm')}(shape)")
            if act:
                out.append(f"{indent}{var}.add_module({part + '_' + act!r}, {self.need('activation')}({act!r}))")
        self.place(entry, scope, out, indent, var, given, None)

    def named_structure(self, entry: ResidualEntry | ParallelEntry, scope: _Scope, out: list[str], indent: str, given: str | None) -> None:
        """A named residual or parallel: a namespace of its own, so a class of its own, built with the enclosing names."""
        import dataclasses

        written = str(entry.common.name.value) if entry.common.name is not None else "part"
        cls = camel(re.sub(r"\{[^}]*\}", "", written) or "part")
        taken = {c.name for c in self.classes.values()}
        base, n = cls, 2
        while cls in taken:
            cls, n = f"{base}{n}", n + 1
        passed = sorted((scope.locals - set(SHAPE_NAMES)) | {"c_in", "h_in", "w_in"})
        inner = _Scope("self", set(passed))
        anonymous = dataclasses.replace(entry, common=dataclasses.replace(entry.common, name=None))
        init, forward = self.structured((anonymous,), inner, written)
        key = f"@{cls}"
        self.classes[key] = _Class(cls, [
            f"class {cls}({'nn.Module'}):",
            f'    """The {type(entry).__name__.replace("Entry", "").lower()} `{written}` of {self.doc.name} ({entry.common.loc})."""',
            "",
            f"    def __init__(self, v, shape, *, {', '.join(passed)}):",
            "        super().__init__()",
            *init,
            "        self.out_shape = shape",
            "",
            "    def forward(self, x):",
            *forward,
        ])
        self.order.append(key)
        args = ", ".join(f"{p}={p}" for p in passed)
        self.place(entry, scope, out, indent, f"{cls}(v, shape, {args})", given, "module")

    def call(self, entry: TemplateCall, scope: _Scope, out: list[str], indent: str, given: str | None) -> None:
        template = self.doc.templates[entry.template]
        if template.variables is not None:
            raise Unraisable(f"block '{template.name}' comes from a used file, with variables of its own")
        cls = self.template_class(entry.template)
        args = "".join(f", {key}={self.argument(node, scope)}" for key, node in entry.args.items())
        for key, node in entry.args.items():
            self.now(self.argument(node, scope), out, indent)
        self.place(entry, scope, out, indent, f"{cls}(v, shape{args})", given, "module")

    def seq(self, entry: SeqEntry, scope: _Scope, out: list[str], indent: str, given: str | None) -> None:
        if len(entry.body) == 1 and entry.body[0].common.name is None and not isinstance(entry.body[0], (RepeatEntry, ResidualEntry, ParallelEntry)):
            name = self.claim(entry, scope, out, indent, given)  # one unnamed entry takes the seq's name
            self.entry(entry.body[0], scope, out, indent, given=name)
            if scope.counter is not None and given is None:
                out.append(f"{indent}{scope.counter} += 1")
            return
        var = self.var("seq")
        out.append(f"{indent}{var} = nn.Sequential()")
        inner = _Scope(var, scope.locals)
        name = self.claim(entry, scope, out, indent, given)
        self.entries(entry.body, inner, out, indent)
        literal = _literal_name(name)
        if literal is not None and scope.container == "self" and _attribute(literal):
            out.append(f"{indent}self.{literal} = {var}")
        else:
            out.append(f"{indent}{scope.container}.add_module({name}, {var})")
        self.added(scope, out, indent, name, given)

    def repeat(self, entry: RepeatEntry, scope: _Scope, out: list[str], indent: str) -> None:
        count = self.expr(entry.count, scope)
        self.now(count, out, indent)
        self.dynamic(scope, out, indent)
        _check_local(entry.var, "repeat variable")
        python = entry.var if entry.var not in scope.locals and entry.var not in self.renames else self.var(f"{entry.var}_")
        out.append(f"{indent}for {python} in range({count}):")
        saved, scope.locals = scope.locals, scope.locals | {entry.var, python}
        saved_renames, self.renames = self.renames, {**self.renames, entry.var: python} if python != entry.var else self.renames
        try:
            self.repeat_body(entry, scope, out, indent, python)
        finally:
            scope.locals, self.renames = saved, saved_renames

    def repeat_body(self, entry: RepeatEntry, scope: _Scope, out: list[str], indent: str, python: str) -> None:
        if len(entry.body) == 1:
            self.entry(entry.body[0], scope, out, indent + "    ")
            return
        # several entries: each repetition is an nn.Sequential under the next number (or NAME{i})
        inner_indent = indent + "    "
        if entry.common.name is not None:
            raw = str(entry.common.name.value)
            name = self.name_text(entry.common.name, scope) if "{" in raw else f"f{(raw + '{' + python + '}')!r}"
        else:
            name = f"str({scope.counter})"
        var = self.var("seq")
        out.append(f"{inner_indent}{var} = nn.Sequential()")
        self.entries(entry.body, _Scope(var, scope.locals), out, inner_indent)
        out.append(f"{inner_indent}{scope.container}.add_module({name}, {var})")
        self.added(scope, out, inner_indent, name, None)

    # ---- classes ---------------------------------------------------------------------------------

    def template_class(self, name: str) -> str:
        cls = camel(name)
        if name in self.classes:
            return cls
        self.classes[name] = _Class(cls)  # placed first: a block that uses itself terminates here
        template = self.doc.templates[name]
        params = list(template.params)
        for p in params:
            _check_local(p, f"block '{name}' argument")
        scope = _Scope("self", {*params, *SHAPE_NAMES[:3]})
        signature, defaults = [], []
        seen: set[str] = set()
        prior = _Scope("self", {*SHAPE_NAMES[:3]})
        for p, default in template.params.items():
            if default is None:
                signature.append(p)
            elif _python_literal(text := self.argument(default, prior)):
                signature.append(f"{p}={text}")
            else:
                signature.append(f"{p}=None")
                defaults.append(f"        if {p} is None:")
                defaults.append(f"            {p} = {text}")
            seen.add(p)
            prior.locals = prior.locals | {p}
        body = template.body
        if len(body) == 1 and body[0].common.name is None and not isinstance(body[0], (RepeatEntry, ResidualEntry, ParallelEntry)):
            raise Unraisable(f"block '{name}' of one unnamed entry (it takes the block's name)")
        structured = any(isinstance(e, (ResidualEntry, ParallelEntry)) and e.common.name is None for e in body)
        lines = [f"class {cls}({'nn.Module' if structured else 'nn.Sequential'}):",
                 f'    """Block `{name}` of {self.doc.name} ({template.loc}).{" Takes the block input shape (C, H, W) and its arguments." if params else ""}"""',
                 "",
                 f"    def __init__(self, v, shape, *, {', '.join(signature)}):" if signature else "    def __init__(self, v, shape):",
                 "        super().__init__()",
                 f"        c_in, h_in, w_in = {self.need('_chw')}(shape)",
                 *defaults]
        if structured:
            init, forward = self.structured(body, scope, name)
            lines += init + ["        self.out_shape = shape", "", "    def forward(self, x):", *forward]
        else:
            init: list[str] = []
            self.entries(body, scope, init, "        ")
            lines += init + ["        self.out_shape = shape"]
        self.classes[name].lines = _drop_unused_shape_names(lines)
        self.order.append(name)
        return cls

    def structured(self, body: tuple[Entry, ...], scope: _Scope, where: str) -> tuple[list[str], list[str]]:
        """A body with residual or parallel: the constructor, and forward written out."""
        init: list[str] = []
        forward: list[str] = []
        ind = "        "
        for entry in body:
            if entry.common.sources is not None:
                raise Unraisable(f"from: beside residual/parallel in '{where}'")
            if isinstance(entry, (ResidualEntry, ParallelEntry)) and entry.common.condition is not None:
                raise Unraisable(f"a condition on a residual or parallel in '{where}'")
            if isinstance(entry, (ResidualEntry, ParallelEntry)) and entry.common.name is not None:
                self.chain((entry,), scope, init, forward, where)  # a class of its own
            elif isinstance(entry, ResidualEntry):
                init.append(f"{ind}shape_in = shape")
                forward.append(f"{ind}identity = x")
                if entry.when is not None:
                    cond = self.expr(entry.when, scope)
                    self.now(cond, init, ind)
                    init.append(f"{ind}self.use_residual = bool({cond})")
                self.chain(entry.body, scope, init, forward, where)
                init.append(f"{ind}shape_body = shape")
                if entry.when is not None:
                    built: list[str] = []
                    short = self.branch(entry.shortcut, scope, built, "shape_in", "shortcut", where, ind + "    ")
                    if built:
                        init += [f"{ind}if self.use_residual:", *built]
                    forward.append(f"{ind}if self.use_residual:")
                    forward.append(f"{ind}    x = {_merge(entry.merge, ['x', short.format('identity')])}")
                else:
                    short = self.branch(entry.shortcut, scope, init, "shape_in", "shortcut", where, ind)
                    forward.append(f"{ind}x = {_merge(entry.merge, ['x', short.format('identity')])}")
                if entry.merge == "concat":
                    init.append(f"{ind}shape = (shape_body[0] + shape[0], *shape_body[1:])")
                else:
                    init.append(f"{ind}shape = shape_body")
            elif isinstance(entry, ParallelEntry):
                n = len(entry.branches)
                if entry.split is not None:
                    split = self.expr(entry.split, scope)
                    self.now(split, init, ind)
                    init.append(f"{ind}split = {split}")
                    init.append(f"{ind}self.split = [shape[0] // {n}] * {n} if isinstance(split, int) else list(split)")
                    inputs = [f"(self.split[{k}], *shape[1:])" for k in range(n)]
                    forward.append(f"{ind}parts = torch.split(x, self.split, 1)")
                    reads = [f"parts[{k}]" for k in range(n)]
                else:
                    init.append(f"{ind}shape_in = shape")
                    inputs = ["shape_in"] * n
                    reads = ["x"] * n
                outs = []
                for k, (branch, start) in enumerate(zip(entry.branches, inputs)):
                    init.append(f"{ind}shape = {start}")
                    call = self.branch(branch, scope, init, "shape", None, where, ind)
                    init.append(f"{ind}shape{k} = shape")
                    outs.append(call.format(reads[k]))
                shapes = [f"shape{k}" for k in range(n)]
                if entry.merge == "concat":
                    init.append(f"{ind}shape = (" + " + ".join(f"{s}[0]" for s in shapes) + f", *{shapes[0]}[1:])")
                else:
                    init.append(f"{ind}shape = {shapes[0]}")
                forward.append(f"{ind}x = {_merge(entry.merge, outs)}")
            else:
                self.chain((entry,), scope, init, forward, where)
        forward.append(f"{ind}return x")
        return init, forward

    def chain(self, entries: tuple[Entry, ...], scope: _Scope, init: list[str], forward: list[str], where: str) -> None:
        """Entries that chain; forward calls each by name, or, where conditions or loops decide the
        names while building, runs the modules the constructor listed."""
        if not scope.static_names or any(e.common.condition is not None or isinstance(e, RepeatEntry) for e in entries):
            if any(isinstance(e, (ResidualEntry, ParallelEntry)) and e.common.name is None for e in entries):
                raise Unraisable(f"a residual or parallel inside a residual body in '{where}'")
            record = f"self.{self.var('steps')}"
            init.append(f"        {record} = []  # the names of the modules forward runs, in order")
            scope.record = record
            self.entries(entries, scope, init, "        ")
            scope.record = None
            forward.append(f"        for name in {record}:")
            forward.append("            x = self._modules[name](x)")
            return
        for entry in entries:
            if entry.common.condition is not None:
                raise Unraisable(f"a condition (if:) inside a residual body in '{where}', at {entry.common.loc}")
            if isinstance(entry, (ResidualEntry, ParallelEntry, RepeatEntry)) and entry.common.name is None:
                raise Unraisable(f"a {type(entry).__name__.replace('Entry', '').lower()} inside a residual body in '{where}', at {entry.common.loc}")
            before = len(init)
            self.in_chain = True
            try:
                self.entry(entry, scope, init, "        ")
            finally:
                self.in_chain = False
            if not scope.static_names:
                raise Unraisable(f"a name decided while building, inside '{where}'")
            name = _placed_name(init[before:])
            if any("nn.Parameter(" in line for line in init[before:]):
                forward.append(f"        x = x * {_ref(name)}")
            else:
                forward.append(f"        x = {_ref(name)}(x)")

    def branch(self, branch: Branch, scope: _Scope, init: list[str], shape_var: str, default: str | None, where: str, ind: str) -> str:
        """A shortcut or parallel branch built as an nn.Sequential; returns '{}'-call text for forward."""
        if not branch.body:
            if branch.name is None and default is None:
                scope.index += 1
            return "{}"
        if branch.transparent:
            raise Unraisable(f"a transparent branch in '{where}'")
        if branch.name is not None:
            if "{" in str(branch.name.value):
                raise Unraisable(f"a computed branch name in '{where}'")
            name = str(branch.name.value)
            scope.index += 1
        elif default is not None:
            name = default
        else:
            name = str(scope.index)
            scope.index += 1
        if len(branch.body) == 1 and branch.body[0].common.name is None and not isinstance(branch.body[0], (RepeatEntry, ResidualEntry, ParallelEntry)):
            init.append(f"{ind}shape = {shape_var}")  # one entry takes the branch's name: no container
            self.entry(branch.body[0], _Scope("self", scope.locals), init, ind, given=repr(name))
            if branch.body[0].common.condition is not None:  # absent: the branch is the identity
                return f"({_ref(repr(name))}({{}}) if {name!r} in self._modules else {{}})".replace("{}", "{0}").replace("{{0}}", "{0}")
            return _ref(repr(name)) + "({})"
        var = self.var("branch")
        init.append(f"{ind}shape = {shape_var}")
        init.append(f"{ind}{var} = nn.Sequential()")
        self.entries(branch.body, _Scope(var, scope.locals), init, ind)
        if _attribute(name):
            init.append(f"{ind}self.{name} = {var}")
        else:
            init.append(f"{ind}self.add_module({name!r}, {var})")
        return _ref(repr(name)) + "({})"

    # ---- the file ----------------------------------------------------------------------------------

    def source(self, header: list[str]) -> str:
        doc = self.doc
        if doc.outputs:
            raise Unraisable("outputs: (the graph form)")
        top = _Scope("self", {*SHAPE_NAMES[:3]})
        network = camel(doc.name)
        for var in self.vars:
            if keyword.iskeyword(var) or var in ("Variables", "nn", "torch", "F", "math"):
                raise Unraisable(f"variable named '{var}'")
        build_scope = _Scope("self", set(self.vars))
        params, computes = [], []
        for var, node in doc.variables.items():
            text = repr(self.overrides[var]) if var in self.overrides else self.argument(node, build_scope, in_build=True)
            if _python_literal(text):
                params.append(f"{var}={text}")
            else:
                params.append(f"{var}=None")
                computes += [f"    if {var} is None:", f"        {var} = {text}"]
        if isinstance(doc.input.value, list) and len(doc.input.value) not in (1, 3):
            raise Unraisable(f"a {len(doc.input.value) - 1}-D input (the raised form builds 2-D layers; the graph form takes any rank)")
        input_shape = self.expr(doc.input, _Scope("self", set()))
        body = doc.body
        structured = any(isinstance(e, (ResidualEntry, ParallelEntry)) and e.common.name is None for e in body)
        lines = [f"class {network}({'nn.Module' if structured else 'nn.Sequential'}):",
                 f'    """{doc.name}{": " + doc.description if doc.description else ""}"""',
                 "",
                 "    def __init__(self, v):",
                 "        super().__init__()",
                 "        self.variables = v",
                 f"        shape = self.input_shape = tuple({input_shape})",
                 f"        c_in, h_in, w_in = {self.need('_chw')}(shape)"]
        if structured:
            init, forward = self.structured(body, top, doc.name)
            lines += init + ["        self.out_shape = shape", "", "    def forward(self, x):", *forward]
        else:
            init: list[str] = []
            self.entries(body, top, init, "        ")
            lines += init + ["        self.out_shape = shape"]
        self.need("Variables")
        build = [f"def build({'*, ' if params else ''}{', '.join(params)}) -> nn.Module:",
                 f'    """A new, untrained {network}; the spec\'s variables are the arguments, its values the defaults."""',
                 *computes,
                 f"    return {network}(Variables({', '.join(f'{v}={v}' for v in self.vars)}))"]
        helpers = [HELPER_TEXT[h].strip("\n") for h in HELPER_ORDER if h in self.helpers]
        imports = ["import math", ""] if self.uses_math else []
        text = [*header, "", *imports, "import torch", "from torch import nn", "from torch.nn import functional as F", ""]
        for chunk in helpers:
            text += ["", chunk, ""]
        for name in self.order:
            text += ["", *self.classes[name].lines, ""]
        text += ["", *_drop_unused_shape_names(lines), "", "", *build, ""]
        return "\n".join(text)


_GENERATED_LOCALS = {"v", "self", "x", "shape", "shape_in", "shape_body", "module", "split", "identity", "parts", "torch", "nn", "F", "math",
                     "activation", "divisible", "Conv2d", "MaxPool2d", "AvgPool2d", "SqueezeExcitation", "Variables", "ACTIVATIONS",
                     "ChannelLinear", "ChannelLayerNorm", "LayerScale",
                     "min", "max", "round", "abs", "int", "len", "sum", "range", "bool", "str", "tuple", "list", "isinstance", "getattr",
                     *SHAPE_NAMES}


def _check_local(name: str, what: str) -> None:
    """A spec name that becomes a Python local must not be a keyword or a name the generated code uses."""
    if keyword.iskeyword(name) or name in _GENERATED_LOCALS or name.startswith("_") or re.fullmatch(r"(seq|k|branch|sep|shape)\d+", name):
        raise Unraisable(f"{what} named '{name}' (a name the generated code uses)")


def _drop_unused_shape_names(lines: list[str]) -> list[str]:
    """Leave out `c_in, h_in, w_in = _chw(shape)` where nothing reads them."""
    unpack = [k for k, line in enumerate(lines) if line.strip().startswith("c_in, h_in, w_in = ")]
    rest = "\n".join(line for k, line in enumerate(lines) if k not in unpack)
    if unpack and not re.search(r"\b(c_in|h_in|w_in)\b", rest):
        return [line for k, line in enumerate(lines) if k not in unpack]
    return lines


def _python_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return False
    return True


def _literal_name(name: str) -> str | None:
    if name.startswith(("'", '"')):
        return ast.literal_eval(name)
    return None


def _attribute(name: str) -> bool:
    from groupcost.formats.torch.export import _plain_attribute

    return _plain_attribute(name)


def _ref(name: str) -> str:
    literal = _literal_name(name)
    if literal is not None and _attribute(literal):
        return f"self.{literal}"
    return f"self._modules[{name}]"


def _placed_name(lines: list[str]) -> str:
    for line in reversed(lines):
        m = re.match(r"\s*self\.(\w+) = ", line)
        if m and not line.strip().startswith("self.out_shape"):
            return repr(m.group(1))
        m = re.match(r"\s*self\.add_module\(('[^']*'), ", line)
        if m:
            return m.group(1)
    raise Unraisable("a module whose name forward cannot refer to")


def _merge(kind: str, reads: list[str]) -> str:
    if kind == "concat":
        return f"torch.cat([{', '.join(reads)}], 1)"
    return f" {'+' if kind == 'add' else '*'} ".join(reads)


class _Translate(ast.NodeTransformer):
    """A spec expression as Python: variables read from `v`, `/` as the spec's division, functions mapped."""

    def __init__(self, gen: Generator, local: set[str], in_build: bool, node: Node):
        self.gen, self.local, self.in_build, self.node = gen, set(local), in_build, node
        self.bound: list[set[str]] = []

    def visit_Name(self, node: ast.Name):
        name = node.id
        if any(name in b for b in self.bound):
            return node
        if name in self.gen.renames:
            return ast.Name(self.gen.renames[name], ast.Load())
        if name in self.local or name in SHAPE_NAMES:
            return node
        if name in self.gen.vars:
            return node if self.in_build else ast.Attribute(ast.Name("v", ast.Load()), name, ast.Load())
        raise Unraisable(f"the name '{name}' at {self.node.loc}")

    def visit_ListComp(self, node: ast.ListComp):
        names = set()
        for gen in node.generators:
            gen.iter = self.visit(gen.iter)
            names |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        self.bound.append(names)
        node.elt = self.visit(node.elt)
        for gen in node.generators:
            gen.ifs = [self.visit(c) for c in gen.ifs]
        self.bound.pop()
        return node

    def visit_BinOp(self, node: ast.BinOp):
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            return ast.Call(ast.Name(self.gen.need("_div"), ast.Load()), [node.left, node.right], [])
        return node

    def visit_Call(self, node: ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise Unraisable(f"a call in '{ast.unparse(node)}' at {self.node.loc}")
        node.args = [self.visit(a) for a in node.args]
        target = FUNCTIONS[node.func.id]
        if target.startswith("_") or target == "divisible":
            target = self.gen.need(target)
        node.func = ast.parse(target, mode="eval").body
        return node


def spec_source(doc: SpecDocument, header: list[str], overrides: dict | None = None) -> str:
    """The spec as PyTorch source with its structure kept (`overrides` become build()'s defaults); raises Unraisable naming what it cannot raise."""
    return Generator(doc, overrides).source(header)
