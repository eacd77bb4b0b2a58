"""`attention`, `matmul` and `softmax` against PyTorch: shapes, params, state_dict keys, MACs (conv +
linear) and matmul MACs (products of two activations) counted by PyTorch, NumPy kernels, `verify`,
the exports, and the errors."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402
from torch.overrides import TorchFunctionMode  # noqa: E402

import groupcost  # noqa: E402
from groupcost.formats.torch import export as pytorch_export  # noqa: E402
from groupcost.run.execute import verify  # noqa: E402

from layer_checks import build, check_against_torch, spec  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


# ---- a reference written from the paper (Vaswani et al. 2017, §3.2), counted by hooks -------------


class PaperAttention(nn.Module):
    """Scaled dot-product attention with h heads over tokens N×L×C: Q, K, V = linear maps of the tokens,
    softmax(Q·Kᵀ/√d)·V per head (d = C/h), the heads concatenated, an output linear map."""

    def __init__(self, channels: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(channels, channels, bias) for _ in range(4))

    def forward(self, tokens):
        n, length, c = tokens.shape
        d = c // self.heads

        def split(t):
            return t.reshape(n, length, self.heads, d).transpose(1, 2)

        q, k, v = split(self.q(tokens)), split(self.k(tokens)), split(self.v(tokens))
        a = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d), dim=-1)
        return self.out(torch.matmul(a, v).transpose(1, 2).reshape(n, length, c))

    def load_multihead(self, mha: nn.MultiheadAttention) -> None:
        """nn.MultiheadAttention's packed in_proj_weight is [W_q; W_k; W_v]."""
        with torch.no_grad():
            for i, part in enumerate((self.q, self.k, self.v)):
                c = part.in_features
                part.weight.copy_(mha.in_proj_weight[i * c : (i + 1) * c])
                if part.bias is not None:
                    part.bias.copy_(mha.in_proj_bias[i * c : (i + 1) * c])
            self.out.weight.copy_(mha.out_proj.weight)
            if self.out.bias is not None:
                self.out.bias.copy_(mha.out_proj.bias)


class MatmulShapes(TorchFunctionMode):
    """Multiply-accumulates of every torch.matmul, from its operands' shapes."""

    def __init__(self):
        super().__init__()
        self.macs = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.matmul:
            a, b = args[:2]
            self.macs += math.prod(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])) * a.shape[-2] * a.shape[-1] * b.shape[-1]
        return func(*args, **(kwargs or {}))


def linear_macs_by_hooks(model: nn.Module, run) -> int:
    """in·out per output position of every nn.Linear, counted by forward hooks."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        total += module.in_features * module.out_features * math.prod(output.shape[:-1])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Linear)]
    run()
    for handle in handles:
        handle.remove()
    return total


@pytest.mark.parametrize("shape, heads, bias", [((64, 16, 16), 4, True), ((32, 7), 8, False), ((24, 3, 4, 5), 3, True), ((8, 1, 1), 1, True)])
def test_attention_counts_what_the_paper_counts(shape, heads, bias):
    """Params and state_dict keys are nn.MultiheadAttention's; MACs are the hooked Linear MACs of the paper's
    form, matmul MACs its torch.matmul products; the paper's form computes what nn.MultiheadAttention does."""
    net = build(spec(shape, f"attention: {{name: attn, heads: {heads}, bias: {str(bias).lower()}}}"))
    step = net.nodes[0]
    row = groupcost.analyze(net).rows[0]
    mha = nn.MultiheadAttention(shape[0], heads, bias=bias, batch_first=True)
    assert step.parameter_shapes() == {f"attn.{k}": tuple(v.shape) for k, v in mha.state_dict().items()}
    assert row.params == sum(p.numel() for p in mha.parameters())
    paper = PaperAttention(shape[0], heads, bias)
    paper.load_multihead(mha)
    tokens = torch.randn(1, math.prod(shape[1:]), shape[0])
    with torch.no_grad(), MatmulShapes() as products:
        linear = linear_macs_by_hooks(paper, lambda: paper(tokens))
    assert (row.macs, row.matmul_macs) == (linear, products.macs)
    with torch.no_grad():
        torch.testing.assert_close(paper(tokens), mha(tokens, tokens, tokens, need_weights=False)[0], rtol=1e-4, atol=1e-5)


