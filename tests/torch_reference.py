"""Build a torch module from a resolved groupcost Network, to let PyTorch count what we count.

PyTorch then supplies the reference: parameters by `sum(p.numel())`, output shapes by running
the module, and MACs by `torch.utils.flop_counter.FlopCounterMode` (which counts 2 FLOPs per
multiply-accumulate of convolutions and matrix products, nothing else).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from groupcost.network import LayerStep, Network, Parallel, Residual, Sequence
from torch_layers import layer_module

class Merge(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, tensors):
        if self.kind == "concat":
            return torch.cat(tensors, 1)
        out = tensors[0]
        for t in tensors[1:]:
            out = out + t if self.kind == "add" else out * t
        return out


class ResidualModule(nn.Module):
    def __init__(self, body, shortcut, merge):
        super().__init__()
        self.body, self.shortcut, self.merge = body, shortcut, Merge(merge.kind)
        self.merge.groupcost_step = merge

    def forward(self, x):
        return self.merge([self.body(x), self.shortcut(x)])


class ParallelModule(nn.Module):
    def __init__(self, branches, split, merge):
        super().__init__()
        self.branches, self.split, self.merge = nn.ModuleList(branches), split, Merge(merge.kind)
        self.merge.groupcost_step = merge

    def forward(self, x):
        inputs = torch.split(x, list(self.split), 1) if self.split else [x] * len(self.branches)
        return self.merge([b(i) for b, i in zip(self.branches, inputs)])


def module(node) -> nn.Module:
    if isinstance(node, LayerStep):
        built = layer_module(node)
        built.groupcost_step = node  # lets tests hook each layer's output
        return built
    if isinstance(node, Sequence):
        return nn.Sequential(*(module(item) for item in node.items))
    if isinstance(node, Residual):
        return ResidualModule(module(node.body), module(node.shortcut), node.merge)
    assert isinstance(node, Parallel)
    return ParallelModule([module(b) for b in node.branches], node.split, node.merge)


def torch_counts(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> tuple[int, int, tuple[int, ...]]:
    """(params, MACs, output shape without batch) as PyTorch reports them."""
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(torch.zeros(batch, *input_shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return params, flops // 2, tuple(y.shape[1:])


def network_module(network: Network) -> nn.Module:
    return module(network.body)


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
