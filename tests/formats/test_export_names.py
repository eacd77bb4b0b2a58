"""Names in what groupcost writes: torchvision's state_dict keys and order, the names that come back
when groupcost imports its own ONNX file, and spec locations that never show the install folder.

References: torchvision's RegNet as its source builds it (written here in torch: ResBottleneckBlock
makes `proj` before `f`), torchvision's ConvNeXt key `features.1.0.layer_scale` (a Parameter of
CNBlock), and the spec's own step names.
"""

from __future__ import annotations

import os

import pytest

import groupcost
from groupcost.formats.onnx import export as onnx_export
from groupcost.formats.torch import export as pytorch_export
from groupcost.language.build import build
from groupcost.language.zoo import zoo_dir

DROPPED_ON_IMPORT = {"dropout", "identity"}  # exported as Identity, which the importer drops (test_export's IMPORT_AS)


# ---- regnet_y_800mf: torchvision's key order ----------------------------------------------------


def _torchvision_regnet_y_800mf(torch):
    """torchvision.models.regnet_y_800mf's module tree, written from its source: stem, trunk_output.blockS.blockS-i
    (ResBottleneckBlock: proj when the shape changes, then f = a, b, se, c, then activation), avgpool, fc.
    Widths 64, 144, 320, 784, depths 1, 3, 8, 2, group width 16, SE ratio 0.25 (RegNetY-800MF)."""
    nn = torch.nn

    def cna(c_in, c_out, k=1, s=1, groups=1, act=True):
        layers = [nn.Conv2d(c_in, c_out, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
        return nn.Sequential(*layers, *([nn.ReLU()] if act else []))

    class SE(nn.Module):
        def __init__(self, c, squeeze):
            super().__init__()
            self.avgpool, self.fc1, self.fc2 = nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)

    class Block(nn.Module):
        def __init__(self, c_in, w, s):
            super().__init__()
            self.proj = cna(c_in, w, 1, s, act=False) if c_in != w or s != 1 else None
            self.f = nn.Sequential()
            self.f.add_module("a", cna(c_in, w))
            self.f.add_module("b", cna(w, w, 3, s, groups=w // 16))
            self.f.add_module("se", SE(w, round(0.25 * c_in)))
            self.f.add_module("c", cna(w, w, act=False))
            self.activation = nn.ReLU()

    model = nn.Module()
    model.stem = cna(3, 32, 3, 2)
    model.trunk_output = nn.Sequential()
    c = 32
    for stage, (w, depth) in enumerate(zip([64, 144, 320, 784], [1, 3, 8, 2]), 1):
        blocks = nn.Sequential()
        for i in range(depth):
            blocks.add_module(f"block{stage}-{i}", Block(c, w, 2 if i == 0 else 1))
            c = w
        model.trunk_output.add_module(f"block{stage}", blocks)
    model.avgpool, model.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(c, 1000)
    return model


@pytest.mark.parametrize("form", ["graph", "structured"])
def test_regnet_state_dict_is_torchvisions_key_for_key_in_order(form):
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        reference = [(k, tuple(v.shape)) for k, v in _torchvision_regnet_y_800mf(torch).state_dict().items()]
    if form == "graph":
        source = pytorch_export.pytorch_source(groupcost.load("regnet_y_800mf"))
    else:
        source, fallback = pytorch_export.export_pytorch(groupcost.load_document("regnet_y_800mf"))
        assert fallback is None
    with torch.device("meta"):
        model = pytorch_export.load_module(source)["build"]()
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == reference


# ---- ConvNeXt's layer scale in ONNX ---------------------------------------------------------------


def test_convnext_onnx_initializers_are_the_state_dict_keys():
    """torchvision's `features.1.0.layer_scale`, not `...layer_scale.layer_scale`; every learned
    initializer is a key of the exported PyTorch module, and the file still checks."""
    onnx = pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    network = groupcost.load("convnext_tiny")
    model = onnx_export.onnx_model(network, "zeros")
    names = {t.name for t in model.graph.initializer}
    assert "features.1.0.layer_scale" in names and not any(n.endswith(".layer_scale.layer_scale") for n in names)
    with torch.device("meta"):
        module = pytorch_export.load_module(pytorch_export.pytorch_source(network))["build"]()
    parameters = {k for k, _ in module.named_parameters()}
    assert parameters <= names
    assert sum(1 for n in names if n.endswith("layer_scale")) == 18  # one per CNBlock: depths 3, 3, 9, 3
    onnx.checker.check_model(model, full_check=True)
    assert onnx_export.check_shapes(model, network) == []
    mul = next(n for n in model.graph.node if n.name == "features.1.0.layer_scale")
    assert mul.op_type == "Mul" and "features.1.0.layer_scale" in mul.input and mul.output[0] == "features.1.0.layer_scale/output"


# ---- importing groupcost's own ONNX export gives its names back -------------------------------------


def _round_trip_names(name: str):
    from groupcost.formats.onnx import reader

    network = groupcost.load(name)
    back = reader.network_from_model(onnx_export.onnx_model(network, "zeros"), name, None, name=network.name)
    kept = [(s.name, s.type_name) for s in network.nodes if s.type_name not in DROPPED_ON_IMPORT]
    return kept, [(s.name, s.type_name) for s in back.nodes]


@pytest.mark.parametrize("name", ["resnet50", "convnext_tiny", "efficientnet_v2_s", "regnet_y_800mf"])
def test_own_onnx_export_imports_with_the_specs_names(name):
    """`avgpool` stays `avgpool` (not `gap`), `flatten`'s `9` stays `9`, ConvNeXt's linears and
    EfficientNet's SiLUs keep their paths."""
    pytest.importorskip("onnx")
    kept, back = _round_trip_names(name)
    assert [n for n, _ in back] == [n for n, _ in kept]


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in groupcost.zoo_names() if n not in ("yolo_c2f_n", "retinanet_resnet50_fpn", "mobilevit_block")])
# retinanet: its anchor steps read back under other names (cells, grid); yolo_c2f_n: its slices read back as channel ranges; mobilevit_block:
# groupcost's own ONNX export writes its attention as operators, read back as views and products (PyTorch's reads as one)
def test_every_zoo_model_imports_from_its_onnx_export_with_its_names(name):
    pytest.importorskip("onnx")
    kept, back = _round_trip_names(name)
    assert [n for n, _ in back] == [n for n, _ in kept]


def test_only_groupcosts_own_files_name_top_level_nodes():
    """A dotless node name (`avgpool`, `9`) is a step name in a file groupcost wrote, nothing in another writer's."""
    onnx = pytest.importorskip("onnx")
    from groupcost.formats.onnx.names import module_path

    node = onnx.helper.make_node("Relu", ["x"], ["y"], name="avgpool")
    assert module_path(node, own=True) == "avgpool" and module_path(node) == ""
    assert module_path(onnx.helper.make_node("Relu", ["x"], ["y"], name="x/sigmoid"), own=True) == ""


@pytest.mark.slow
def test_diff_of_resnet50_and_its_own_onnx_export_shows_no_change(tmp_path):
    pytest.importorskip("onnx")
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "groupcost", *args], capture_output=True, text=True, cwd=tmp_path)

    assert cli("export", "resnet50", "--to", "onnx", "--weights", "zeros").returncode == 0
    shown = cli("diff", "resnet50", "resnet50.onnx")
    assert shown.returncode == 0 and "no layer added, removed or changed" in shown.stdout, shown.stdout + shown.stderr


