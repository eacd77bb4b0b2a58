"""Views (slice, chunk, reshape, flatten start/end, transpose, permute) against PyTorch.

The references are torch itself: its indexing and tensor methods for the shapes and values, and
torch modules written here from the papers' descriptions (GhostNet's Ghost module, YOLOv8's C2f,
ReXNet's partial-channel residual, a YOLO head's DFL) for params, MACs, state_dict keys and outputs.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

import groupcost  # noqa: E402
from groupcost.formats.torch.export import load_module, pytorch_source  # noqa: E402
from groupcost.run.execute import forward, init_weights  # noqa: E402
from torch_reference import torch_counts  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def build(text: str) -> groupcost.Network:
    return groupcost.language.build(groupcost.parse_text(text, "views.yaml"))


def exported(network: groupcost.Network) -> nn.Module:
    return load_module(pytorch_source(network))["build"]().eval()


def agree(network: groupcost.Network, reference: nn.Module) -> None:
    """params, MACs, output shapes and state_dict (keys and shapes) of the spec equal the reference module's,
    and the exported module, given the reference's weights, computes what the reference computes."""
    reference.eval()
    params, macs, shape = torch_counts(reference, network.input_shape)
    report = groupcost.analyze(network)
    outputs = network.output_shapes if len(network.outputs) > 1 else network.output_shape
    assert (report.totals.params, report.totals.macs, outputs) == (params, macs, shape)
    model = exported(network)
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
    learnable = {k: v for k, v in expected.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert {k: v for step in network.nodes if hasattr(step, "parameter_shapes") for k, v in step.parameter_shapes().items()} == learnable
    for p in reference.parameters():
        torch.nn.init.normal_(p)
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, *network.input_shape)
    with torch.no_grad():
        ours, theirs = model(x), reference(x)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
        torch.testing.assert_close(a, b)


def numpy_agrees(network: groupcost.Network) -> None:
    """The NumPy executor's output equals the exported module's for the same weights; verify passes."""
    assert groupcost.verify(network, batch=2).ok
    weights = init_weights(network, 0, "float32")
    model = exported(network)
    model.load_state_dict({f"{layer}.{k}": torch.from_numpy(v) for layer, tensors in weights.items() for k, v in tensors.items()}, strict=False)
    x = np.random.default_rng(0).standard_normal((2, *network.input_shape)).astype(np.float32)
    y, _ = forward(network, x, weights)
    with torch.no_grad():
        out = model(torch.from_numpy(x))
    np.testing.assert_allclose((out[0] if isinstance(out, tuple) else out).numpy(), y, rtol=1e-4, atol=1e-5)


# ---- each view against torch's own indexing and methods ------------------------------------------


@st.composite
def shapes(draw) -> tuple[int, ...]:
    return tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 4))))


@SETTINGS
@given(st.data())
def test_slice_is_torch_indexing(data):
    x = data.draw(shapes())
    dim = data.draw(st.integers(-len(x), len(x)).filter(lambda d: d not in (0, -len(x) - 1)))
    size = x[dim - 1] if dim > 0 else x[dim]
    start = data.draw(st.integers(-size - 2, size + 2))
    stop = data.draw(st.none() | st.integers(-size - 2, size + 2))
    t = torch.randn(2, *x)
    index = (slice(None),) * (dim % (len(x) + 1)) + (slice(start, stop),)
    expected = t[index]
    text = f"input: {list(x)}\nlayers: [slice: {{start: {start}, stop: {'null' if stop is None else stop}, dim: {dim}}}, relu]"
    if expected.numel() == 0:
        with pytest.raises(groupcost.SpecError, match="is empty"):
            build(text)
        return
    network = build(text)
    assert network.nodes[0].out_shape == tuple(expected.shape[1:])
    y = network.nodes[0].layer.forward(t.numpy(), {}, None)
    np.testing.assert_array_equal(y, expected.numpy())


