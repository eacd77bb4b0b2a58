"""Detection heads' decoding and space-to-depth as PyTorch's exporters write them, from torch modules
written here (tests/torch_heads.py).

Each head is exported three ways (TorchScript with and without constant folding, torch.export with a
symbolic batch) and read back: PyTorch's own parameter count, MACs (FlopCounterMode) and output
shape, and the decoding as the one `dist2bbox` step, whose NumPy kernel gives the torch module's boxes.
A decoding groupcost cannot read exactly is refused by name, never read as something else.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from groupcost.errors import GroupcostError  # noqa: E402
from groupcost.formats.onnx.reader import read_network  # noqa: E402
from groupcost.graph.analysis import analyze  # noqa: E402
from groupcost.run.execute import forward, init_weights  # noqa: E402
from pattern_check import EXPORTERS, Expected, check_export, check_factory, export, raised  # noqa: E402
from torch_heads import (AnchorBasedHead, AnchorFreeHead, ChannelAssignments, Focus, InPlaceKeypointHead, KeypointHead, PoseHead, Scale, SpaceToDepth, SpaceToDepthStem,  # noqa: E402
                        anchor_points, dense_head, distances_to_boxes)
from torch_named import export_onnx  # noqa: E402

INPUT = (3, 64, 64)


def exported(model, tmp_path, how: str):
    """`model` exported `how`, folded at the exporter's default opset, and read."""
    return read_network(export(model.eval(), INPUT, tmp_path, how, default_opset=True))


def _checked(model, how: str, folder, input_shape=INPUT, expected: Expected = Expected()):
    """`model` exported `how` (folded at the exporter's default opset) and read by analyze and import as PyTorch counts
    it (tests/pattern_check.py); the network read."""
    return check_export(model.eval(), input_shape, how, folder, expected, default_opset=True)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("xywh", [True, False])
def test_anchor_free_decoding_reads_as_dist2bbox(xywh, how, tmp_path):
    report = analyze(_checked(AnchorFreeHead(xywh=xywh), how, tmp_path))
    decoding = [row for row in report.rows if row.type == "dist2bbox"]
    assert len(decoding) == 1 and decoding[0].out_shape == (4, 16 * 16 + 8 * 8) and decoding[0].macs == 0


@pytest.mark.parametrize("how", EXPORTERS)
def test_anchors_built_at_run_time_at_a_large_input_read_as_dist2bbox(how, tmp_path):
    """At 3×256×256 the head has 64·64 + 32·32 = 5,120 cells: the anchor grid TorchScript builds at run time
    (Range, Expand to 64×64, ConstantOfShape of 4,096 strides) is evaluated, as at the small input (it was refused
    past 1,024 values in one step)."""
    report = analyze(_checked(AnchorFreeHead(), how, tmp_path, (3, 256, 256)))
    decoding = [row for row in report.rows if row.type == "dist2bbox"]
    assert len(decoding) == 1 and decoding[0].out_shape == (4, 64 * 64 + 32 * 32) and decoding[0].macs == 0


@pytest.mark.parametrize("how", EXPORTERS)
def test_anchor_pairs_joined_from_stored_levels_read_as_dist2bbox(how, tmp_path):
    """Anchors built as one (x, y) pair per cell, the levels joined and transposed to 2×A (YOLOv8's layout), at
    3×320×320 (80·80 + 40·40 cells): torch.export leaves the large level a Reshape of its own initializer joined
    to the others' folded grids, a Concat of stored tensors, read with the decoding (it was refused as "an input
    is a constant"). PyTorch's params, MACs and output shape, the one dist2bbox, and the same figures once raised
    (the spec writes the split's halves as slices: rows of their own)."""
    report, rebuilt = _read_as_pytorch_counts_it(AnchorFreeHead(pairs_last=True), how, tmp_path)
    assert _figures(rebuilt) == _figures(report)
    decoding = [row for row in report.rows if row.type == "dist2bbox"]
    assert len(decoding) == 1 and decoding[0].out_shape == (4, 80 * 80 + 40 * 40) and decoding[0].macs == 0
    assert [row.type for row in rebuilt.rows].count("dist2bbox") == 1


def _read_as_pytorch_counts_it(model, how: str, folder, input_shape=(3, 320, 320), expected: Expected = Expected()):
    """`model` exported `how` and read back as PyTorch counts it; (its report and the report of the spec it raises to)."""
    network = _checked(model, how, folder, input_shape, expected)
    return analyze(network), analyze(raised(network))


