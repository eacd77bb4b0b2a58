"""Kernels computed before the conv reads them (tests/torch_weights.py): scaled weight standardisation
(NF-ResNets) and a fixed binomial blur (TResNet's anti-aliasing), each exported three ways and read by
`analyze`, `import` and `torch:` with PyTorch's own counts (sum(p.numel()), FlopCounterMode), output
shapes and module names; then groupcost's own exports of the spec, read back."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.language import build, parse_text  # noqa: E402
from groupcost.language.raising import raise_spec  # noqa: E402
from groupcost.sources import read_graph  # noqa: E402
from pattern_check import EXPORTERS, assert_reads_as_pytorch, check_export, check_factory, export  # noqa: E402
from torch_reference import torch_counts_with_matmul  # noqa: E402
from torch_weights import FIXED, PATTERNS, StandardisedConv, fixed, pattern, uninitialised_scores  # noqa: E402


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_computed_kernels_read_exactly_every_way(kind, how, tmp_path):
    # torch.export folds some standardised kernels with their gain
    spec = raise_spec(check_export(pattern(kind), PATTERNS[kind][1], how, tmp_path, key=("torch_weights.pattern", kind)))
    assert ("ws: scaled" in spec and "ws: std" in spec) if kind == "scaled_standardisation" else "filter: binomial" in spec, spec


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_computed_kernels_read_from_their_torch_factory(kind):
    check_factory("torch:torch_weights:pattern", {"kind": kind}, pattern(kind), PATTERNS[kind][1])


def test_the_counts_are_the_papers():
    """Scaled WS adds one gain per output channel to the conv's weight and bias; the blur adds no parameter."""
    conv = StandardisedConv(3, 8, 3)
    assert sum(p.numel() for p in conv.parameters()) == 8 * 27 + 8 + 8
    params, macs, _, shape = torch_counts_with_matmul(pattern("binomial_blur"), (3, 8, 8))
    assert shape == (8, 4, 4)
    assert params == (4 * 27 + 4) + (8 * 4 + 8)
    assert macs == 4 * 27 * 64 + 4 * 9 * 16 + 8 * 4 * 16  # conv, blur (depthwise 3×3 at stride 2), conv2


@pytest.mark.parametrize("how", [*EXPORTERS, "torch"])
@pytest.mark.parametrize("kind", sorted(FIXED))
def test_a_fixed_filter_that_is_not_binomial_is_refused_by_name(kind, how, tmp_path):
    """PyTorch counts no parameter for a buffer (a module's, the model's own `k`) or a kernel built in the forward;
    groupcost's conv would count their values: refused, not guessed, in every file (torch.export's optimiser writes a
    kernel built in the forward as an initializer of its own, `unsqueeze`; its graph signature says it holds no
    parameter) and from the `torch:` source, which knows the module's buffers."""
    model, input_shape = fixed(kind), FIXED[kind][1]
    assert sum(p.numel() for p in model.parameters()) == {"sobel_edges": 4 * 27 + 4, "sobel_in_forward": 4 * 18 + 4, "own_blur": 4 * 9 + 4}[kind]
    with pytest.raises(GroupcostError, match="no binomial filter"):
        if how == "torch":
            read_graph(f"torch:torch_weights:fixed?kind={kind}", input_shape, {})
        else:
            read_network(export(model, input_shape, tmp_path, how))


@pytest.mark.parametrize("how", EXPORTERS)
def test_an_uninitialised_tensor_times_zero_is_no_parameter(how, tmp_path):
    """torch.empty's L × L values, times β = 0 and added to the scores: with a symbolic batch every exporter writes a fill
    (exact); torch.export with a fixed batch writes them as an initializer named after the op (`empty`), which was
    counted as 65,536 parameters with exit 0. A tensor the exporter made is refused by name there, never counted."""
    model, input_shape = uninitialised_scores(), (3, 16, 16)
    check_export(model, input_shape, how, tmp_path)
    fixed_batch = export(model, input_shape, tmp_path / "fixed", how, dynamic_batch=False)
    try:
        network = read_network(fixed_batch)
    except GroupcostError as refusal:
        assert "values the exporter computed ('empty')" in str(refusal), how
    else:
        assert_reads_as_pytorch(network, model, input_shape, how, f"{how}, a fixed batch")


