"""Build a torch module from a resolved groupcost Network, to let PyTorch count what we count.

PyTorch then supplies the reference: parameters by `sum(p.numel())`, output shapes by running
the module, and MACs by `torch.utils.flop_counter.FlopCounterMode` (which counts 2 FLOPs per
multiply-accumulate of convolutions and matrix products, nothing else).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from groupcost.graph.network import INPUT, LayerStep, Network
from torch_layers import layer_module

class Merge(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, tensors):
        if self.kind == "concat":
            return torch.cat(tensors, 1)
        if self.kind == "matmul":
            return torch.matmul(*tensors)
        combine = {"add": torch.add, "mul": torch.mul, "sub": torch.sub, "div": torch.div, "max": torch.maximum, "min": torch.minimum}[self.kind]
        out = tensors[0]
        for t in tensors[1:]:
            out = combine(out, t)
        return out


class GraphModule(nn.Module):
    """The network's graph run node by node: each tensor read by name, sliced where a split reads a part."""

    def __init__(self, network: Network):
        super().__init__()
        self.network = network
        parts, modules = [], {}
        for node in network.nodes:
            if isinstance(node, LayerStep) and node.shares is not None:  # the owner's module, called again
                parts.append(modules[node.shares])
                continue
            part = layer_module(node) if isinstance(node, LayerStep) else Merge(node.kind)
            part.groupcost_step = node  # lets tests hook each layer's and merge's output
            parts.append(part)
            modules[node.name] = part
        self.parts = nn.ModuleList(parts)

    def forward(self, x):
        tensors = {INPUT: x}
        for node, part in zip(self.network.nodes, self.parts):
            inputs = [tensors[n] if c is None else tensors[n][:, c[0]:c[1]] for n, c in zip(node.inputs, node.channels)]
            tensors[node.name] = part(inputs[0]) if isinstance(node, LayerStep) else part(inputs)
        outputs = [tensors[name] for name in self.network.outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


BATCHED_PRODUCTS = ("bmm", "baddbmm")
"""The aten ops of a product of two activations (torch.matmul of batched tensors, attention's Q·Kᵀ and A·V):
matmul MACs, apart from conv + linear. A linear layer on any rank runs as mm or addmm."""


def torch_counts(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> tuple[int, int, tuple[int, ...]]:
    """(params, conv + linear MACs, output shape without batch) as PyTorch reports them; several outputs give a tuple of shapes."""
    params, macs, _, shape = torch_counts_with_matmul(model, input_shape, batch)
    return params, macs, shape


def torch_counts_with_matmul(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> tuple[int, int, int, tuple[int, ...]]:
    """(params, conv + linear MACs, matmul MACs, output shape without batch) as PyTorch reports them."""
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(torch.zeros(batch, *input_shape))
    flops = counter.get_total_flops()
    products = sum(n for op, n in counter.get_flop_counts()["Global"].items() if op.__name__ in BATCHED_PRODUCTS)
    assert flops % 2 == 0 and products % 2 == 0
    shape = tuple(y.shape[1:]) if isinstance(y, torch.Tensor) else tuple(tuple(t.shape[1:]) for t in y)
    return params, (flops - products) // 2, products // 2, shape


def network_module(network: Network) -> nn.Module:
    return GraphModule(network)


def load_weights(model: nn.Module, weights: dict) -> None:
    """Copy groupcost's NumPy weights (PyTorch names and layouts) into the module built from the same network."""
    for part in model.modules():
        step = getattr(part, "groupcost_step", None)
        tensors = weights.get(getattr(step, "name", None)) if isinstance(step, LayerStep) else None
        if tensors:
            target = part[1] if isinstance(part, nn.Sequential) else part  # a conv behind its asymmetric ZeroPad2d
            _, unexpected = target.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=False)
            assert not unexpected, unexpected


def step_outputs(model: nn.Module, x) -> dict:
    """Every layer's and merge's output, by groupcost step name."""
    outputs = {}
    for part in model.modules():
        step = getattr(part, "groupcost_step", None)
        if step is not None:
            part.register_forward_hook(lambda m, i, o, name=step.name: outputs.__setitem__(name, o.detach().numpy()))
    model.eval()
    with torch.no_grad():
        model(x)
    return outputs
