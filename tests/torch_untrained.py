"""Untrained models as libraries build them (no weights loaded), in torch, written here: the values their initialisers
leave (zero biases, tables of zeros, norms of ones and zeros) are what PyTorch's exporters merge, fold and drop.

`ZeroBiasNet`: convs and a linear whose biases start at zero (timm's and most libraries' init), a norm after one conv.
`ZeroTableBlocks`: two LeViT-style attention blocks whose offset tables start at zero (LeViT's init): equal tables of
two modules, which TorchScript's exporter writes once.
`TwinNorms`, `RepMixer`: two modules' norms of one tensor, equal untrained, which torch.export's optimiser merges
into one node (RepMixer's read through a `0 +` the optimiser removes).
`CopiedHead`: a head and its deep copy, equal untrained (YOLOv10's one-to-one head).
`CopiedBranches`: YOLOv10's two classification branches (a depthwise conv small enough for the optimiser to merge
with its copy's, then larger pointwise convs), with batch norms or fused as its exporter fuses them.
`RepeatedStages`: modules `repeat`, `repeat_1`, `repeat_2` (Inception-ResNet's), each its own.
`AffineBlocks`: blocks each with a learnable scale and shift of one number (HGNetV2's), 1 and 0 in every block.
`NumberedBranches`: modules named `branch_1`, `branch_2`, as TorchScript names a module's later calls.
`PooledNorm`: a cell's norm read by two equal pools of the cell (NASNet's), merged by torch.export's optimiser.
`CalledPastTheirContainer`: blocks a Sequential holds, called past it (HarDNet's, as pytorchcv writes it).
`OneScopeTwoModules`: two Sequentials' `unit1`, called past both, which TorchScript scopes alike (FishNet's, HRNet's).
`TwinPools`, `TwinActivations`, `SharedState`: two modules' pools, or ReLUs, of one tensor, merged by torch.export's
optimiser whatever the weights, with nothing to count (the norm below SharedState's ReLUs is one module both read).
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from torch_tables import OffsetBiasAttention


class ZeroBiasNet(nn.Module):
    """conv (bias 0) → BN → ReLU → conv (no bias) → conv 1×1 (bias 0) → global pool → linear (bias 0)."""

    def __init__(self, width: int = 8, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.conv = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.proj = nn.Conv2d(width, 2 * width, 1)
        self.fc = nn.Linear(2 * width, classes)
        for layer in (self.stem, self.proj, self.fc):
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        y = self.proj(self.conv(torch.relu(self.bn(self.stem(x)))))
        return self.fc(y.mean((2, 3)))


class ZeroTableBlocks(nn.Module):
    """A conv stem to a 4 × 4 map, then two attention blocks with offset tables of zeros."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(OffsetBiasAttention(channels), OffsetBiasAttention(channels))
        for block in self.blocks:
            nn.init.zeros_(block.attention_biases)

    def forward(self, x):
        return self.blocks(self.stem(x))


class TwinNorms(nn.Module):
    """Two modules' norms of one tensor, untrained (so they compute the same thing): a block's two pre-activated
    branches (DPN's projection and its main path: norm, ReLU, conv, the main one's conv followed by a norm), and a
    classifier's two heads on the pooled features (RepViT's head and distillation head: norm, linear, averaged)."""

    def __init__(self, width: int = 8, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.proj = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, width, 1, bias=False))
        self.main = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.head = nn.Sequential(nn.BatchNorm1d(width), nn.Linear(width, classes))
        self.head_dist = nn.Sequential(nn.BatchNorm1d(width), nn.Linear(width, classes))

    def forward(self, x):
        x = torch.relu(self.stem(x))  # the norms read no conv's output: none is folded into the stem
        x = self.proj(x) + self.main(x)
        pooled = x.mean((2, 3))
        return (self.head(pooled) + self.head_dist(pooled)) / 2


class RepMixer(nn.Module):
    """FastViT's token mixer before reparameterisation: x + γ·(mixer(x) − norm(x)), the mixer a depthwise conv and norm
    plus an identity norm of x, the norm written as `0 + norm(x)` (an empty branch sum). Untrained, the two norms of
    x compute the same thing: torch.export's optimiser merges them and removes the `+ 0`."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.conv = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False), nn.BatchNorm2d(width))
        self.identity = nn.BatchNorm2d(width)
        self.norm = nn.BatchNorm2d(width)
        self.gamma = nn.Parameter(torch.full((width, 1, 1), 1e-5))

    def forward(self, x):
        x = torch.relu(self.stem(x))
        mixed = self.conv(x) + self.identity(x)
        normed = 0 + self.norm(x)
        return x + self.gamma * (mixed - normed)


class TwinPools(nn.Module):
    """Two modules' pools of one tensor (DLA's tree and its root both downsample a level's input): equal whatever the
    weights, merged by torch.export's optimiser, with nothing to count; the conv and ReLU below them are one module."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.tree = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(width, width, 1))
        self.root = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x):
        x = torch.relu(self.stem(x))
        return self.tree(x) + self.root(x)