def _figures(report) -> tuple:
    return report.totals.params, report.totals.macs, [s for _, s in report.outputs]


@pytest.mark.parametrize("how", EXPORTERS)
def test_anchor_pairs_shared_with_a_keypoint_decoding_read_exactly(how, tmp_path):
    """A pose head decodes its keypoints with the boxes' anchors and strides (3×320×320: torch.export's Concat of
    stored levels read outside the box decoding, and 8,400 strides per cell it computed): the join is a constant
    once its values prove to be each level's cell centres; the strides are whole numbers. PyTorch's params, MACs
    and output shape, and the same figures once raised."""
    report, rebuilt = _read_as_pytorch_counts_it(PoseHead(), how, tmp_path)
    assert _figures(rebuilt) == _figures(report)
    assert [row.type for row in report.rows].count("dist2bbox") == 1


def test_a_join_of_stored_tensors_other_than_cell_centres_is_refused_by_name(tmp_path):
    """The same layout with anchors at the cells' corners (offset 0): torch.export's Concat of stored levels is
    not an anchor grid, so it stays refused by name, never read as a constant."""
    if "dynamo" not in EXPORTERS:
        pytest.skip("torch.export's exporter needs onnxscript")
    path = tmp_path / "dynamo.onnx"
    export_onnx(AnchorFreeHead(offset=0.0, pairs_last=True).eval(), (3, 320, 320), path, dynamo=True, fold=True)
    with pytest.raises(GroupcostError, match="Concat .*an input is a constant"):
        read_network(path)


def test_dist2bbox_kernel_gives_the_torch_heads_boxes(tmp_path):
    """The layer read back, run in NumPy on random distances, against the torch module's own decoding."""
    model = AnchorFreeHead(xywh=True)
    network = exported(model, tmp_path, "folded")
    (layer,) = [step.layer for step in network.nodes if getattr(step, "type_name", None) == "dist2bbox"]
    assert (layer.grids, layer.strides, layer.xywh) == (((16, 16), (8, 8)), (4, 8), True)
    distances = torch.rand(2, 4, 16 * 16 + 8 * 8) * 5
    features = [torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 8, 8)]
    expected = distances_to_boxes(distances, *anchor_points(features, (4, 8)), xywh=True).numpy()
    np.testing.assert_allclose(layer.forward(distances.numpy(), None, None), expected, rtol=1e-6)


@pytest.mark.parametrize("how", EXPORTERS)
def test_anchors_other_than_cell_centres_are_refused_by_name(how, tmp_path):
    """Anchors at the cells' corners (offset 0) are not dist2bbox's: the import names the node it cannot read."""
    model = AnchorFreeHead(offset=0.0)
    with pytest.raises(GroupcostError) as refused:
        exported(model, tmp_path, how)
    assert "Sub" in str(refused.value) and "channel range" in str(refused.value)


# ---- space-to-depth: strided slices (Focus), or a reshape to rank 6, a permute, a reshape back ----


def _reads_exactly_and_raises(model, how: str, folder, expected: Expected = Expected()):
    """`model` on a 3×32×32 input exported `how`: its report, after checking PyTorch's params, MACs and output
    shape, and that the raised spec builds back into the same rows."""
    report, rebuilt = _read_as_pytorch_counts_it(model, how, folder, (3, 32, 32), expected)
    assert [(r.type, r.out_shape, r.params, r.macs) for r in rebuilt.rows] == [(r.type, r.out_shape, r.params, r.macs) for r in report.rows]
    return report


@pytest.mark.parametrize("how", EXPORTERS)
def test_focus_reads_exactly_and_raises_to_a_spec(how, tmp_path):
    """Strided slices (x[..., ::2, ::2]) as `slice` steps with a step, joined: PyTorch's counts, the spec built again."""
    report = _reads_exactly_and_raises(Focus(), how, tmp_path)
    assert [row.out_shape for row in report.rows if row.type == "concat"] == [(12, 16, 16)]


