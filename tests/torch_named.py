"""A torch module whose module paths are a groupcost network's step names, and its ONNX export.

tests/torch_reference.py keeps the layers in a flat ModuleList (`parts.3`); exporters name ONNX
nodes after module paths, so here every step's module sits at its own dotted name
(`layer2.0.conv2`), as in torchvision, and the export carries torchvision's names.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from groupcost.graph.network import INPUT, LayerStep, Network
from torch_layers import layer_module
from torch_reference import Merge


class Container(nn.Module):
    """A namespace (`layer1`, `layer1.0`): runs its own steps, so exporters see torchvision's module nesting."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix
        self.steps: list = []  # (node, path relative to this container)
        self.called_again: dict[str, nn.Module] = {}  # `share:` steps here: another module of the graph, not a child

    def forward(self, tensors: dict) -> dict:
        run(self, self.steps, tensors, len(self.prefix.split(".")) if self.prefix else 0)
        return tensors


def run(owner: nn.Module, steps: list, tensors: dict, depth: int) -> None:
    """Run `steps` in order, handing each contiguous run inside one child namespace to that child."""
    i = 0
    while i < len(steps):
        node = steps[i]
        segments = node.name.split(".")
        if len(segments) == depth + 1:
            part = owner._modules[segments[depth]] if segments[depth] in owner._modules else owner.called_again[segments[depth]]
            inputs = [tensors[n] if c is None else tensors[n][:, c[0]:c[1]] for n, c in zip(node.inputs, node.channels)]
            tensors[node.name] = part(inputs[0]) if isinstance(node, LayerStep) else part(inputs)
            i += 1
            continue
        j = i
        while j < len(steps) and len(steps[j].name.split(".")) > depth + 1 and steps[j].name.split(".")[depth] == segments[depth]:
            j += 1
        child = owner._modules[segments[depth]]
        child.steps = steps[i:j]
        child(tensors)
        i = j


class NamedGraph(nn.Module):
    def __init__(self, network: Network):
        super().__init__()
        self.network = network
        self.called_again: dict[str, nn.Module] = {}
        for node in network.nodes:
            *parents, leaf = node.name.split(".")
            owner = self
            for k, segment in enumerate(parents):
                if segment not in owner._modules:
                    owner.add_module(segment, Container(".".join(parents[:k + 1])))
                owner = owner._modules[segment]
            if isinstance(node, LayerStep) and node.shares is not None:  # `share:`: the owner's module called again, registered once
                owner.called_again[leaf] = self.get_submodule(node.shares)
            else:
                owner.add_module(leaf, layer_module(node) if isinstance(node, LayerStep) else Merge(node.kind))

    def forward(self, x):
        tensors = {INPUT: x}
        run(self, list(self.network.nodes), tensors, 0)
        outputs = [tensors[name] for name in self.network.outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def named_module(network: Network, seed: int = 0) -> nn.Module:
    """The module in eval mode, its batch norms given trained-looking statistics.

    Untrained BN folds into a zero bias, which the torch.export exporter then drops; trained
    models keep it, so the tests make BN look trained.
    """
    return trained_batchnorm(NamedGraph(network).eval(), seed)


def trained_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm random statistics and affine parameters, as training would; and the biases
    of multi-head attention, which start at zero (the torch.export exporter drops an add of zeros)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for part in model.modules():
            if isinstance(part, nn.MultiheadAttention) and part.in_proj_bias is not None:
                part.in_proj_bias.copy_(torch.randn(part.in_proj_bias.shape, generator=generator) * 0.1)
                part.out_proj.bias.copy_(torch.randn(part.out_proj.bias.shape, generator=generator) * 0.1)
            if isinstance(part, nn.modules.batchnorm._BatchNorm):
                part.running_mean.copy_(torch.randn(part.num_features, generator=generator) * 0.1)
                part.running_var.copy_(torch.rand(part.num_features, generator=generator) + 0.5)
                if part.affine:
                    part.weight.copy_(torch.rand(part.num_features, generator=generator) + 0.5)
                    part.bias.copy_(torch.randn(part.num_features, generator=generator) * 0.1)
    return model


def export_onnx(model: nn.Module, input_shape, path: Path | None = None, *, dynamo: bool = False, opset: int | None = None,
                dynamic_batch: bool = True, outputs: int = 1, fold: bool = True, example_batch: int = 1) -> bytes | None:
    """Export with one of PyTorch's two exporters; to `path`, or return the bytes (TorchScript only). `example_batch`:
    the batch of the example input (torch.export specialises a dynamic batch traced at 1 where a layer norm of a
    permuted tensor meets a conv, and fails)."""
    x = torch.zeros(example_batch, *input_shape)
    names = [f"output{i}" if outputs > 1 else "output" for i in range(outputs)]
    kwargs = dict(input_names=["input"], output_names=names, do_constant_folding=fold)
    if opset is not None:
        kwargs["opset_version"] = opset
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if dynamo:
            if dynamic_batch:
                kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
            kwargs.pop("do_constant_folding")
            torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=True, **kwargs)
            return None
        if dynamic_batch:
            kwargs["dynamic_axes"] = {"input": {0: "batch"}, **{n: {0: "batch"} for n in names}}
        target = io.BytesIO() if path is None else str(path)
        torch.onnx.export(model, (x,), target, dynamo=False, **kwargs)
        return target.getvalue() if path is None else None