# ---- locations: never the install folder --------------------------------------------------------------


def _written(name_or_path):
    """The structured and graph PyTorch sources and the ONNX doc strings of a spec."""
    network = groupcost.load(name_or_path)
    texts = [pytorch_export.export_pytorch(groupcost.load_document(name_or_path))[0], pytorch_export.pytorch_source(network)]
    try:
        model = onnx_export.onnx_model(network, "zeros")
    except onnx_export.ExportError:  # without the onnx package
        return texts
    return [*texts, model.doc_string, *(n.doc_string for n in model.graph.node)]


def test_an_extends_model_shows_its_parents_place_in_the_zoo():
    """resnext50_32x4d extends resnet50: its blocks are located at `zoo/resnet50.yaml:LINE:COL`."""
    texts = _written("resnext50_32x4d")
    folder = str(zoo_dir().resolve())
    assert not any(folder in t or "site-packages" in t for t in texts)
    assert "Block `bottleneck` of resnext50_32x4d (zoo/resnet50.yaml:13:3)" in texts[0]
    assert any(t.startswith("zoo/resnet50.yaml:") for t in texts[2:]) or len(texts) == 2
    assert str(groupcost.load("resnext50_32x4d").nodes[0].loc).startswith("zoo/resnet50.yaml:")


def test_an_extended_file_in_the_current_folder_is_shown_relative_to_it(tmp_path, monkeypatch):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "base.yaml").write_text("input: [3, 8, 8]\nlayers: [conv: {out: 4, k: 3}, relu]\n")
    (tmp_path / "specs" / "child.yaml").write_text("extends: base.yaml\nname: child\n")
    monkeypatch.chdir(tmp_path)
    child = os.path.join("specs", "child.yaml")  # as the user names it, relative to the current folder
    network = groupcost.load(child)
    assert str(network.nodes[0].loc) == os.path.join("specs", "base.yaml") + ":2:10"
    assert not any(str(tmp_path) in t for t in _written(child))
    absolute = groupcost.load(str(tmp_path / child))  # the parent read through an absolute path: shown relative all the same
    assert str(absolute.nodes[0].loc) == os.path.join("specs", "base.yaml") + ":2:10"