@SETTINGS
@given(st.data())
def test_reshape_transpose_permute_flatten_are_torchs(data):
    x = data.draw(shapes())
    t = torch.randn(2, *x)
    rank = len(x) + 1
    perm = [0, *data.draw(st.permutations(range(1, rank)))]
    a, b = data.draw(st.integers(1, rank - 1)), data.draw(st.integers(-(rank - 1), rank - 1).filter(lambda d: d != 0))
    start = data.draw(st.integers(1, rank - 1))
    end = data.draw(st.integers(start, rank - 1))
    flat = t.flatten(start, end)
    target = list(flat.shape[1:])
    target[data.draw(st.integers(0, len(target) - 1))] = -1
    cases = [
        (f"permute: {{dims: {perm}}}", t.permute(*perm)),
        (f"transpose: {{dims: [{a}, {b}]}}", t.transpose(a, b)),
        (f"flatten: {{start: {start}, end: {end}}}", flat),
        (f"reshape: {{shape: {target}}}", t.reshape(2, *target)),
    ]
    for entry, expected in cases:
        network = build(f"input: {list(x)}\nlayers: [{entry}]")
        assert network.nodes[0].out_shape == tuple(expected.shape[1:]), entry
        np.testing.assert_array_equal(network.nodes[0].layer.forward(t.numpy(), {}, None), expected.numpy(), err_msg=entry)


def test_chunk_cuts_as_torch_chunk():
    for c, n in [(16, 3), (7, 2), (8, 4), (5, 5)]:
        parts = torch.randn(1, c, 3).chunk(n, 1)
        assert len(parts) == n
        network = build(f"input: [{c}, 3]\nlayers: [chunk: {{name: y, n: {n}}}, concat: {{from: [{', '.join(f'y.{k}' for k in range(n))}]}}]")
        assert [s.out_shape for s in network.nodes if s.type_name == "slice"] == [tuple(p.shape[1:]) for p in parts]
        assert [s.name for s in network.nodes[:n]] == [f"y.{k}" for k in range(n)]


@pytest.mark.parametrize("text, message", [
    ("input: [8, 4, 4]\nlayers: [reshape: {shape: [3, -1]}]", r"8×4×4 has 128 elements, not a multiple of 3"),
    ("input: [8, 4, 4]\nlayers: [reshape: {shape: [8, 4, 5]}]", r"holds 160 elements, but the input 8×4×4 has 128"),
    ("input: [8, 4, 4]\nlayers: [reshape: {shape: [-1, -1]}]", r"more than one -1"),
    ("input: [8, 4, 4]\nlayers: [reshape: {shape: [2, 4, 4, 2, 2]}, conv: {out: 4, k: 1}]", r"conv needs a C×L, C×H×W or C×T×H×W input, got 2×4×4×2×2"),
    ("input: [8, 4, 4]\nlayers: [reshape: {shape: [2, 4, 4, 2, 2]}, maxpool: {k: 2}]", r"maxpool needs a C×L, C×H×W or C×T×H×W input"),
    ("input: [8, 4, 4]\nlayers: [reshape: {shape: [2, 4, 4, 2, 2]}, bn]", r"bn needs a C×L, C×H×W or C×T×H×W input"),  # torch has BatchNorm1d to 3d
    ("input: [8, 4, 4]\nlayers: [reshape: {shape: [2, 4, 4, 2, 2]}, lrn]", r"lrn needs a C×H×W input"),
    ("input: [8, 4, 4]\nlayers: [slice: {start: 8}]", r"slice \[8:\] of dim 1 \(size 8\) is empty"),
    ("input: [8, 4, 4]\nlayers: [slice: {stop: 2, dim: 0}]", r"dim 0 is the batch"),
    ("input: [8, 4, 4]\nlayers: [slice: {stop: 2, dim: 4}]", r"dim 4 is outside a tensor of 4 dims"),
    ("input: [8, 4, 4]\nlayers: [permute: {dims: [0, 2, 1]}]", r"name 3 dims, but the input N×8×4×4 has 4"),
    ("input: [8, 4, 4]\nlayers: [permute: {dims: [1, 0, 2, 3]}]", r"move the batch"),
    ("input: [8, 4, 4]\nlayers: [permute: {dims: [0, 1, 1, 2]}]", r"not a permutation"),
    ("input: [8, 4, 4]\nlayers: [transpose: {dims: [1, 2, 3]}]", r"name two dims"),
    ("input: [8, 4, 4]\nlayers: [flatten: {start: 3, end: 2}]", r"start 3 comes after end 2"),
    ("input: [6, 4, 4]\nlayers: [chunk: {name: y, n: 4}, concat: {from: [y.0, y.1, y.2, y.3]}]", r"cuts dim 1 \(size 6\) into 3 parts, not 4"),
])
def test_views_refuse_with_located_messages(text, message):
    with pytest.raises(groupcost.SpecError, match=message) as info:
        build(text)
    assert info.value.location is not None


