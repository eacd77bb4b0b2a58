"""`share:`: one module called again. Params and state_dict once, MACs per call, checked against torch
modules written here (a RetinaNet-style head over five FPN levels, SPPF's one max pool applied three
times), the NumPy executor, ONNX (one set of initializers, onnxruntime's outputs) and the checker."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from torch import nn  # noqa: E402

import groupcost  # noqa: E402
from groupcost.formats.torch.export import load_module, pytorch_source  # noqa: E402
from groupcost.graph.check import GraphError, check  # noqa: E402
from groupcost.graph.network import LayerStep  # noqa: E402
from groupcost.run.execute import forward, init_weights  # noqa: E402
from torch_reference import network_module, torch_counts  # noqa: E402


def build(text: str) -> groupcost.Network:
    return groupcost.language.build(groupcost.parse_text(text, "shared.yaml"))


class Head(nn.Module):
    """RetinaNet's classification head (arXiv 1708.02002, Fig. 3): four 3×3 conv + ReLU layers and a 3×3
    conv to A·K maps, one set of weights applied to every pyramid level."""

    def __init__(self, c: int, anchors: int, classes: int):
        super().__init__()
        self.conv = nn.Sequential(*(nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU()) for _ in range(4)))
        self.cls_logits = nn.Conv2d(c, anchors * classes, 3, padding=1)

    def forward(self, x):
        return self.cls_logits(self.conv(x))


class Levels(nn.Module):
    """Five levels P3–P7 (here: the input, halved four times by max pooling) and the one head on each."""

    def __init__(self):
        super().__init__()
        self.head = Head(32, 9, 4)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        levels = [x]
        for _ in range(4):
            levels.append(self.pool(levels[-1]))
        return tuple(self.head(level) for level in levels)


RETINA = """
input: [32, 32, 32]
blocks:
  tower:
    layers:
      - seq: {name: conv, layers: [repeat: {n: 4, layers: [conv: {out: 32, k: 3, p: 1}, relu]}]}
      - conv: {name: cls_logits, out: 9 * 4, k: 3, p: 1}
layers:
  - tower: {name: head, from: input}
  - maxpool: {name: pool, k: 2, from: input}
  - tower: {name: head_p4, share: head}
  - maxpool: {name: pool_p5, k: 2, from: pool, share: pool}
  - tower: {name: head_p5, share: head}
  - maxpool: {name: pool_p6, k: 2, from: pool_p5, share: pool}
  - tower: {name: head_p6, share: head}
  - maxpool: {name: pool_p7, k: 2, from: pool_p6, share: pool}
  - tower: {name: head_p7, share: head}
outputs: [head, head_p4, head_p5, head_p6, head_p7]
"""


def test_repeat_naming_is_torchvisions():
    """The head's layers read `head.conv.0.0` as nn.Sequential of nn.Sequential names them."""
    assert [s.name for s in build(RETINA).nodes[:3]] == ["head.conv.0.0", "head.conv.0.1", "head.conv.1.0"]


def test_retinanet_head_shared_over_five_levels_matches_torch():
    network = build(RETINA)
    reference = Levels().eval()
    params, macs, shapes = torch_counts(reference, network.input_shape)
    report = groupcost.analyze(network)
    assert (report.totals.params, report.totals.macs, network.output_shapes) == (params, macs, shapes)
    one_level = sum(r.macs for r in report.rows if r.name.startswith("head."))
    assert report.totals.macs == sum(one_level * 4 ** -k for k in range(5))  # MACs at every call: each level a quarter of the one before
    assert sum(r.params for r in report.rows if r.shares is None) == params and all(r.params == 0 for r in report.rows if r.shares)
    model = load_module(pytorch_source(network))["build"]().eval()
    keys = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == keys
    assert {k: v for s in network.nodes if isinstance(s, LayerStep) for k, v in s.parameter_shapes().items()} == keys
    for p in reference.parameters():
        nn.init.normal_(p, std=0.1)
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, *network.input_shape)
    with torch.no_grad():
        for ours, theirs in zip(model(x), reference(x)):
            torch.testing.assert_close(ours, theirs)


