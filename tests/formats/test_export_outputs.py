"""What the exported networks return: torchvision's segmentation models return `{'out': logits}`
(torchvision.models.segmentation, `_SimpleSegmentationModel.forward`, with `aux_loss=False`), and
`resnet_fpn_backbone` returns an OrderedDict of its levels keyed '0', '1', '2', '3' and 'pool'
(torchvision.ops.FeaturePyramidNetwork with LastLevelMaxPool). A spec names the keys with a mapping
`outputs: {out: NAME}`; the reference keys are torchvision's documented ones, held here as data."""

from __future__ import annotations

import pytest

import groupcost
from groupcost.formats.torch import export as pytorch_export

TORCHVISION_KEYS = {
    "fcn_resnet50": ["out"],
    "deeplabv3_mobilenet_v3_large": ["out"],
    "lraspp_mobilenet_v3_large": ["out"],
    "resnet50_fpn": ["0", "1", "2", "3", "pool"],
}


def test_outputs_mapping_names_the_keys():
    doc = groupcost.parse_text("input: [3, 8, 8]\nlayers: [conv: {name: a, out: 4, k: 1}, conv: {name: b, out: 2, k: 1}]\n"
                               "outputs: {feat: a, out: b}", "keys.yaml")
    network = groupcost.language.build(doc)
    assert network.outputs == ("a", "b") and network.output_keys == ("feat", "out")
    assert network.output_shapes == ((4, 8, 8), (2, 8, 8))


def test_outputs_list_returns_no_dict():
    network = groupcost.load("unet_2015")
    assert network.output_keys == ()


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_zoo_declares_torchvisions_keys(name):
    network = groupcost.load(name)
    assert list(network.output_keys) == TORCHVISION_KEYS[name]
    assert len(network.outputs) == len(network.output_keys)


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_pytorch_export_returns_torchvisions_dict(name):
    torch = pytest.importorskip("torch")
    network = groupcost.load(name)
    source, _ = pytorch_export.export_pytorch(groupcost.load_document(name))
    with torch.device("meta"):
        model = pytorch_export.load_module(source)["build"]().eval()
        y = model(torch.zeros(1, *network.input_shape))
    assert isinstance(y, dict) and list(y) == TORCHVISION_KEYS[name]
    assert [tuple(t.shape[1:]) for t in y.values()] == list(network.output_shapes)
