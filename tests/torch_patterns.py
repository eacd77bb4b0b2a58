"""Torch modules written here that reproduce what real model libraries export, one pattern each.

Each is built by `pattern(kind)` (the factory `torch:torch_patterns:pattern` reads, with `--arg
kind=...`) at the input shape in INPUTS. They are written from the papers' descriptions and from
what the exports contain, not copied from any library.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from torch_sharing import SHARING_BLOCKS, SHARING_PATTERNS


class BatchNormAct(nn.BatchNorm2d):
    """A batch norm with its activation inside (one module holds the parameters and the act)."""

    def __init__(self, channels: int):
        super().__init__(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


class GroupNormAct(nn.GroupNorm):
    """A group norm with its activation inside (timm's GroupNormAct: the norm's parameters are the module's own)."""

    def __init__(self, groups: int, channels: int):
        super().__init__(groups, channels)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


class GroupNormActs(nn.Module):
    """A conv, a GroupNormAct (BiT's pre-activation norms), a 1×1 conv."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.norm = GroupNormAct(2, width)
        self.conv = nn.Conv2d(width, width, 1)

    def forward(self, x):
        return self.conv(self.norm(self.stem(x)))


class PreActivation(nn.Module):
    """A pre-activation residual block: norm + act before each conv, a norm + act after the sum."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.bn1 = BatchNormAct(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.norm = BatchNormAct(width)

    def forward(self, x):
        x = self.conv1(x)
        return self.norm(self.conv2(self.bn1(x)) + x)


class GeluMlp(nn.Module):
    """GELU after a conv and inside a channels-last MLP (ConvNeXt-style): exporters below opset 20
    write it as x · ½ · (1 + erf(x / √2))."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.act2 = nn.GELU()
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x):
        x = self.act(self.stem(x))
        y = self.fc2(self.act2(self.fc1(self.norm(x.permute(0, 2, 3, 1)))))
        return x + y.permute(0, 3, 1, 2)


class InceptionPool(nn.Module):
    """Inception's pool branch: an average pool that leaves its padding out of the mean, then a 1×1 conv,
    concatenated with a 1×1 conv branch."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2)
        self.branch1x1 = nn.Conv2d(width, width, 1)
        self.branch_pool = nn.Conv2d(width, width, 1)

    def forward(self, x):
        x = self.stem(x)
        pooled = nn.functional.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([self.branch1x1(x), self.branch_pool(pooled)], 1)


class StdConv2d(nn.Conv2d):
    """A conv whose weight is standardised per output channel at run time (BiT's weight standardisation)."""

    def forward(self, x):
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = w.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
        w = (w - mean) / torch.sqrt(var + 1e-6)
        return nn.functional.conv2d(x, w, self.bias, self.stride, self.padding)


class WeightStandardised(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = StdConv2d(3, width, 3, padding=1, bias=False)
        self.act = nn.ReLU()
        self.conv = StdConv2d(width, width, 3, stride=2)

    def forward(self, x):
        return self.conv(self.act(self.stem(x)))


class ConstantArithmetic(nn.Module):
    """Arithmetic with constants on feature maps: a literal 0 added (a zero-initialised branch), a fixed
    normalisation, c − x, a learned positional table, a coordinate grid built from arange."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.pos_embed = nn.Parameter(torch.randn(1, width, 6, 6))
        self.conv2 = nn.Conv2d(width, width, 1)

    def forward(self, x):
        y = self.conv1(x) + 0.0
        y = 1.0 - (y - 0.5) / 2.0
        y = y + self.pos_embed
        grid = torch.arange(y.shape[-1], dtype=y.dtype).view(1, 1, 1, -1).expand(1, 1, y.shape[-2], y.shape[-1])
        return self.conv2(y * 3.0 + grid)


class CrossStagePartial(nn.Module):
    """A C2f-style stage (split in two, keep both halves, concat with each bottleneck's output), a
    mixed-kernel depthwise conv over channel groups (MixNet) and a partial-channel residual (ReXNet)."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.cv1 = nn.Conv2d(3, 2 * width, 1)
        self.m = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(2))
        self.cv2 = nn.Conv2d(4 * width, 4 * width, 1)
        self.mixed = nn.ModuleList(nn.Conv2d(c, c, k, padding=k // 2, groups=c) for c, k in ((2 * width, 3), (width, 5), (width, 7)))
        self.expand = nn.Conv2d(4 * width, 6 * width, 1)

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        x = self.cv2(torch.cat(y, 1))
        parts = torch.split(x, [conv.in_channels for conv in self.mixed], 1)
        x = torch.cat([conv(part) for conv, part in zip(self.mixed, parts)], 1)
        y = self.expand(x)
        return torch.cat([y[:, : x.shape[1]] + x, y[:, x.shape[1]:]], 1)


class TokenAttention(nn.Module):
    """A conv-attention hybrid block: a feature map flattened to tokens, multi-head self-attention from
    separate q, k, v linears (matmuls of activations, a softmax over the keys), folded back and added."""

    def __init__(self, width: int = 16, heads: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, stride=2, padding=1)
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.proj = nn.Linear(width, width)
        self.heads = heads

    def forward(self, x):
        x = self.conv(x)
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        q, k, v = (f(t).reshape(n, h * w, self.heads, c // self.heads).transpose(1, 2) for f in (self.q, self.k, self.v))
        a = torch.softmax((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5, dim=-1)
        t = self.proj((a @ v).transpose(1, 2).reshape(n, h * w, c))
        return t.transpose(1, 2).reshape(n, c, h, w) + x


class NormsAndSplitAttention(nn.Module):
    """A one-group GroupNorm and an instance norm (exported as InstanceNormalization, GroupNorm written out
    around one), then split attention (ResNeSt): radix branches viewed as N×R×C×H×W and summed, a gate per
    branch, a weighted sum; and selective-kernel attention's torch.stack of branches summed over the stack."""

    def __init__(self, width: int = 8, radix: int = 2):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.gn = nn.GroupNorm(1, width)
        self.inorm = nn.InstanceNorm2d(width, affine=True)
        self.gn4 = nn.GroupNorm(4, width)
        self.conv = nn.Conv2d(width, width * radix, 3, padding=1, groups=radix)
        self.fc1 = nn.Conv2d(width, width // 2, 1)
        self.fc2 = nn.Conv2d(width // 2, width * radix, 1)
        self.branches = nn.ModuleList(nn.Conv2d(width, width, k, padding=k // 2) for k in (3, 5))
        self.radix = radix

    def forward(self, x):
        x = self.gn4(self.inorm(self.gn(self.stem(x))))
        n, c = x.shape[:2]
        y = self.conv(x).reshape(n, self.radix, c, *x.shape[2:])
        gap = y.sum(dim=1).mean((2, 3), keepdim=True)
        attn = torch.softmax(self.fc2(torch.relu(self.fc1(gap))).reshape(n, self.radix, c, 1, 1), dim=1)
        x = (y * attn).sum(dim=1)
        stacked = torch.stack([b(x) for b in self.branches], dim=1)
        return stacked.sum(dim=1)


class SelectivePaths(nn.Module):
    """Selective-kernel branches: a ModuleList that is never called itself, each branch a norm with its
    activation inside and a conv, the branches summed. TorchScript names a branch's scope `paths.0` under
    its block (the list's name, then its own), where a called container's child is `layer1.0`."""

    def __init__(self, width: int):
        super().__init__()
        # the norm before the conv: an exporter folds a norm after a conv, and the params would be the graph's
        self.paths = nn.ModuleList(nn.Sequential(OrderedDict(bn=BatchNormAct(width), conv=nn.Conv2d(width, width, k, padding=k // 2)))
                                   for k in (1, 3))
        for branch in self.paths:  # trained-looking: torch.export shares an untrained norm's zero shift with its zero mean
            nn.init.uniform_(branch.bn.weight, 0.5, 1.5)
            nn.init.normal_(branch.bn.bias, std=0.1)

    def forward(self, x):
        return self.paths[0](x) + self.paths[1](x)


class SelectiveBranches(nn.Module):
    """A stem, then two selective-kernel blocks in a Sequential."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.layer = nn.Sequential(SelectivePaths(width), SelectivePaths(width))

    def forward(self, x):
        return self.layer(self.stem(x))


class InPlaceHead(nn.Module):
    """MobileNetV3's head (Howard et al. 2019, Fig. 5): pooled, a 1×1 conv, an in-place hard swish, flattened, a
    linear. After an in-place activation torch.export's exporter scopes the flatten's Reshape under the linear."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv_head = nn.Conv2d(width, 2 * width, 1)
        self.act2 = nn.Hardswish(inplace=True)
        self.flatten = nn.Flatten(1)
        self.classifier = nn.Linear(2 * width, 5)

    def forward(self, x):
        return self.classifier(self.flatten(self.act2(self.conv_head(self.pool(self.stem(x))))))


class LearnedAffine(nn.Module):
    """A learned scale and shift of one number each (HGNetV2's learnable affine block), trained away from 1 and 0."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.5]))
        self.bias = nn.Parameter(torch.tensor([0.25]))

    def forward(self, x):
        return self.scale * x + self.bias


class PaddedStem(nn.Module):
    """HGNetV2's stem (PP-HGNetV2): a conv and its learned affine, the map padded on the right and bottom, then both a 2×2 conv with its batch
    norm and a 2×2 max pool of the padded map, concatenated. torch.export's optimiser fuses the norm and the pad into
    the conv, which then reads the map the pad reads: a reader more than the map's FX node had, not a merged twin."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem1 = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(), LearnedAffine())
        self.stem2a = nn.Sequential(nn.Conv2d(width, width, 2, bias=False), nn.BatchNorm2d(width))
        self.pool = nn.MaxPool2d(2, stride=1)
        self.stem3 = nn.Conv2d(2 * width, width, 1)

    def forward(self, x):
        x = nn.functional.pad(self.stem1(x), (0, 1, 0, 1))
        return self.stem3(torch.cat([self.pool(x), self.stem2a(x)], 1))


class RadixSoftmax(nn.Module):
    """ResNeSt's gate over its radix splits as a module of its own (Zhang et al. 2020, Sec. 3.1): the gate's logits viewed
    as N × cardinality × radix × rest, the radix brought forward, a softmax over it, flattened again."""

    def __init__(self, radix: int, cardinality: int = 1):
        super().__init__()
        self.radix, self.cardinality = radix, cardinality

    def forward(self, x):
        n = x.size(0)
        return torch.softmax(x.view(n, self.cardinality, self.radix, -1).transpose(1, 2), dim=1).reshape(n, -1)


class RadixGate(nn.Module):
    """Split attention whose softmax is that module: its row, named `rsoftmax`, holds the module's flat output."""

    def __init__(self, width: int = 8, radix: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(3, width * radix, 3, padding=1)
        self.fc1 = nn.Conv2d(width, width // 2, 1)
        self.fc2 = nn.Conv2d(width // 2, width * radix, 1)
        self.rsoftmax = RadixSoftmax(radix)
        self.radix = radix

    def forward(self, x):
        splits = torch.split(self.conv(x), self.conv.out_channels // self.radix, dim=1)
        gap = nn.functional.adaptive_avg_pool2d(sum(splits), 1)
        attn = self.rsoftmax(self.fc2(torch.relu(self.fc1(gap)))).view(x.size(0), -1, 1, 1)
        return sum(a * s for a, s in zip(torch.split(attn, self.conv.out_channels // self.radix, dim=1), splits))


class _ScaledBlock(nn.Module):
    """A ConvNeXt-style block that holds its layer scale itself (ConvNeXt's and RDNet's `gamma`, not a module of its
    own), viewed as 1×C×1×1 in the forward."""

    def __init__(self, c: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.pw = nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.rand(c))

    def forward(self, x):
        return x + self.pw(self.conv_dw(x)) * self.gamma.reshape(1, -1, 1, 1)


class BlockLayerScales(nn.Module):
    """A stem and two blocks that each hold their layer scale: the scale's row is named by its parameter's path."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 2, stride=2)
        self.blocks = nn.Sequential(_ScaledBlock(width), _ScaledBlock(width))

    def forward(self, x):
        return self.blocks(self.stem(x))


class SequentialLayerScales(nn.Sequential):
    """The same as a Sequential itself: its parameters' names start with a number (`1.gamma`, `0.weight`)."""

    def __init__(self, width: int = 8):
        super().__init__(nn.Conv2d(3, width, 2, stride=2), _ScaledBlock(width), _ScaledBlock(width))


PATTERNS = {
    "sequential_layer_scale": (SequentialLayerScales, (3, 8, 8)),
    "preact": (PreActivation, (3, 16, 16)),
    "gelu": (GeluMlp, (3, 8, 8)),
    "inception_pool": (InceptionPool, (3, 17, 17)),
    "weight_standardisation": (WeightStandardised, (3, 12, 12)),
    "constant_arithmetic": (ConstantArithmetic, (3, 12, 12)),
    "cross_stage_partial": (CrossStagePartial, (3, 8, 8)),
    "token_attention": (TokenAttention, (3, 8, 8)),
    "norms_and_split_attention": (NormsAndSplitAttention, (3, 8, 8)),
    "selective_branches": (SelectiveBranches, (3, 8, 8)),
    "in_place_head": (InPlaceHead, (3, 8, 8)),
    "padded_stem": (PaddedStem, (3, 16, 16)),
    "group_norm_act": (GroupNormActs, (3, 8, 8)),
    "block_layer_scale": (BlockLayerScales, (3, 8, 8)),
    "radix_softmax": (RadixGate, (3, 8, 8)),
}
"""kind → (module class, input shape C, H, W)."""
PATTERNS.update(SHARING_PATTERNS)


def pattern(kind: str = "preact", **kwargs) -> nn.Module:
    """The pattern's module, seeded, in eval mode."""
    torch.manual_seed(0)
    return PATTERNS[kind][0](**kwargs).eval()


class _Gelu(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.conv(x))


class _Pool(nn.Module):
    def __init__(self, c: int):
        super().__init__()

    def forward(self, x):
        return nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class _Constants(nn.Module):
    def __init__(self, c: int):
        super().__init__()

    def forward(self, x):
        return 1.0 - (x * 2.0 + 0.5) / 3.0


class _Stack(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(c, c, k, padding=k // 2) for k in (1, 3))

    def forward(self, x):
        return torch.stack([b(x) for b in self.branches], dim=1).sum(dim=1)


class _StdConv(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = StdConv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class _GroupNorm(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.GroupNorm(2, c)

    def forward(self, x):
        return self.norm(x)


class _Attention(TokenAttention):
    def __init__(self, c: int):
        super().__init__(c, 2)
        self.conv = nn.Conv2d(c, c, 1)


class _NormAct(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = BatchNormAct(c)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


BLOCKS = {"gelu": _Gelu, "pool": _Pool, "constants": _Constants, "stack": _Stack, "std_conv": _StdConv, "group_norm": _GroupNorm,
          "attention": _Attention, "norm_act": _NormAct}
"""The patterns as blocks of one width, for random chains (the importer's property test)."""
BLOCKS.update(SHARING_BLOCKS)


def chain(kinds: list[str], width: int) -> nn.Module:
    """A stem to `width` channels, then the blocks of `kinds` in order, seeded, in eval mode. Named, not
    numbered: a numbered top level read from inside a block's own numbered list (`1.branches.0` reading
    `0`) raises to a `from: '0'` that the block's own `0` shadows, a limit of the spec's name lookup."""
    torch.manual_seed(0)
    blocks = [("stem", nn.Conv2d(3, width, 3, padding=1)), *((f"block{i}", BLOCKS[k](width)) for i, k in enumerate(kinds))]
    return nn.Sequential(OrderedDict(blocks)).eval()
