"""Attention over feature maps whose keys and values are reduced in space, written from the papers' descriptions for
the ONNX pattern tests.

PVT v2 (Wang et al., "PVT v2: Improved Baselines with Pyramid Vision Transformer", arXiv 2106.13797, §3 and Fig. 1):
an overlapping patch embedding (a conv of kernel 2s − 1 and stride s, zero padding s − 1, then a layer norm over the
channels of the map moved channels last, the positions flattened to tokens B × N × C); pre-norm blocks of
spatial-reduction attention (queries from a linear on every token; keys and values from a linear on the tokens of the
map reduced by a conv of kernel and stride R, then layer-normed; heads, scaled q·kᵀ, softmax, ·v, a projection) and a
feed-forward whose hidden tokens pass a depthwise 3×3 conv on the map between its two linears; the tokens reshaped
back to the map at the end of the stage.

MaxViT (Tu et al., "MaxViT: Multi-Axis Vision Transformer", arXiv 2204.01697, §3.2 and Fig. 3): multi-axis attention
on a map held channels last. Block attention partitions it into (H/P × W/P) windows of P × P positions, grid attention
into a G × G grid whose cells are H/G × W/G apart; each is a batch of sequences (the batch merged with the windows,
`reshape(-1, P·P, C)`), pre-norm self-attention over them with a learned relative position bias, a (2P − 1)² × heads
table gathered by every pair's offset (a buffer), then put back; each followed by a pre-norm GELU MLP. Where the map
is one window (`single`) the partition leaves the batch alone.

BoTNet (Srinivas et al., "Bottleneck Transformers for Visual Recognition", arXiv 2101.11605, §3 and Fig. 4): multi-head
self-attention over all positions of a map from 1×1 convs, its logits q·kᵀ plus relative ones q·rᵀ, r the sum of
learned row and column embeddings (R_h, R_w: (2H − 1) and (2W − 1) × d) at each pair's offset. The relative logits
are computed as Attention Augmented Convolutional Networks (Bello et al., arXiv 1904.09925, §3.3.1) does it: q times
every relative embedding, then from relative to absolute positions by padding one column, flattening, padding, viewing
as (W + 1) × (2W − 1) and keeping the W × W absolute block, tiled over the other axis.

`fused` writes the attention as F.scaled_dot_product_attention, as the libraries do when they export; PyTorch's
FlopCounterMode does not count that kernel on the CPU, so the reference counts the same module written out.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def attend(q, k, v, fused: bool):
    """softmax(q·kᵀ / √d)·v over the last two dims."""
    if fused:
        return F.scaled_dot_product_attention(q, k, v)
    weights = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    return weights @ v


class SpatialReductionAttention(nn.Module):
    """PVT v2's attention over B × N × C tokens of an h × w map: keys and values from the map reduced R times."""

    def __init__(self, channels: int, heads: int, reduction: int, fused: bool):
        super().__init__()
        self.heads, self.fused = heads, fused
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(channels, 2 * channels)
        self.sr = nn.Conv2d(channels, channels, reduction, stride=reduction)
        self.norm = nn.LayerNorm(channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x, h: int, w: int):
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, -1).permute(0, 2, 1, 3)
        reduced = self.sr(x.permute(0, 2, 1).reshape(b, c, h, w)).reshape(b, c, -1).permute(0, 2, 1)
        k, v = self.kv(self.norm(reduced)).reshape(b, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(attend(q, k, v, self.fused).transpose(1, 2).reshape(b, n, c))


class DepthwiseMlp(nn.Module):
    """A linear, a depthwise 3×3 conv on the hidden tokens as a map, GELU, a linear."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x, h: int, w: int):
        x = self.fc1(x)
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        return self.fc2(self.act(x))


class PyramidBlock(nn.Module):
    def __init__(self, channels: int, heads: int, reduction: int, fused: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attn = SpatialReductionAttention(channels, heads, reduction, fused)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = DepthwiseMlp(channels, 2 * channels)

    def forward(self, x, h: int, w: int):
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class PyramidStage(nn.Module):
    """An overlapping patch embedding (kernel 7, stride 4), two blocks, a layer norm, the tokens back to a map, a head."""

    def __init__(self, channels: int = 8, heads: int = 2, reduction: int = 2, fused: bool = True, classes: int = 5):
        super().__init__()
        self.proj = nn.Conv2d(3, channels, 7, stride=4, padding=3)
        self.embed_norm = nn.LayerNorm(channels)
        self.blocks = nn.ModuleList(PyramidBlock(channels, heads, reduction, fused) for _ in range(2))
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.embed_norm(self.proj(x).permute(0, 2, 3, 1))
        b, h, w, c = x.shape
        x = x.reshape(b, -1, c)
        for block in self.blocks:
            x = block(x, h, w)
        x = self.norm(x).reshape(b, h, w, c).permute(0, 3, 1, 2)
        return self.head(x.mean((2, 3)))


def _offsets(side: int) -> torch.Tensor:
    """The index of every pair of a side × side window's positions into a (2·side − 1)² table, by their offset."""
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    points = torch.stack((rows.flatten(), cols.flatten()))
    offsets = points[:, :, None] - points[:, None, :] + side - 1
    return offsets[0] * (2 * side - 1) + offsets[1]


class WindowAttention(nn.Module):
    """Self-attention over (B·S) × N × C sequences of side × side windows, a relative position bias per head."""

    def __init__(self, channels: int, heads: int, side: int, fused: bool, heads_first: bool = False, stacked: bool = False):
        super().__init__()
        self.heads, self.fused, self.heads_first, self.stacked = heads, fused, heads_first, stacked
        self.qkv = nn.Linear(channels, 3 * channels)
        self.bias_table = nn.Parameter(torch.randn((2 * side - 1) ** 2, heads) * 0.02)
        self.register_buffer("index", _offsets(side), persistent=False)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x):
        b, n, c = x.shape
        if self.stacked:  # q, k and v stacked ahead of the windows, then taken apart (GC ViT's, Swin's layout)
            q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        elif self.heads_first:  # each head's q, k and v side by side: the heads split off first, then each taken apart
            q, k, v = self.qkv(x).reshape(b, n, self.heads, -1).transpose(1, 2).chunk(3, dim=-1)
        else:
            q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        bias = self.bias_table[self.index.flatten()].reshape(n, n, self.heads).permute(2, 0, 1).unsqueeze(0)
        if self.fused:
            mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            mixed = (((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)) + bias).softmax(dim=-1) @ v
        return self.proj(mixed.transpose(1, 2).reshape(b, n, c))


