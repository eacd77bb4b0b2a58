"""One kernel read by the nodes of two modules: one parameter the modules share, or two modules' equal kernels merged.

PyTorch's exporters write a parameter once, however many modules hold it: ShaResNet (Boulch 2017) registers
one 3×3 conv in every residual unit of a stage, and the file's later units read the first unit's
`stage1.unit1.body.conv2.conv.weight`. TorchScript's exporter in eval mode also merges initializers of
equal values, and untrained models have such: constant fills, and deterministic inits (Dirac's identity
kernels, bilinear upsampling) that repeat few values. A kernel whose values are nearly all distinct
is neither: a random or trained parameter, which two modules read only where they hold it both.
"""

from __future__ import annotations

import re
from pathlib import Path

from groupcost.formats.onnx.values import tensor_values

VALUES_READ = 4096
"""Values read from the start of a kernel to tell a trained parameter from a fill or a deterministic init."""
FEWEST_VALUES = 64
"""A kernel of fewer values than this (a 1×1 conv of a few channels) cannot be told apart: two modules may have merged."""
DISTINCT_SHARE = 0.9
"""The share of the values read that must be distinct for a trained (or random) kernel."""


def one_trained_parameter(initializer, folder: Path | None) -> bool:
    """Whether an initializer read by two modules is one parameter they share: its first values nearly all distinct."""
    if initializer is None:
        return False
    values = tensor_values(initializer, folder, VALUES_READ, VALUES_READ)
    if values is None or len(values) < FEWEST_VALUES:
        return False
    return len(set(values)) >= DISTINCT_SHARE * len(values)


def merged_fill(initializer, folder: Path | None) -> bool:
    """Whether a kernel is a constant fill (its first values all equal): an untrained model's, which the exporter merges
    across modules (timm's zero-initialised last norm of a residual block, folded into its conv: a kernel of zeros in
    every block). Two modules reading it are two modules, each counting its own; never one module held twice."""
    if initializer is None:
        return False
    values = tensor_values(initializer, folder, VALUES_READ, VALUES_READ)
    return values is not None and len(values) > 1 and len(set(values)) == 1


def merged_parameter(node, initializer: str) -> bool:
    """Whether the node reads `initializer` in place of another module's parameter of equal values, which torch.export
    merged (an untrained deep copy: YOLOv10's one-to-one head, copied from its one-to-many head): the FX node it came
    from read a parameter placeholder of another module than the initializer's (`p_model_23_one2one_cv2_0_0_conv_weight`,
    or the norm folded in, `..._bn_weight`, for `model.23.cv2.0.0.conv.weight`: not under `model.23.cv2.0.0`). One
    parameter held by two modules (ShaResNet's) has one placeholder."""
    text = next((prop.value for prop in node.metadata_props if prop.key == "pkg.torch.onnx.fx_node"), "")
    read = re.search(r"args = \(%\w+, %(p_\w+)", text)
    module = initializer.split(".")[:-2]  # `model.23.cv2.0.0` of `model.23.cv2.0.0.conv.weight`: the layer's parent
    return read is not None and bool(module) and not read.group(1).startswith("p_" + re.sub(r"\W", "_", ".".join(module)) + "_")
