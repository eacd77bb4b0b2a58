"""The hand-written ResNet/ResNeXt reference (reference_resnet.py) against figures we did not compute:
torchvision's state_dict layout and its published parameter and MAC counts (BRIEF.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from reference_resnet import Bottleneck, ResNet, meta_counts, model  # noqa: E402

# torchvision's state_dict shapes, written by PyTorch itself
STATE_DICTS = Path(__file__).parent / "reference" / "torchvision_state_dicts.json"


@pytest.fixture(scope="module")
def torchvision_state_dicts() -> dict:
    return json.loads(STATE_DICTS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d"])
def test_state_dict_is_torchvisions(name, torchvision_state_dicts):
    """Key for key and shape for shape (running statistics included; num_batches_tracked left out)."""
    ours = {key: list(tensor.shape) for key, tensor in model(name, "meta").state_dict().items() if not key.endswith("num_batches_tracked")}
    assert ours == torchvision_state_dicts[name]


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [
        ("resnet18", 11_689_512, 1_814_073_344),
        ("resnet50", 25_557_032, 4_089_184_256),
        ("resnext50_32x4d", 25_028_904, 4_230_479_872),
        ("wide_resnet50_2", 68_883_240, 11_398_021_120),
        ("resnext101_64x4d", 83_455_272, 15_460_270_080),
    ],
)
def test_published_figures(name, params, macs):
    assert meta_counts(model(name, "meta")) == (params, macs)


@pytest.mark.parametrize(
    ("groups", "width_per_group", "params", "macs"),
    [(1, 4, 5_495_432, 596_934_656), (8, 4, 9_906_216, 1_417_412_608), (64, 4, 45_192_488, 7_981_236_224), (32, 8, 48_021_800, 8_443_658_240)],
)
def test_resnext50_over_cardinality(groups, width_per_group, params, macs):
    """BRIEF.md's ResNeXt-50 table, measured with torchvision's ResNet(Bottleneck, [3, 4, 6, 3], groups=G, width_per_group=w)."""
    with torch.device("meta"):
        net = ResNet(Bottleneck, [3, 4, 6, 3], groups=groups, width_per_group=width_per_group)
    assert meta_counts(net) == (params, macs)


def test_meta_device_counts_as_the_cpu_does():
    """Counting on the meta device (shapes only) gives what a real forward pass on the CPU gives."""
    from torch_reference import torch_counts

    params, macs, shape = torch_counts(model("resnet18"), (3, 64, 64))
    assert meta_counts(model("resnet18", "meta"), (3, 64, 64)) == (params, macs) and shape == (1000,)