@pytest.mark.parametrize("how", EXPORTERS)
def test_space_to_depth_reads_exactly_and_raises_to_a_spec(how, tmp_path):
    # the space-to-depth module is three steps, named after it from the first (the reshape to rank 6)
    report = _reads_exactly_and_raises(SpaceToDepthStem(), how, tmp_path, Expected(shaped=lambda name, module: not isinstance(module, SpaceToDepth)))
    assert [row.out_shape for row in report.rows if row.type in ("reshape", "permute")] == [(3, 8, 4, 8, 4), (4, 4, 3, 8, 8), (48, 8, 8)]


class FocusViews(torch.nn.Module):
    """Focus without its conv: only the strided slices and the concatenation."""

    def forward(self, x):
        return torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1)


@pytest.mark.parametrize("model", [SpaceToDepth(4), FocusViews()], ids=["space_to_depth", "focus"])
def test_views_compute_what_torch_computes(model, tmp_path):
    """The graph read back, run by the NumPy executor, by its own ONNX export in onnxruntime and by its
    torch export, against the torch module on one random input."""
    from groupcost.formats.onnx import export as onnx_export
    from groupcost.run.execute import forward, init_weights
    from torch_reference import network_module

    path = tmp_path / "views.onnx"
    export_onnx(model.eval(), (3, 16, 16), path)
    network = read_network(path)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = model(x).numpy()
        np.testing.assert_array_equal(network_module(network)(x).numpy(), want)
    got, _ = forward(network, x.numpy(), init_weights(network, 0, "float32"))
    np.testing.assert_array_equal(got, want)
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(onnx_export.onnx_model(network).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0], want)


# ---- anchor-based boxes (YOLOv5) and keypoints (pose): views, slices along any axis, arithmetic -----


def _no_macs_outside_the_convs(report, graph, model, label: str) -> None:
    assert all(row.macs == 0 for row in report.rows if "conv" not in row.type), label


def reads_as_pytorch(model, how: str, tmp_path) -> None:
    """PyTorch's figures (tests/pattern_check.py), 0 MACs outside the convs, and the same rows once raised to a spec."""
    network = _checked(model, how, tmp_path, expected=Expected(also=_no_macs_outside_the_convs))
    report = analyze(network)
    rebuilt = analyze(raised(network))
    assert [(r.type, r.out_shape, r.params, r.macs) for r in rebuilt.rows] == [(r.type, r.out_shape, r.params, r.macs) for r in report.rows]


@pytest.mark.parametrize("how", EXPORTERS)
def test_anchor_based_decoding_reads_exactly(how, tmp_path):
    """torch.export folds the anchor grid (the cell grid less ½, the anchors buffer times the stride, expanded)
    into constants it computed: grids of whole and half numbers, which no learned table holds, read as constants."""
    reads_as_pytorch(AnchorBasedHead(squared="product"), how, tmp_path)


@pytest.mark.parametrize("how", EXPORTERS)
def test_keypoint_decoding_reads_exactly(how, tmp_path):
    reads_as_pytorch(KeypointHead(), how, tmp_path)


@pytest.mark.parametrize("how", EXPORTERS)
def test_anchors_in_the_state_dict_are_exact_or_refused_by_name(how, tmp_path):
    """Anchors as a persistent buffer: the folded file holds the anchor grid the exporter computed from it (read
    exactly, as above); unfolded, the buffer is an initializer named `anchors` gathered per level, which an ONNX
    file cannot tell from a learned table (PyTorch counts a buffer as no parameter): refused by name, never counted;
    torch.export folds the grid, read as the folded file is."""
    model = AnchorBasedHead(persistent=True)
    if how != "unfolded":
        reads_as_pytorch(model, how, tmp_path)
        return
    with pytest.raises(GroupcostError, match="learned table gathered"):
        reads_as_pytorch(model, how, tmp_path)


@pytest.mark.parametrize("how", EXPORTERS)
def test_anchor_based_decoding_with_a_power_reads_exactly(how, tmp_path):
    """(w, h) · 2 ** 2, as YOLOv5 writes it: a power of an activation (`elementwise` pow, 0 MACs)."""
    reads_as_pytorch(AnchorBasedHead(squared="pow"), how, tmp_path)


def _slice_assignment_exports():
    """Each exporter's file of a slice assignment: TorchScript with a symbolic batch (its indices built from a range
    over the batch, Where and Equal around them) and with a fixed one; torch.export with a fixed batch (it cannot
    export the in-place writes with a symbolic one: "Invalid ranges")."""
    return [(how, dynamic) for how in EXPORTERS for dynamic in ((True, False) if how != "dynamo" else (False,))]


