"""Build a torch module from a resolved groupcost Network, to let PyTorch count what we count.

PyTorch then supplies the reference: parameters by `sum(p.numel())`, output shapes by running
the module, and MACs by `torch.utils.flop_counter.FlopCounterMode` (which counts 2 FLOPs per
multiply-accumulate of convolutions and matrix products, nothing else).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from groupcost.layers import conv as gc_conv
from groupcost.network import LayerStep, Network, Parallel, Residual, Sequence

ACTIVATIONS = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid, "hsigmoid": nn.Hardsigmoid, "silu": nn.SiLU, "hswish": nn.Hardswish,
    "tanh": nn.Tanh, "mish": nn.Mish, "identity": nn.Identity,
}


class Shuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class SE(nn.Module):
    def __init__(self, c: int, squeeze: int, act: str, gate: str):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
        self.act, self.gate = ACTIVATIONS[act](), ACTIVATIONS[gate]()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


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


def layer_module(step: LayerStep) -> nn.Module:
    layer, x = step.layer, step.in_shape
    if isinstance(layer, gc_conv.ConvLike):
        g = layer.geometry(x)
        top, bottom, left, right = g.pads
        conv = nn.Conv2d(g.c_in, g.c_out, g.kernel, g.stride, 0, g.dilation, g.groups, g.bias)
        if top == bottom and left == right:
            conv.padding = (top, left)
            return conv
        return nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)), conv)
    name = layer.type_name
    if name == "fc":
        return nn.Linear(x[0], layer.out, layer.bias)
    if name == "bn":
        return (nn.BatchNorm2d if len(x) == 3 else nn.BatchNorm1d)(x[0], affine=layer.affine)
    if name == "prelu":
        return nn.PReLU(1 if layer.shared else x[0])
    if name in ("maxpool", "avgpool"):
        s = layer.s or layer.k
        pad = (layer.p[0], layer.p[2])
        if name == "maxpool":
            return nn.MaxPool2d(layer.k, s, pad, layer.d, ceil_mode=layer.ceil_mode)
        return nn.AvgPool2d(layer.k, s, pad, ceil_mode=layer.ceil_mode)
    if name == "gap":
        return nn.AdaptiveAvgPool2d(1)
    if name == "adaptive_avgpool":
        return nn.AdaptiveAvgPool2d(layer.size)
    if name == "flatten":
        return nn.Flatten()
    if name == "dropout":
        return nn.Dropout(layer.p)
    if name == "lrn":
        return nn.LocalResponseNorm(layer.size)
    if name == "shuffle":
        return Shuffle(layer.groups)
    if name == "se":
        return SE(x[0], layer.squeeze, layer.act, layer.gate)
    if name == "softmax":
        return nn.Softmax(1)
    return ACTIVATIONS[name]()


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