class TwinActivations(nn.Module):
    """Two modules' ReLUs of one conv and norm's output (DARTS's cell: each operation starts with its own ReLU of a
    shared state), merged by torch.export's optimiser: the ReLUs merge, the conv and norm below them (a random
    kernel, equal to no other) do not."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.op_a = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 1))
        self.op_b = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x):
        x = self.stem(x)
        return self.op_a(x) + self.op_b(x)


class SharedState(nn.Module):
    """DARTS's cell, untrained: a state normed once (a norm of fills, after a pool: nothing to fold it into) and read
    by two operations, each starting with its own ReLU of it. The ReLUs merge; the one norm both read does not."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.preprocess = nn.BatchNorm2d(width)
        self.op_a = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 1))
        self.op_b = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x):
        state = self.preprocess(self.pool(torch.relu(self.stem(x))))
        return self.op_a(state) + self.op_b(state)


class _NasCell(nn.Module):
    """NASNet's cell (Zoph et al. 2018, Fig. 4), untrained: two paths concatenated and normed by the cell's
    `final_path_bn` (nothing to fold it into), then two equal average pools of it, the cell's `comb_iter_3_left` and
    `comb_iter_3_right`, summed. The pools merge; the norm, a sibling of theirs, is the one both read."""

    def __init__(self, width: int):
        super().__init__()
        self.path_1 = nn.Conv2d(width, width, 1, bias=False)
        self.path_2 = nn.Conv2d(width, width, 1, bias=False)
        self.final_path_bn = nn.BatchNorm2d(2 * width)
        self.comb_iter_3_left = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.comb_iter_3_right = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x):
        left = self.final_path_bn(torch.cat([self.path_1(x), self.path_2(x)], 1))
        return self.comb_iter_3_left(left) + self.comb_iter_3_right(left)


class PooledNorm(nn.Module):
    """A stem, then a NASNet cell."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.cell_0 = _NasCell(width)

    def forward(self, x):
        return self.cell_0(torch.relu(self.stem(x)))


class CopiedHead(nn.Module):
    """YOLOv10's two heads: a head and its deep copy (the one-to-one head, `copy.deepcopy(self.cv2)`) on one feature
    map, untrained: two modules whose parameters are equal (random, not fills), which the exporters merge."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.head = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 4, 1))
        self.head_copy = copy.deepcopy(self.head)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        return torch.cat([self.head(x), self.head_copy(x.detach())], 1)


class _ConvAct(nn.Module):
    """A conv, a batch norm (or none, the norm fused into the conv's bias) and a SiLU: YOLO's `Conv` module."""

    def __init__(self, c_in: int, c_out: int, kernel: int, groups: int = 1, fused: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=fused)
        self.bn = nn.Identity() if fused else nn.BatchNorm2d(c_out)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class CopiedBranches(nn.Module):
    """YOLOv10's classification branch and its one-to-one deep copy on one feature map, untrained: a depthwise 3×3
    (576 weights, within the 1,024 elements up to which torch.export's optimiser deduplicates initializers, so the
    copy's merges into the original's), then pointwise convs too large to merge; both heads' outputs concatenated."""

    def __init__(self, width: int = 64, classes: int = 40, fused: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.cv3 = nn.Sequential(nn.Sequential(_ConvAct(width, width, 3, width, fused), _ConvAct(width, classes, 1, fused=fused)),
                                 nn.Conv2d(classes, classes, 1))
        self.one2one_cv3 = copy.deepcopy(self.cv3)

    def forward(self, x):
        x = self.stem(x)
        return torch.cat([self.cv3(x), self.one2one_cv3(x.detach())], 1)


class NumberedBranches(nn.Module):
    """Inception's naming: modules `branch_1` and `branch_2` (no `branch`), each a conv, an untrained norm and a ReLU,
    concatenated; TorchScript names a second call of a module `branch_1` too."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        for k in (1, 2):
            setattr(self, f"branch_{k}", nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()))

    def forward(self, x):
        x = torch.relu(self.stem(x))
        return torch.cat([self.branch_1(x), self.branch_2(x)], 1)


class RepeatedStages(nn.Module):
    """Inception-ResNet's naming: stages `repeat`, `repeat_1` and `repeat_2` (Szegedy et al. 2016, its 5 × A, 10 × B and
    5 × C blocks), each a conv, an untrained norm and a ReLU; the later ones named as TorchScript names a second and
    third call of `repeat`, but modules of their own (the file names their parameters)."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1)
        for name in ("repeat", "repeat_1", "repeat_2"):
            setattr(self, name, nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()))

    def forward(self, x):
        return self.repeat_2(self.repeat_1(self.repeat(self.stem(x))))