def test_sppf_calls_one_max_pool_three_times():
    network = build("""
input: [16, 20, 20]
layers:
  - conv: {name: cv1, out: 8, k: 1}
  - maxpool: {name: m, k: 5, s: 1, p: 2}
  - maxpool: {name: m2, k: 5, s: 1, p: 2, share: m}
  - maxpool: {name: m3, k: 5, s: 1, p: 2, share: m}
  - concat: {from: [cv1, m, m2, m3]}
  - conv: {name: cv2, out: 16, k: 1}
""")
    source = pytorch_source(network)
    assert source.count("nn.MaxPool2d(") == 1 and source.count("self.m(") == 3
    model = load_module(source)["build"]().eval()
    assert [name for name, _ in model.named_modules() if name] == ["cv1", "m", "cv2"]


def test_the_numpy_executor_and_torch_use_the_same_weights():
    network = build(RETINA)
    result = groupcost.verify(network, batch=2)
    assert result.ok, result.first_mismatch
    weights = init_weights(network, 0, "float32")
    assert set(weights) == {s.name for s in network.nodes if isinstance(s, LayerStep) and s.shares is None}
    model = load_module(pytorch_source(network))["build"]().eval()
    model.load_state_dict({f"{layer}.{k}": torch.from_numpy(v) for layer, tensors in weights.items() for k, v in tensors.items()})
    x = np.random.default_rng(0).standard_normal((2, *network.input_shape)).astype(np.float32)
    _, steps = forward(network, x, weights, keep_outputs=True)
    with torch.no_grad():
        outputs = model(torch.from_numpy(x))
    for name, out in zip(network.outputs, outputs):
        np.testing.assert_allclose(out.numpy(), steps[name], rtol=1e-4, atol=1e-5)


def test_the_torch_reference_module_shares_too():
    network = build(RETINA)
    params, macs, _ = torch_counts(network_module(network), network.input_shape)
    assert (params, macs) == (groupcost.analyze(network).totals.params, groupcost.analyze(network).totals.macs)