@pytest.mark.parametrize("how", ["onnx", "torch"])
def test_the_spec_exports_what_pytorch_computes(how, tmp_path, cli, monkeypatch):
    """The raised spec written back (ONNX and PyTorch) computes the same standardisation and blur: its
    export runs, and reads back with the same counts and PyTorch's module names."""
    for kind in sorted(PATTERNS):
        model = pattern(kind)
        input_shape = PATTERNS[kind][1]
        spec = tmp_path / f"{kind}.yaml"
        spec.write_text(raise_spec(read_network(export(model, input_shape, tmp_path, "unfolded", key=("torch_weights.pattern", kind)))))
        out = tmp_path / f"{kind}.{'onnx' if how == 'onnx' else 'py'}"
        result = cli("export", spec, "--to", "onnx" if how == "onnx" else "pytorch", "-o", out)
        assert result.exit_code == 0, result.output
        if how == "onnx":
            assert_reads_as_pytorch(read_network(out), model, input_shape, "onnx export", f"{kind} onnx export")
            continue
        monkeypatch.syspath_prepend(str(tmp_path))  # the written file's own module (its Group containers read without their names)
        report = analyze(read_graph(f"torch:{kind}:build", input_shape, {}))
        params, macs, _, shape = torch_counts_with_matmul(model, input_shape)
        assert (report.totals.params, report.totals.macs, report.outputs[0][1]) == (params, macs, shape), kind


class _CalledTwice(torch.nn.Module):
    """One standardised conv called twice: each call computes its kernel again from the same weight and gain."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 1)
        self.conv = StandardisedConv(8, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.relu(self.conv(self.stem(x))))


@pytest.mark.parametrize("how", EXPORTERS)
def test_a_standardised_conv_called_twice_counts_its_parameters_once(how, tmp_path):
    torch.manual_seed(0)
    model = _CalledTwice().eval()
    params, macs, _, _ = torch_counts_with_matmul(model, (3, 8, 8))
    assert params == (8 * 3 + 8) + (8 * 72 + 8 + 8)
    totals = analyze(read_network(export(model, (3, 8, 8), tmp_path, how))).totals
    assert (totals.params, totals.macs) == (params, macs)


@pytest.mark.parametrize("how", EXPORTERS)
def test_an_untrained_gain_counts_its_parameters(how, tmp_path):
    """A gain of ones times the fixed 1/sqrt(fan-in) (an untrained NF-Net's): where an exporter computed the product
    (folded, or torch.export's kernel), it is one value other than 1 for every channel, which Scaled WS has only
    with its gain: the gain's 8 parameters count, as PyTorch counts them (it was refused by name). Unfolded, the
    gain is read by its name."""
    model = pattern("scaled_standardisation")
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, StandardisedConv) and module.gain is not None:
                module.gain.fill_(1.0)
    path = export(model, PATTERNS["scaled_standardisation"][1], tmp_path, how)
    params, macs, _, _ = torch_counts_with_matmul(model, PATTERNS["scaled_standardisation"][1])
    totals = analyze(read_network(path)).totals
    assert (totals.params, totals.macs) == (params, macs)


@pytest.mark.parametrize("kind", sorted(PATTERNS))
def test_the_raised_spec_computes_what_pytorch_computes(kind, tmp_path):
    """The reference's state_dict (the blur's buffer aside: groupcost's export holds its own) loads into groupcost's
    PyTorch export of the raised spec, into its ONNX export's initializers (run by onnxruntime), and into
    groupcost's NumPy kernels: all three give the reference's output."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import numpy_helper

    from groupcost.formats.onnx import export as onnx_export
    from groupcost.formats.torch import export as pytorch_export
    from groupcost.run.execute import forward, init_weights

    model = pattern(kind)
    input_shape = PATTERNS[kind][1]
    doc = parse_text(raise_spec(read_network(export(model, input_shape, tmp_path, "unfolded", key=("torch_weights.pattern", kind)))), "<raised>")
    state = {k: v for k, v in model.state_dict().items() if not k.endswith(".filt")}
    x = torch.randn((2, *input_shape), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(x)

    source, _ = pytorch_export.export_pytorch(doc)
    written = pytorch_export.load_module(source)["build"]().eval()
    missing, unexpected = written.load_state_dict(state, strict=False)
    assert not unexpected and all(key.endswith(".filter") for key in missing)  # the blur's own buffer
    with torch.no_grad():
        torch.testing.assert_close(written(x), want, rtol=1e-4, atol=1e-5)

    proto = onnx_export.onnx_model(build(doc, {}), weights="zeros")
    for k, initializer in enumerate(proto.graph.initializer):
        if initializer.name in state:
            proto.graph.initializer[k].CopyFrom(numpy_helper.from_array(state[initializer.name].numpy(), initializer.name))
    assert set(state) <= {i.name for i in proto.graph.initializer}
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-5)

    network = build(doc, {})
    weights = init_weights(network, 0, "float32")
    for key, value in state.items():
        step, name = key.rsplit(".", 1)
        assert weights[step][name].shape == tuple(value.shape), key
        weights[step][name] = value.numpy()
    got, _ = forward(network, x.numpy(), weights)
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-5)