def test_attention_figures_of_the_brief():
    """BRIEF.md: Q·Kᵀ over N tokens of dimension d costs N·N·d per head, and A·V the same."""
    row = groupcost.analyze(build(spec((64, 16, 16), "attention: {heads: 4}"))).rows[0]
    tokens, head = 16 * 16, 64 // 4
    assert row.matmul_macs == 4 * 2 * tokens * tokens * head == 8_388_608
    assert (row.params, row.macs, row.weights) == (16_640, 4_194_304, 16_384)


@st.composite
def attention_specs(draw) -> str:
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    c = heads * draw(st.integers(1, 4))
    spatial = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]
    bias = str(draw(st.booleans())).lower()
    return spec((c, *spatial), f"attention: {{name: attn, heads: {heads}, bias: {bias}}}")


@SETTINGS
@given(attention_specs(), st.integers(0, 100))
def test_attention_matches_pytorch(text, seed):
    """nn.MultiheadAttention on the tokens (FlopCounterMode: mm/addmm as MACs, bmm as matmul MACs), and verify passes."""
    check_against_torch(text, seed)
    assert verify(build(text), batch=2, seed=seed).ok


@st.composite
def matmul_specs(draw) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """a and b cut from one input: a by a 1×1 conv (channels ca), b by adaptive pooling to its own sizes and a 1×1
    conv (channels cb); 1-, 2- and 3-D, the leading sizes equal or 1 on either side, the inner sizes equal or not."""
    rank = draw(st.integers(1, 3))
    size = st.integers(1, 4)
    ca, cb = draw(st.sampled_from([(2, 2), (1, 3), (3, 1), (2, 3)]))
    x = (2, *(draw(size) for _ in range(rank)))
    a = (ca, *x[1:])
    inner = a[-1] if draw(st.booleans()) else draw(size)
    pooled = (*(draw(st.sampled_from([a[i], 1])) for i in range(1, rank - 1)), *((inner,) if rank > 1 else ()), draw(size))
    b = (cb, *pooled)
    text = spec(x, f"pwconv: {{name: a, out: {ca}}}", f"adaptive_avgpool: {{name: pooled, from: input, size: {list(pooled)}}}",
                f"pwconv: {{name: b, out: {cb}}}", "matmul: {name: prod, from: [a, b]}")
    return text, a, b


@SETTINGS
@given(matmul_specs(), st.integers(0, 100))
def test_matmul_is_torch_matmul(drawn, seed):
    """The shape is torch.matmul's on the batched tensors, and the spec is refused exactly where torch refuses;
    the matmul MACs are torch's bmm count; the kernel computes what torch computes, and verify passes."""
    text, a, b = drawn
    try:
        expected = tuple(torch.matmul(torch.zeros(2, *a), torch.zeros(2, *b)).shape[1:])
    except RuntimeError:
        expected = None
    assert groupcost.ops.MERGE_TYPES["matmul"].out_shape((a, b)) == expected
    if expected is None:
        with pytest.raises(groupcost.SpecError, match="matmul needs two tensors"):
            build(text)
        return
    check_against_torch(text, seed)
    assert verify(build(text), batch=2, seed=seed).ok


@SETTINGS
@given(st.integers(1, 3), st.data(), st.integers(0, 100))
def test_softmax_over_any_dimension_matches_pytorch(rank, data, seed):
    """nn.Softmax(dim) on batched tensors, every dimension but the batch, counted from either end."""
    shape = (data.draw(st.integers(1, 4)), *(data.draw(st.integers(1, 4)) for _ in range(rank)))
    dim = data.draw(st.sampled_from([d for d in range(-rank - 1, rank + 1) if d % (rank + 1) != 0]))
    check_against_torch(spec(shape, f"softmax: {{name: sm, dim: {dim}}}"), seed)


@pytest.mark.parametrize("layer, message, hint", [
    ("softmax: {dim: 0}", "softmax over dim 0 normalises across the batch", "dim 0 is the batch"),
    ("softmax: {dim: 4}", "softmax dim 4 is out of range for an input of 4 dimensions", "dim is one of -4..3"),
    ("softmax: {dim: -5}", "softmax dim -5 is out of range", "1 is the channels"),
    ("attention: {heads: 3}", "attention heads=3 must divide the channels C=8", "heads is one of 1, 2, 4, 8"),
])
def test_errors_are_located_with_a_hint(tmp_path, capsys, layer, message, hint):
    path = tmp_path / "bad.yaml"
    path.write_text(spec((8, 4, 4), layer))
    code, err = run_cli(capsys, "analyze", path)
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(f"{path}:3:") and message in err and hint in err, err


