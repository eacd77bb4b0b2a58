"""Torch modules written here for three things real models do that a spec must name: modules in
interleaved lists (Res2Net's `convs.j`, `bns.j`), one module called again (a detection head over
every pyramid level, CoaT's MLP over three scales), torch's own nn.MultiheadAttention, and DLA's trees,
whose modules hold children named as themselves. Written from the papers' descriptions,
not copied from any library; tests/torch_patterns.py lists them in PATTERNS."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class InterleavedLists(nn.Module):
    """Res2Net's hierarchical split (Gao et al. 2019, Fig. 2): a 1×1 conv, its channels in `scale`
    groups, each group after the first added to the previous group's output and convolved by
    `convs.j`, activated by `acts.j` (two ModuleLists whose modules run interleaved), the last
    group passed on, all concatenated, a 1×1 conv back and the residual sum."""

    def __init__(self, width: int = 4, scale: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width * scale, 1)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(scale - 1))
        self.acts = nn.ModuleList(nn.ReLU() for _ in range(scale - 1))
        self.conv3 = nn.Conv2d(width * scale, 3, 1)
        self.width = width

    def forward(self, x):
        parts = torch.split(self.conv1(x), self.width, 1)
        outs = []
        for j, (conv, act) in enumerate(zip(self.convs, self.acts)):
            sp = parts[j] if j == 0 else outs[-1] + parts[j]
            outs.append(act(conv(sp)))
        return self.conv3(torch.cat([*outs, parts[-1]], 1)) + x


class Head(nn.Module):
    """A detection head's tower: 3×3 conv, ReLU, 3×3 conv to the outputs of each position."""

    def __init__(self, width: int, outputs: int):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.act = nn.ReLU()
        self.out = nn.Conv2d(width, outputs, 3, padding=1)

    def forward(self, x):
        return self.out(self.act(self.conv(x)))


class SharedHead(nn.Module):
    """RetinaNet's head (Lin et al. 2017, Fig. 3): one head module called on every pyramid level, its
    parameters counted once and its MACs per level; a linear called on two pooled levels; and SPPF's one
    max pool called three times (no parameters to share)."""

    def __init__(self, width: int = 8, outputs: int = 6):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.down = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.head = Head(width, outputs)
        self.fc = nn.Linear(outputs, 4)

    def forward(self, x):
        p3 = self.stem(x)
        p4 = self.down(p3)
        y1 = self.pool(p4)
        p5 = self.pool(self.pool(y1)) + y1
        levels = [self.head(p) for p in (p3, p4, p5)]
        return tuple(self.fc(level.mean((2, 3))) for level in levels[:2]) + (levels[2],)


class TorchAttention(nn.Module):
    """nn.MultiheadAttention over a feature map's positions (MobileViT's transformer, Mehta and Rastegari
    2021): a conv, the tokens, a pre-norm, self-attention and the residual sum, folded back to C×H×W.

    An odd number of heads keeps PyTorch off its fused inference kernel, which the TorchScript exporter
    cannot write and FlopCounterMode does not count; need_weights=True takes the path of batched products
    that it counts (need_weights=False the scaled-dot-product kernel, the same arithmetic uncounted). `cast_norm`: the
    norm's output cast to its input's dtype, as open_clip's LayerNorm ends (a Cast in TorchScript's files)."""

    def __init__(self, width: int = 6, heads: int = 3, batch_first: bool = True, need_weights: bool = True, bias: bool = True,
                 cast_norm: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.norm = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, bias=bias, batch_first=batch_first)
        self.batch_first, self.need_weights, self.cast_norm = batch_first, need_weights, cast_norm
        if bias:  # as trained: nn.MultiheadAttention starts its biases at zero, which the torch.export exporter drops
            nn.init.uniform_(self.attn.in_proj_bias, -0.1, 0.1)
            nn.init.uniform_(self.attn.out_proj.bias, -0.1, 0.1)

    def forward(self, x):
        x = self.conv(x)
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2) if self.batch_first else x.flatten(2).permute(2, 0, 1)
        t = self.norm(tokens).to(tokens.dtype) if self.cast_norm else self.norm(tokens)
        y = tokens + self.attn(t, t, t, need_weights=self.need_weights)[0]
        return (y.transpose(1, 2) if self.batch_first else y.permute(1, 2, 0)).reshape(n, c, h, w)


class _TorchAttentionBlock(TorchAttention):
    """TorchAttention of width c from c channels, one head (odd: off the fused kernel)."""

    def __init__(self, c: int):
        super().__init__(width=c, heads=1)
        self.conv = nn.Conv2d(c, c, 1)