def test_dotted_names_export_to_the_graph_form_with_their_keys():
    """Res2Net's interleaved `convs.0`, `bns.0`, `convs.1`: no attribute name, so the structured form
    leaves them to the graph form, whose modules hold the dotted keys, grouped as the library's
    ModuleLists group them."""
    torch = pytest.importorskip("torch")
    spec = groupcost.parse_text(
        "name: dotted\ninput: [4, 8, 8]\nlayers:\n"
        "  - conv: {name: convs.0, out: 4, k: 3, p: 1}\n  - bn: {name: bns.0}\n  - conv: {name: convs.1, out: 4, k: 3, p: 1}\n", "dotted.yaml")
    source, fallback = pytorch_export.export_pytorch(spec)
    assert fallback is not None and "dotted name 'convs.0'" in fallback
    namespace: dict = {}
    exec(compile(source, "<export>", "exec"), namespace)  # noqa: S102
    model = namespace["build"]()
    assert [key for key in model.state_dict() if key.endswith("weight")] == ["convs.0.weight", "convs.1.weight", "bns.0.weight"]
    assert model(torch.zeros(1, 4, 8, 8)).shape == (1, 4, 8, 8)


def test_a_repeat_in_the_enclosing_namespace_is_written_as_a_loop_over_its_entries():
    """VGG's `features` (Simonyan and Zisserman 2015, with batch norm) as a repeat with namespace: false: the structured
    form appends every entry to the namespace it is in, numbered as an nn.Sequential numbers them (torchvision's VGG:
    conv 0, bn 1, relu 2, conv 3, ...), with the graph form's keys and output; it fell back to the graph form."""
    torch = pytest.importorskip("torch")
    text = ("name: vgg_like\ninput: [3, 16, 16]\nvars: {widths: [8, 16]}\nlayers:\n"
            "  - seq: {name: features, layers: [repeat: {n: len(widths), namespace: false, layers: ["
            "conv: {out: 'widths[i]', k: 3, p: 1}, bn, relu, maxpool: {k: 2, s: 2}]}]}\n"
            "  - gap\n  - flatten\n  - fc: {name: classifier, out: 10}\n")
    source, fallback = pytorch_export.export_pytorch(groupcost.parse_text(text, "vgg_like.yaml"))
    assert fallback is None and "for i in range(" in source
    namespace: dict = {}
    exec(compile(source, "<export>", "exec"), namespace)  # noqa: S102
    torch.manual_seed(0)
    structured = namespace["build"]().eval()
    graph = pytorch_export.torch_model(build(groupcost.parse_text(text, "vgg_like.yaml"))).eval()
    assert [key for key in structured.state_dict() if key.endswith("weight")] == [
        "features.0.weight", "features.1.weight", "features.4.weight", "features.5.weight", "classifier.weight"]
    assert list(structured.state_dict()) == list(graph.state_dict())
    graph.load_state_dict(structured.state_dict())
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(structured(x), graph(x))