def run_cli(capsys, *argv) -> tuple[int, str]:
    """The command line in this process: its exit code and stderr."""
    from groupcost.cli.app import run

    with pytest.raises(SystemExit) as exit_info:
        run([str(a) for a in argv])
    return exit_info.value.code, capsys.readouterr().err


def test_matmul_errors_say_which_dimensions_differ(tmp_path, capsys):
    cases = [
        ("matmul: {from: [a, b]}", "a's last dimension (4) must equal b's second-to-last (2): 8×4×4 @ 8×2×2; transpose b?"),
        ("matmul: {from: [a, a, a]}", "give from: exactly two tensors, a and b (got 3)"),
        ("matmul: {from: [a, flat]}", "reshape one of them to the other's rank"),
    ]
    for entry, hint in cases:
        path = tmp_path / "bad.yaml"
        path.write_text(spec((8, 4, 4), "pwconv: {name: a, out: 8}", "maxpool: {name: b, k: 2}", "flatten: {name: flat, from: a}", entry))
        code, err = run_cli(capsys, "analyze", path)
        assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
        assert err.startswith(f"{path}:6:") and "matmul needs two tensors" in err and hint in err, err


# ---- the exports: PyTorch's own module and state_dict, ONNX computing the same ---------------------


def test_graph_export_is_nn_multiheadattention_and_loads_its_state_dict_strictly():
    np = pytest.importorskip("numpy")
    net = build(spec((16, 3, 5), "attention: {name: attn, heads: 4}"))
    model = pytorch_export.load_module(pytorch_export.pytorch_source(net))["build"]().eval()
    assert isinstance(model.attn, nn.MultiheadAttention) and model.attn.batch_first
    mha = nn.MultiheadAttention(16, 4, batch_first=True)
    model.attn.load_state_dict(mha.state_dict(), strict=True)
    x = torch.randn(2, 16, 3, 5)
    tokens = x.flatten(2).transpose(1, 2)
    with torch.no_grad():
        expected = mha(tokens, tokens, tokens)[0].transpose(1, 2).reshape(x.shape)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)
    from groupcost.run.execute import forward

    weights = {"attn": {k: v.numpy() for k, v in mha.state_dict().items()}}
    ours, _ = forward(net, x.numpy(), weights)
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-4, atol=1e-5)


def test_raised_export_keeps_pytorchs_keys():
    text = spec((16, 4, 4), "conv: {name: stem, out: 32, k: 3, p: 1}", "attention: {name: attn, heads: 4, bias: false}")
    source, fallback = pytorch_export.export_pytorch(groupcost.parse_text(text, "raised.yaml"))
    assert fallback is None
    model = pytorch_export.load_module(source)["build"]()
    mha = nn.MultiheadAttention(32, 4, bias=False, batch_first=True)
    assert {k: v.shape for k, v in model.state_dict().items() if k.startswith("attn.")} == {f"attn.{k}": v.shape for k, v in mha.state_dict().items()}


def test_onnx_export_computes_what_pytorch_computes():
    np = pytest.importorskip("numpy")
    ort = pytest.importorskip("onnxruntime")
    from onnx import numpy_helper

    from groupcost.formats.onnx import export as onnx_export

    net = build(spec((12, 4, 4), "attention: {name: attn, heads: 3}", "softmax: {name: sm, dim: -2}", "matmul: {name: prod, from: [attn, sm]}"))
    model = onnx_export.onnx_model(net, "random", seed=1)
    mha = nn.MultiheadAttention(12, 3, batch_first=True)
    state = mha.state_dict()
    for tensor in model.graph.initializer:
        if tensor.name.startswith("attn."):
            tensor.CopyFrom(numpy_helper.from_array(state[tensor.name[len("attn."):]].numpy(), tensor.name))
    x = torch.randn(2, 12, 4, 4)
    tokens = x.flatten(2).transpose(1, 2)
    with torch.no_grad():
        attended = mha(tokens, tokens, tokens)[0].transpose(1, 2).reshape(x.shape)
        expected = torch.matmul(attended, torch.softmax(attended, dim=-2))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(["prod"], {"input": x.numpy()})
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-4, atol=1e-5)