class Affine(nn.Module):
    """A learnable scale and shift of one number each, 1 and 0 untrained (HGNetV2's learnable affine block)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.scale * x + self.bias


class AffineBlocks(nn.Module):
    """Three blocks of a conv, a ReLU and an Affine, whose equal scales and shifts the exporters write once."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.blocks = nn.Sequential(*(nn.Sequential(OrderedDict(conv=nn.Conv2d(width, width, 3, padding=1), act=nn.ReLU(), lab=Affine()))
                                      for _ in range(3)))

    def forward(self, x):
        return self.blocks(self.stem(x))


class CalledPastTheirContainer(nn.Module):
    """HarDNet's unit as pytorchcv writes it: blocks held in a Sequential by name (`blocks.block1`, `blocks.block2`) and
    called one by one from the unit's forward (`self.blocks._modules.values()`), never through the Sequential, so
    TorchScript scopes them `block1`, without `blocks`. Each block is a conv, its untrained norm and a ReLU6 in one
    Sequential (`pw_conv`), then a 1×1 conv with no norm: its weight keeps its name even where the norm is folded."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.blocks = nn.Sequential(OrderedDict(
            (f"block{k}", nn.Sequential(OrderedDict(
                pw_conv=nn.Sequential(OrderedDict(conv=nn.Conv2d(width, width, 1, bias=False), bn=nn.BatchNorm2d(width), activ=nn.ReLU6())),
                proj=nn.Conv2d(width, width, 1))))
            for k in (1, 2)))

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks._modules.values():
            x = block(x)
        return x


class OneScopeTwoModules(nn.Module):
    """FishNet's and HRNet's units as pytorchcv writes them: two Sequentials each hold a `unit1` (a conv, its untrained
    norm, a ReLU), called from the parent's forward past both, so TorchScript scopes both `unit1` (the second's norm
    `unit1/bn_1`, as a second call of one module); the two norms' equal weights are written once, the second read through
    an Identity named with its own parameter's name. `slashed`: the norms named `conv/bn`, as MONAI's HoVerNet names
    its modules (a `/` in a PyTorch name)."""

    def __init__(self, width: int = 8, slashed: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        norm = "conv/bn" if slashed else "bn"

        def unit():
            return nn.Sequential(OrderedDict([("conv", nn.Conv2d(width, width, 3, padding=1, bias=False)), (norm, nn.BatchNorm2d(width)), ("act", nn.ReLU())]))

        self.down_seq = nn.Sequential(OrderedDict(unit1=unit()))
        self.skip_seq = nn.Sequential(OrderedDict(unit1=unit()))

    def forward(self, x):
        x = self.stem(x)
        units = (*self.down_seq._modules.values(), *self.skip_seq._modules.values())
        return units[0](x) + units[1](x)


def untrained(kind: str = "zero_bias") -> nn.Module:
    """The factory `torch:` reads: the model of `kind`, seeded, untrained, in eval mode."""
    torch.manual_seed(0)
    kinds = {"zero_bias": ZeroBiasNet, "zero_tables": ZeroTableBlocks, "twin_norms": TwinNorms, "numbered": NumberedBranches,
             "twin_pools": TwinPools, "twin_activations": TwinActivations, "repmixer": RepMixer, "shared_state": SharedState,
             "copied_head": CopiedHead, "copied_branches": CopiedBranches, "copied_fused_branches": lambda: CopiedBranches(fused=True),
             "affine_blocks": AffineBlocks, "repeated_stages": RepeatedStages,
             "pooled_norm": PooledNorm, "called_past_their_container": CalledPastTheirContainer, "one_scope_two_modules": OneScopeTwoModules,
             "one_scope_two_slashed_modules": lambda: OneScopeTwoModules(slashed=True)}
    return kinds[kind]().eval()