def test_a_bad_view_is_a_located_error_on_the_command_line(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "bad.yaml"
    path.write_text("input: [8, 4, 4]\nlayers:\n  - reshape: {shape: [3, 5]}\n")
    result = subprocess.run([sys.executable, "-m", "groupcost", "analyze", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{path}:3:") and "error: 0 (reshape): reshape shape [3, 5] holds 15 elements" in result.stderr


# ---- models that need views, against torch modules written from the papers ------------------------


def conv_bn_act(c_in: int, c_out: int, k: int, groups: int = 1, act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, k, 1, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, *([act()] if act else []))


class Ghost(nn.Module):
    """GhostNet (arXiv 1911.11907), the Ghost module, ratio 2: a primary conv makes ⌈out/2⌉ maps, a cheap
    depthwise conv one more of each, and the concatenation is cut to `out` ([:, :out]) — 37 here, odd."""

    def __init__(self, c_in: int, out: int):
        super().__init__()
        self.out = out
        init = -(-out // 2)
        self.primary_conv = conv_bn_act(c_in, init, 1)
        self.cheap_operation = conv_bn_act(init, init, 3, groups=init)

    def forward(self, x):
        x1 = self.primary_conv(x)
        return torch.cat([x1, self.cheap_operation(x1)], 1)[:, :self.out]


GHOST = """
input: [16, 20, 20]
vars: {oup: 37}
layers:
  - seq: {name: primary_conv, layers: [conv: {out: "ceil(oup / 2)", k: 1, bias: false}, bn, relu]}
  - seq: {name: cheap_operation, layers: [dwconv: {k: 3, p: 1, bias: false}, bn, relu]}
  - concat: {name: both, from: [primary_conv, cheap_operation]}
  - slice: {name: out, stop: oup}
"""


def test_ghost_module_of_odd_width_matches_torch():
    network = build(GHOST)
    assert network.output_shape == (37, 20, 20)
    agree(network, Ghost(16, 37))
    numpy_agrees(network)


class Bottleneck(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.cv1 = ConvBnSiLU(c, c, 3)
        self.cv2 = ConvBnSiLU(c, c, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class ConvBnSiLU(nn.Module):
    """YOLOv8's Conv: conv (no bias), BN, SiLU."""

    def __init__(self, c_in: int, c_out: int, k: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, 1, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class C2f(nn.Module):
    """YOLOv8's C2f as its description goes: cv1 to 2c channels, split in two halves (both kept), n
    bottlenecks each reading the last tensor, every tensor concatenated, cv2 to the output width."""

    def __init__(self, c_in: int, c_out: int, n: int, c: int):
        super().__init__()
        self.cv1 = ConvBnSiLU(c_in, 2 * c, 1)
        self.m = nn.ModuleList(Bottleneck(c) for _ in range(n))
        self.cv2 = ConvBnSiLU((2 + n) * c, c_out, 1)

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


C2F = """
input: [32, 16, 16]
vars: {c: 16}
blocks:
  cbs:
    args: {out: null, k: 1}
    layers: [conv: {name: conv, out: out, k: k, p: "k // 2", bias: false}, bn: {name: bn}, silu: {name: act}]
  bottleneck:
    layers:
      - residual: {body: [cbs: {name: cv1, out: c_in, k: 3}, cbs: {name: cv2, out: c_in, k: 3}]}
layers:
  - cbs: {name: cv1, out: 2 * c}
  - chunk: {name: y, n: 2}
  - seq: {name: m, layers: [bottleneck, bottleneck]}
  - concat: {name: cat, from: [y.0, y.1, m.0, m.1]}
  - cbs: {name: cv2, out: 48}
"""


def test_c2f_keeps_both_halves_and_matches_torch():
    network = build(C2F)
    assert [s.name for s in network.nodes if s.type_name == "slice"] == ["y.0", "y.1"]
    agree(network, C2f(32, 48, 2, 16))
    numpy_agrees(network)


class PartialResidual(nn.Module):
    """ReXNet (arXiv 2007.00992): a bottleneck widening 16 to 27 channels whose first 16 take the input back
    (`out[:, 0:16] += x`), the rest passing as they are."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(conv_bn_act(16, 96, 1, act=nn.SiLU), conv_bn_act(96, 96, 3, groups=96, act=nn.ReLU6), conv_bn_act(96, 27, 1, act=None))

    def forward(self, x):
        out = self.conv(x)
        return torch.cat([out[:, :16] + x, out[:, 16:]], 1)


REXNET = """
input: [16, 14, 14]
layers:
  - seq:
      name: conv
      layers:
        - seq: {layers: [conv: {out: 96, k: 1, bias: false}, bn, silu]}
        - seq: {layers: [dwconv: {k: 3, p: 1, bias: false}, bn, relu6]}
        - seq: {layers: [conv: {out: 27, k: 1, bias: false}, bn]}
  - slice: {name: head, stop: 16}
  - add: {name: sum, from: [head, input]}
  - slice: {name: rest, from: conv, start: 16}
  - concat: {name: out, from: [sum, rest]}
"""


def test_rexnet_partial_channel_residual_matches_torch():
    network = build(REXNET)
    assert network.output_shape == (27, 14, 14)
    agree(network, PartialResidual())
    numpy_agrees(network)


class DFL(nn.Module):
    """A YOLO head's distribution focal loss decoding: 64×A anchors viewed as 4 sides × 16 bins, the bins
    moved to the channels, softmax over them, a fixed 1×1 conv 16 → 1 (the bins' expectation)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 1, 1, bias=False)

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, 16, a).transpose(2, 1).softmax(1)).view(b, 4, a)


DFL_SPEC = """
input: [64, 8400]
layers:
  - reshape: {shape: [4, 16, 8400]}
  - transpose: {dims: [2, 1]}
  - softmax
  - conv: {name: conv, out: 1, k: 1, bias: false}
  - reshape: {shape: [4, -1]}
"""


def test_dfl_runs_its_conv_on_a_16_by_4_by_8400_view():
    network = build(DFL_SPEC)
    conv = next(s for s in network.nodes if s.name == "conv")
    assert conv.in_shape == (16, 4, 8400)
    row = next(r for r in groupcost.analyze(network).rows if r.name == "conv")
    assert (row.params, row.macs) == (16, 537_600)  # issue 19: the DFL conv the YOLO specs could not reach
    agree(network, DFL())
    numpy_agrees(network)


def test_views_in_the_raised_pytorch_form():
    """A chain of views needs no graph form: the raised file builds, with torch's shapes."""
    from groupcost.formats.torch.export import export_pytorch

    text = ("input: [64, 20, 20]\nlayers: [conv: {out: 64, k: 1}, slice: {stop: 37}, slice: {start: 2, dim: -1}, flatten: {start: 2},"
            " reshape: {shape: [37, 2, 2, -1]}, permute: {dims: [0, 1, 3, 2, 4]}, flatten: {start: 3}, transpose: {dims: [-1, 1]}, conv: {out: 4, k: 1}]")
    source, fallback = export_pytorch(groupcost.parse_text(text, "raised.yaml"))
    assert fallback is None
    model = load_module(source)["build"]().eval()
    network = build(text)
    assert torch_counts(model, network.input_shape)[1:] == (groupcost.analyze(network).totals.macs, network.output_shape)