def test_onnx_writes_one_set_of_initializers_and_runs_as_numpy():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from groupcost.formats.onnx.export import onnx_model

    network = build(RETINA)
    model = onnx_model(network, "random")
    names = [t.name for t in model.graph.initializer if t.name.endswith(("weight", "bias"))]
    assert sorted(names) == sorted(Levels().state_dict())
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    from onnx import numpy_helper

    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    weights = {s.name: {k.rsplit(".", 1)[1]: stored[k] for k in s.parameter_shapes()} for s in network.nodes if isinstance(s, LayerStep) and s.shares is None}
    x = np.random.default_rng(1).standard_normal((2, *network.input_shape)).astype(np.float32)
    _, steps = forward(network, x, weights, keep_outputs=True)
    for name, out in zip(network.outputs, session.run(list(network.outputs), {"input": x})):
        np.testing.assert_allclose(out, steps[name], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("entry, message", [
    ("conv: {name: b, out: 8, k: 3, p: 1, share: a}", r"'b' cannot share the module of 'a': 'a' is conv\(.*k=1.*\) and this one conv\(.*k=3"),
    ("pwconv: {name: b, out: 8, share: a}", r"'a' is conv\(.*\) and this one pwconv"),
    ("conv: {name: b, out: 8, k: 1, share: a, from: input}", r"its parameters are for a 8×6×6 input and this one reads 4×6×6"),
    ("conv: {name: b, out: 8, k: 1, share: nowhere}", r"share: 'nowhere' is no earlier layer or block"),
    ("seq: {name: b, layers: [conv: {out: 8, k: 1}, relu], share: a}", r"share: 'a' has 1 layer and this entry makes 2"),
    ("add: {name: b, from: [a, a], share: a}", r"share: is for layers and blocks, not add"),
])
def test_a_share_that_does_not_fit_is_a_located_error(entry, message):
    text = f"input: [4, 6, 6]\nlayers:\n  - conv: {{name: first, out: 8, k: 1}}\n  - conv: {{name: a, out: 8, k: 1}}\n  - {entry}\n"
    with pytest.raises(groupcost.SpecError, match=message) as info:
        build(text)
    assert info.value.location is not None and info.value.location.line == 5


def test_a_module_built_for_the_input_shape_is_not_shared_across_shapes():
    """A reshape is built for its input's shape: shared on another shape, torch would compute something else."""
    with pytest.raises(groupcost.SpecError, match="its PyTorch module is built for a 8×4 input"):
        build("input: [8, 4]\nlayers: [reshape: {name: a, shape: [4, -1]}, maxpool: {name: p, k: 2, from: input}, "
              "reshape: {name: c, shape: [4, -1], from: p, share: a}]\noutputs: [a, c]")


def test_the_checker_refuses_a_share_that_does_not_fit():
    network = build(RETINA)
    check(network)
    index = next(i for i, s in enumerate(network.nodes) if isinstance(s, LayerStep) and s.shares == "head.cls_logits")
    for shares, message in (("nowhere", "not an earlier layer"), ("head.conv.0.0", "has 32 output channels|is conv")):
        nodes = list(network.nodes)
        nodes[index] = dataclasses.replace(nodes[index], shares=shares)
        with pytest.raises(GraphError, match=f"shares the module of '{shares}', but .*({message})"):
            check(dataclasses.replace(network, nodes=tuple(nodes)))


def test_whatif_on_a_shared_conv_keeps_the_sharing_only_where_both_change():
    from groupcost.questions.compare import replacement
    from groupcost.graph.network import replace_steps

    network = build(RETINA)
    every = replace_steps(network, lambda s: replacement(s, 2) if s.type_name == "conv" else (s,))
    owners = [s for s in every.nodes if isinstance(s, LayerStep) and s.shares is not None and s.type_name == "conv"]
    assert len(owners) == 4 * 5 and groupcost.verify(every).ok
    only_first = replace_steps(network, lambda s: replacement(s, 2) if s.name == "head.cls_logits" else (s,))
    alone = [s for s in only_first.nodes if s.name.endswith("cls_logits")]
    assert [s.shares for s in alone] == [None] * 5 and groupcost.verify(only_first).ok
    grouped = 36 * 16 * 9 + 36  # G = 2: the first level's cls_logits, no longer the module the others call
    assert groupcost.analyze(only_first).totals.params == groupcost.analyze(network).totals.params - (36 * 32 * 9 + 36) + grouped + 4 * (36 * 32 * 9 + 36)


def test_by_type_and_json_count_shared_params_once():
    network = build(RETINA)
    report = groupcost.analyze(network)
    conv = [t for t in report.by_type().rows if t.type == "conv"]
    assert sum(t.params for t in conv) == report.totals.params
    from groupcost.render.documents import row_dict

    row = next(r for r in report.rows if r.name == "head_p7.cls_logits")
    assert row_dict(row, 4)["shares"] == "head.cls_logits" and row_dict(row, 4)["params"] == 0
    assert "shares" not in row_dict(report.rows[0], 4)


def test_a_layer_sized_to_another_tensor_shares_only_with_the_same_target():
    text = ("input: [4, 6, 6]\nlayers: [maxpool: {name: p, k: 2}, upsample: {name: u1, to: input}, conv: {name: c, out: 4, k: 1, from: input},"
            " maxpool: {name: q, k: 3, from: input}, upsample: {name: u2, to: TARGET, share: u1}]\noutputs: [u1, u2, c]")
    assert build(text.replace("TARGET", "input")).nodes[-1].shares == "u1"
    with pytest.raises(groupcost.SpecError, match=r"'u2' cannot share the module of 'u1': the two take their sizes from different tensors"):
        build(text.replace("TARGET", "c"))