class PartitionBlock(nn.Module):
    """Pre-norm attention over the windows (`block`) or the grid (`grid`) of a B × H × W × C map, then a GELU MLP."""

    def __init__(self, channels: int, heads: int, side: int, grid: bool, fused: bool, heads_first: bool = False, stacked: bool = False):
        super().__init__()
        self.side, self.grid = side, grid
        self.norm1 = nn.LayerNorm(channels)
        self.attn = WindowAttention(channels, heads, side, fused, heads_first, stacked)
        self.norm2 = nn.LayerNorm(channels)
        self.fc1 = nn.Linear(channels, 2 * channels)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * channels, channels)

    def partition(self, x):
        b, h, w, c = x.shape
        p = self.side
        if self.grid:
            return x.reshape(b, p, h // p, p, w // p, c).permute(0, 2, 4, 1, 3, 5).reshape(-1, p * p, c)
        return x.reshape(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, p * p, c)

    def reverse(self, windows, b: int, h: int, w: int):
        p, c = self.side, windows.shape[-1]
        if self.grid:
            return windows.reshape(b, h // p, w // p, p, p, c).permute(0, 3, 1, 4, 2, 5).reshape(b, h, w, c)
        return windows.reshape(b, h // p, w // p, p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)

    def forward(self, x):
        b, h, w, _ = x.shape
        x = x + self.reverse(self.attn(self.partition(self.norm1(x))), b, h, w)
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class MultiAxis(nn.Module):
    """A conv stem to a side × side map (channels last), block attention then grid attention, a pooled classifier."""

    def __init__(self, channels: int = 12, heads: int = 2, side: int = 2, fused: bool = True, classes: int = 5, heads_first: bool = False,
                 stacked: bool = False):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.block = PartitionBlock(channels, heads, side, False, fused, heads_first, stacked)
        self.grid = PartitionBlock(channels, heads, side, True, fused, heads_first, stacked)
        self.head = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.grid(self.block(self.stem(x).permute(0, 2, 3, 1)))
        return self.head(x.mean((1, 2)))


class GlobalQueryAttention(nn.Module):
    """GC ViT's global attention over (B·S) × N × C windows: keys and values from the windows (stacked ahead of them,
    then taken apart), the query one per sample from the map reduced to a window's size, repeated for its S windows
    (`interleave`: each sample's copies one after another, `repeat_interleave` as timm's GC ViT writes it)."""

    def __init__(self, channels: int, heads: int, fused: bool, interleave: bool = False):
        super().__init__()
        self.heads, self.fused, self.interleave = heads, fused, interleave
        self.kv = nn.Linear(channels, 2 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x, q_global):
        b, n, c = x.shape
        k, v = self.kv(x).reshape(b, n, 2, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        copies = b // q_global.shape[0]
        q = q_global.repeat_interleave(copies, dim=0) if self.interleave else q_global.repeat(copies, 1, 1, 1)
        q = q.reshape(b, n, self.heads, -1).permute(0, 2, 1, 3)
        return self.proj(attend(q, k, v, self.fused).transpose(1, 2).reshape(b, n, c))


class GlobalContext(nn.Module):
    """GC ViT (Hatamizadeh et al., "Global Context Vision Transformers", arXiv 2206.09959, §3 and Fig. 2): a conv stem
    to a map, its global query tokens made by a depthwise conv and a max pool down to one side × side window, layer-
    normed channels last; a pre-norm block of global attention over the map's windows, a GELU MLP; a pooled classifier."""

    def __init__(self, channels: int = 12, heads: int = 2, side: int = 4, fused: bool = True, classes: int = 5, interleave: bool = False):
        super().__init__()
        self.side = side
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.query_conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.query_pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.query_norm = nn.LayerNorm(channels)
        self.norm1 = nn.LayerNorm(channels)
        self.attn = GlobalQueryAttention(channels, heads, fused, interleave)
        self.norm2 = nn.LayerNorm(channels)
        self.fc1 = nn.Linear(channels, 2 * channels)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * channels, channels)
        self.head = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.stem(x)
        q_global = self.query_norm(self.query_pool(self.query_conv(x)).permute(0, 2, 3, 1))
        x = x.permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        p = self.side
        windows = self.norm1(x).reshape(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, p * p, c)
        mixed = self.attn(windows, q_global).reshape(b, h // p, w // p, p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        x = x + mixed
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        return self.head(x.mean((1, 2)))


class StackedAttention(nn.Module):
    """Multi-head attention over B × N × C tokens, q, k and v stacked ahead of the batch and taken apart; over the
    channels (`channels`): each head's d × d products kᵀ·v, softmax, then applied to q (DaViT's channel group
    attention), else over the positions (DaViT's window attention, no position bias)."""

    def __init__(self, channels: int, heads: int, over_channels: bool, fused: bool):
        super().__init__()
        self.heads, self.over_channels, self.fused = heads, over_channels, fused
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        if self.over_channels:
            weights = ((k * k.shape[-1] ** -0.5).transpose(-1, -2) @ v).softmax(dim=-1)
            mixed = (weights @ q.transpose(-1, -2)).transpose(-1, -2)
        else:
            mixed = attend(q, k, v, self.fused)
        return self.proj(mixed.transpose(1, 2).reshape(b, n, c))


class DualBlock(nn.Module):
    """A pre-norm residual attention over a B × C × H × W map's tokens: channel attention over all of them, or window
    attention over its side × side windows (merged with the batch; one window leaves the batch alone)."""

    def __init__(self, channels: int, heads: int, side: int | None, fused: bool):
        super().__init__()
        self.side = side
        self.norm = nn.LayerNorm(channels)
        self.attn = StackedAttention(channels, heads, side is None, fused)

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        y = self.norm(tokens)
        if self.side is None:
            y = self.attn(y)
        else:
            p = self.side
            y = y.reshape(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, p * p, c)
            y = self.attn(y).reshape(b, h // p, w // p, p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h * w, c)
        return (tokens + y).transpose(1, 2).reshape(b, c, h, w)


class DualAttention(nn.Module):
    """DaViT (Ding et al., "DaViT: Dual Attention Vision Transformers", arXiv 2204.03645, §3 and Fig. 2): a conv stem
    to an 8 × 8 map, window attention over 4 × 4 windows then channel group attention, a conv down to 4 × 4, window
    attention over its one window then channel attention again; a pooled classifier."""

    def __init__(self, channels: int = 12, heads: int = 2, fused: bool = True, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.spatial1 = DualBlock(channels, heads, 4, fused)
        self.channel1 = DualBlock(channels, heads, None, fused)
        self.down = nn.Conv2d(channels, 2 * channels, 2, stride=2)
        self.spatial2 = DualBlock(2 * channels, heads, 4, fused)
        self.channel2 = DualBlock(2 * channels, heads, None, fused)
        self.head = nn.Linear(2 * channels, classes)

    def forward(self, x):
        x = self.channel1(self.spatial1(self.stem(x)))
        x = self.channel2(self.spatial2(self.down(x)))
        return self.head(x.mean((2, 3)))


def _absolute(logits):
    """(n, rows, W, 2W − 1) logits per relative offset → (n, rows, W, W) per absolute position (AACN's trick)."""
    n, rows, width, _ = logits.shape
    flat = F.pad(F.pad(logits.reshape(-1, width, 2 * width - 1), [0, 1]).flatten(1), [0, width - 1])
    return flat.reshape(-1, width + 1, 2 * width - 1)[:, :width, width - 1:].reshape(n, rows, 1, width, width)


class RelativeLogits(nn.Module):
    """q·rᵀ for every pair of an h × w map's positions: learned row and column embeddings at the pair's offset."""

    def __init__(self, side: int, head: int):
        super().__init__()
        self.side = side
        self.height_rel = nn.Parameter(torch.randn(2 * side - 1, head) * 0.02)
        self.width_rel = nn.Parameter(torch.randn(2 * side - 1, head) * 0.02)

    def forward(self, q):
        n, length, _ = q.shape
        s = self.side
        q = q.reshape(n, s, s, -1)
        by_column = _absolute(q @ self.width_rel.transpose(0, 1)).expand(-1, -1, s, -1, -1).permute(0, 1, 3, 2, 4)
        by_row = _absolute(q.transpose(1, 2) @ self.height_rel.transpose(0, 1)).expand(-1, -1, s, -1, -1).permute(0, 3, 1, 4, 2)
        return (by_row + by_column).reshape(n, length, length)


class BottleneckAttention(nn.Module):
    """BoTNet's all-to-all attention on a side × side map: q, k, v from one 1×1 conv, heads merged with the batch."""

    def __init__(self, channels: int, heads: int, side: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=False)
        self.pos_embed = RelativeLogits(side, channels // heads)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).split(c, dim=1)
        head = c // self.heads
        q = q.reshape(b * self.heads, head, -1).transpose(-1, -2)
        k = k.reshape(b * self.heads, head, -1)
        v = v.reshape(b * self.heads, head, -1).transpose(-1, -2)
        weights = ((q @ k) * head ** -0.5 + self.pos_embed(q)).softmax(dim=-1)
        return (weights @ v).transpose(-1, -2).reshape(b, c, h, w)


class BottleneckTransformer(nn.Module):
    """A conv stem to a side × side map, a BoTNet block (1×1 conv, attention, 1×1 conv, residual), a pooled classifier."""

    def __init__(self, channels: int = 8, heads: int = 2, side: int = 4, classes: int = 5):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, stride=2, padding=1)
        self.reduce = nn.Conv2d(channels, channels, 1)
        self.self_attn = BottleneckAttention(channels, heads, side)
        self.expand = nn.Conv2d(channels, channels, 1)
        self.head = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.expand(self.self_attn(self.reduce(x)))
        return self.head(x.mean((2, 3)))


def spatial_model(kind: str = "pvt", fused: bool = True) -> nn.Module:
    """The model, seeded, in eval mode; input 3 × 16 × 16: `pvt`; `maxvit`, 2 × 2 windows of 4 × 4 positions on the
    8 × 8 map of 12 channels (and a 4 × 4 grid); `heads_first`, the same with each head's q, k and v taken apart after
    the heads are split off (q a range of the windows' last dim); `stacked`, the same with q, k and v stacked ahead of
    the windows and taken apart (GC ViT's layout); `single`, one window of 8 × 8 (the batch left alone);
    `botnet`, all 64 positions of the 8 × 8 map; `global`, GC ViT's global query over the 2 × 2 windows of 4 × 4 of the
    8 × 8 map (`global_interleaved`: its query copied by `repeat_interleave`, which TorchScript writes with a OneHot of
    the count); `dual`, DaViT's window and channel attention."""
    torch.manual_seed(0)
    models = {"pvt": lambda: PyramidStage(fused=fused), "maxvit": lambda: MultiAxis(side=4, fused=fused), "single": lambda: MultiAxis(side=8, fused=fused),
              "heads_first": lambda: MultiAxis(side=4, fused=fused, heads_first=True), "stacked": lambda: MultiAxis(side=4, fused=fused, stacked=True),
              "botnet": lambda: BottleneckTransformer(side=8), "global": lambda: GlobalContext(fused=fused),
              "global_interleaved": lambda: GlobalContext(fused=fused, interleave=True), "dual": lambda: DualAttention(fused=fused)}
    return models[kind]().eval()