class _CalledTwice(nn.Module):
    """One 3×3 conv called twice, with an activation between (params once, MACs twice)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.conv(self.act(self.conv(x)))


class SharedTokenMlp(nn.Module):
    """CoaT's parallel block (Xu et al. 2021, Sec. 4): the tokens of three scales, each layer-normed by a norm of its
    own, run through one MLP module (PyTorch holds it once, under three attribute names). TorchScript's folding
    writes each call's transposed weight, the later ones as Identities of the first."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(3))
        self.mlp2 = self.mlp3 = self.mlp4 = nn.Sequential(OrderedDict(fc1=nn.Linear(width, 2 * width), act=nn.GELU(),
                                                                       fc2=nn.Linear(2 * width, width)))

    def forward(self, x):
        x2 = self.stem(x)
        x3 = self.pool(x2)
        x4 = self.pool(x3)
        mlps = (self.mlp2, self.mlp3, self.mlp4)
        return tuple(mlp(norm(level.flatten(2).transpose(1, 2))) for mlp, norm, level in zip(mlps, self.norms, (x2, x3, x4)))


class _ConvNorm(nn.Sequential):
    """A 3×3 conv and its batch norm, which the folding exporters fold into the conv (its weight then named by no module)."""

    def __init__(self, c: int):
        super().__init__(OrderedDict(conv=nn.Conv2d(c, c, 3, padding=1, bias=False), bn=nn.BatchNorm2d(c), act=nn.ReLU()))


class _PositionConv(nn.Module):
    """CoaT's convolutional position encoding: a 3×3 depthwise conv added to its input."""

    def __init__(self, c: int):
        super().__init__()
        self.proj = nn.Conv2d(c, c, 3, padding=1, groups=c)

    def forward(self, x):
        return x + self.proj(x)


class _SerialBlock(nn.Module):
    def __init__(self, c: int, cpe: nn.Module):
        super().__init__()
        self.cpe = cpe
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.conv(self.cpe(x))


class HeldInBlocks(nn.Module):
    """CoaT's serial blocks (Xu et al. 2021, Sec. 4): one position encoding `cpe1`, held by the model and by every block
    as `cpe`. PyTorch names it `cpe1`; TorchScript scopes each call `serial_blocks1.0.cpe1`, the module's own name
    under the block that calls it."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.cpe1 = _PositionConv(width)
        self.serial_blocks1 = nn.ModuleList(_SerialBlock(width, self.cpe1) for _ in range(2))

    def forward(self, x):
        x = self.stem(x)
        for block in self.serial_blocks1:
            x = block(x)
        return x


class Tree(nn.Module):
    """A DLA-style tree (Yu et al. 2018, Fig. 2): two children and a root that joins them. A child named as its
    parent (`tree1.tree1`) is a module path TorchScript writes as the scope `tree1` under `tree1`."""

    def __init__(self, c: int, depth: int):
        super().__init__()
        self.tree1 = Tree(c, depth - 1) if depth > 1 else _ConvNorm(c)
        self.tree2 = Tree(c, depth - 1) if depth > 1 else _ConvNorm(c)
        self.root = nn.Conv2d(2 * c, c, 1)

    def forward(self, x):
        y1 = self.tree1(x)
        return self.root(torch.cat([y1, self.tree2(y1)], 1))


class NestedTrees(nn.Module):
    """A stem, then a tree two levels deep (`tree1.tree1`, `tree1.tree2`, `tree2.tree1`, ...)."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.tree1 = Tree(width, 2)

    def forward(self, x):
        return self.tree1(self.stem(x))


SHARING_BLOCKS = {"torch_attention": _TorchAttentionBlock, "called_twice": _CalledTwice}
"""The patterns as blocks of one width, as tests/torch_patterns.py's BLOCKS (the importer's property test)."""

SHARING_PATTERNS = {
    "interleaved_lists": (InterleavedLists, (3, 8, 8)),
    "shared_head": (SharedHead, (3, 16, 16)),
    "torch_attention": (TorchAttention, (3, 4, 4)),
    "shared_token_mlp": (SharedTokenMlp, (3, 8, 8)),
    "nested_trees": (NestedTrees, (3, 8, 8)),
    "held_in_blocks": (HeldInBlocks, (3, 8, 8)),
}
"""kind → (module class, input shape C, H, W), as tests/torch_patterns.py's PATTERNS."""