@pytest.mark.parametrize("how, dynamic_batch", _slice_assignment_exports())
def test_in_place_keypoint_decoding_reads_exactly(how, dynamic_batch, tmp_path):
    """YOLOv8-pose's decoding outside its export mode, written in place on strided channels (`y[:, 0::3] = ...`):
    TorchScript writes ScatterND of (sample, channel) indices, torch.export moves the channels ahead of the batch,
    scatters along them and moves them back. Read as PyTorch counts it, by analyze and import; each assignment is
    the channels that stay and the new ones, concatenated and interleaved by a channel shuffle."""
    network = check_export(InPlaceKeypointHead().eval(), INPUT, how, tmp_path, dynamic_batch=dynamic_batch, default_opset=True)
    kinds = [step.type_name for step in network.nodes]
    assert kinds.count("shuffle") == 3 and kinds.count("concat") == 3


def test_in_place_keypoint_decoding_reads_from_its_torch_factory():
    check_factory("torch:torch_heads:InPlaceKeypointHead", {}, InPlaceKeypointHead().eval(), INPUT)


@pytest.mark.parametrize("how, dynamic_batch", _slice_assignment_exports())
def test_slice_assignments_compute_what_pytorch_computes(how, dynamic_batch, tmp_path):
    """A module of slice assignments alone, read from each exporter's file and run by groupcost's NumPy kernels,
    gives PyTorch's own output (strided and contiguous channels, two samples)."""
    model = ChannelAssignments().eval()
    shape = (12, 4, 4)
    network = read_network(export(model, shape, tmp_path, how, dynamic_batch=dynamic_batch, default_opset=True))
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x).numpy()
    got, _ = forward(network, x.numpy(), init_weights(network, 0, "float32"))
    assert got.shape == expected.shape and np.allclose(got, expected, atol=1e-6)


# ---- dense heads shared over five pyramid levels (RetinaNet, FCOS): GroupNorm towers, a Scale per level ----


def _dense_head_modules(report, network, model, how: str) -> None:
    """Each kind of module's parameters as PyTorch counts them (a tower's conv or group norm called at five levels
    counted once); every weighted module named by a row or its parameter."""
    for kind, module_type in (("groupnorm", torch.nn.GroupNorm), ("conv", torch.nn.Conv2d), ("elementwise", Scale)):
        in_torch = sum(p.numel() for m in model.modules() if isinstance(m, module_type) for p in m.parameters())
        assert sum(row.params for row in report.rows if row.type.endswith(kind)) == in_torch, (how, kind)
    names = {row.name for row in report.rows}
    for name, module in model.named_modules():
        if name and any(True for _ in module.parameters(recurse=False)):
            assert name in names or any(n.startswith(name + ".") for n in names), (how, name)


DENSE_HEAD = Expected(also=_dense_head_modules)


@pytest.mark.parametrize("how", EXPORTERS)
@pytest.mark.parametrize("kind", ["fcos", "retinanet"])
def test_dense_heads_over_five_levels_read_exactly(kind, how, tmp_path):
    _checked(dense_head(kind), how, tmp_path, expected=DENSE_HEAD)


@pytest.mark.parametrize("kind", ["fcos", "retinanet"])
def test_dense_heads_read_from_their_torch_factory(kind):
    check_factory("torch:torch_heads:dense_head", {"kind": kind}, dense_head(kind), INPUT, DENSE_HEAD)


@pytest.mark.parametrize("how", EXPORTERS)
def test_untrained_group_norms_merged_by_the_exporter_count_once_per_module(how, tmp_path):
    """Untrained, all four group norms' scales are ones and shifts zeros, which the exporter merges into one
    initializer: each module's five calls share its parameters, the four modules keep theirs apart."""
    model = dense_head("fcos", trained=False)
    # the untrained scales, 1.0 each, are merged too: they read as the first scale's calls, a parameter each
    report = analyze(_checked(model, how, tmp_path, expected=Expected(unnamed=lambda model, input_shape, how: {f"scales.{k}" for k in range(1, 5)})))
    in_torch = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.GroupNorm) for p in m.parameters())
    assert sum(row.params for row in report.rows if row.type == "groupnorm") == in_torch == 4 * 32
