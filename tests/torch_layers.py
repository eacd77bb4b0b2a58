"""One torch module per groupcost layer type, written from torch's documented layers.

`layer_module(step)` builds the torch equivalent of one resolved layer step; the graph around it
is built by torch_reference.py.
"""

from __future__ import annotations

import torch
from torch import nn

from groupcost.layers import conv as gc_conv
from groupcost.network import LayerStep

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
