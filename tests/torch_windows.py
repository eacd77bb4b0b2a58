"""Attention on part of a feature map's channels, written here from the papers' descriptions.

SHViT (arXiv 2401.16456, §4.2 "Single-Head Self-Attention"): the channels are split into a part that attends
and the rest, left as it is; the attending part is normalised (GroupNorm of one group), projected by a 1 × 1
conv to a single head's query, key and value, attends over every position, and is concatenated with the rest
before a ReLU and a 1 × 1 projection with BN.

EfficientViT (arXiv 2305.07027, §3.2 "Cascaded Group Attention", Fig. 2): attention inside non-overlapping
windows, the windows taken as samples of the batch; each head attends over its own slice of the channels plus
the previous head's output (the cascade), through a 1 × 1 conv to its query, key and value and a depthwise conv
on the query; each head adds a learned bias per absolute offset between two positions of the window (LeViT's),
its row of a table of heads × offsets read through a fixed index; the heads' outputs are concatenated and
projected by a ReLU and a 1 × 1 conv with BN; the windows are put back in place.

TinyViT (arXiv 2207.10666, §3.2): Swin's attention in local windows (the windows taken as samples of the batch, tokens
channels last), with LeViT's learned bias per head and absolute offset added to the logits (the whole table of
heads × offsets, through a fixed index); a LayerNorm, one linear to every head's query, key and value, the heads'
outputs joined by a linear projection.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNorm(nn.Sequential):
    """A conv without bias and its BatchNorm2d (the exporters that fold constants merge the two)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)


class SingleHeadPartial(nn.Module):
    """SHViT's single-head attention on the first `part` channels; the rest joins again before the projection."""

    def __init__(self, channels: int = 16, part: int = 4, key: int = 8):
        super().__init__()
        self.channels, self.part, self.key = channels, part, key
        self.norm = nn.GroupNorm(1, part)
        self.qkv = ConvNorm(part, 2 * key + part)
        self.proj = nn.Sequential(nn.ReLU(), ConvNorm(channels, channels))

    def forward(self, x):
        n, _, h, w = x.shape
        attending, rest = torch.split(x, [self.part, self.channels - self.part], dim=1)
        q, k, v = torch.split(self.qkv(self.norm(attending)), [self.key, self.key, self.part], dim=1)
        q, k, v = q.flatten(2), k.flatten(2), v.flatten(2)
        weights = ((q.transpose(-2, -1) @ k) * self.key ** -0.5).softmax(dim=-1)
        attended = (v @ weights.transpose(-2, -1)).reshape(n, self.part, h, w)
        return self.proj(torch.cat([attended, rest], dim=1))


def _offsets(window: int) -> tuple[int, torch.Tensor]:
    """The distinct absolute offsets (|Δy|, |Δx|) in a window, and the index of every pair of its positions' offset."""
    points = [(y, x) for y in range(window) for x in range(window)]
    offsets: dict[tuple[int, int], int] = {}
    index = [offsets.setdefault((abs(p[0] - q[0]), abs(p[1] - q[1])), len(offsets)) for p in points for q in points]
    return len(offsets), torch.tensor(index).view(len(points), len(points))


class CascadedWindowAttention(nn.Module):
    """EfficientViT's cascaded group attention in `window` × `window` windows of the map."""

    def __init__(self, channels: int = 16, heads: int = 2, key: int = 4, window: int = 4, kernel: int = 3):
        super().__init__()
        self.heads, self.key, self.value, self.window = heads, key, channels // heads, window
        self.qkvs = nn.ModuleList(ConvNorm(channels // heads, 2 * key + self.value) for _ in range(heads))
        self.dws = nn.ModuleList(ConvNorm(key, key, kernel, groups=key) for _ in range(heads))
        self.proj = nn.Sequential(nn.ReLU(), ConvNorm(self.value * heads, channels))
        count, index = _offsets(window)
        self.attention_biases = nn.Parameter(torch.randn(heads, count))
        self.register_buffer("attention_bias_idxs", index, persistent=False)

    def attend(self, x):
        """The cascade over (windows)×C×w×w: each head's slice plus the previous head's output."""
        n, _, h, w = x.shape
        parts = x.chunk(self.heads, dim=1)
        biases = self.attention_biases[:, self.attention_bias_idxs]
        outputs, feature = [], parts[0]
        for head, (qkv, dw) in enumerate(zip(self.qkvs, self.dws)):
            if head:
                feature = feature + parts[head]
            q, k, v = qkv(feature).view(n, -1, h, w).split([self.key, self.key, self.value], dim=1)
            q, k, v = dw(q).flatten(2), k.flatten(2), v.flatten(2)
            logits = (q * self.key ** -0.5).transpose(-2, -1) @ k + biases[head]
            feature = (v @ logits.softmax(dim=-1).transpose(-2, -1)).view(n, self.value, h, w)
            outputs.append(feature)
        return self.proj(torch.cat(outputs, 1))

    def forward(self, x):
        n, c, h, w = x.shape
        s = self.window
        windows = x.permute(0, 2, 3, 1).view(n, h // s, s, w // s, s, c).transpose(2, 3)
        windows = windows.reshape(n * (h // s) * (w // s), s, s, c).permute(0, 3, 1, 2)
        y = self.attend(windows).permute(0, 2, 3, 1).view(n, h // s, w // s, s, s, c)
        return y.transpose(2, 3).reshape(n, h, w, c).permute(0, 3, 1, 2)


class WindowTokenAttention(nn.Module):
    """TinyViT's attention on the tokens of each `window` × `window` window, channels last."""

    def __init__(self, channels: int = 16, heads: int = 2, key: int = 4, window: int = 4):
        super().__init__()
        self.heads, self.key, self.value, self.window = heads, key, channels // heads, window
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, heads * (2 * key + self.value))
        self.proj = nn.Linear(heads * self.value, channels)
        count, index = _offsets(window)
        self.attention_biases = nn.Parameter(torch.randn(heads, count))
        self.register_buffer("attention_bias_idxs", index, persistent=False)

    def attend(self, tokens):
        n, length, _ = tokens.shape
        qkv = self.qkv(self.norm(tokens)).view(n, length, self.heads, -1)
        q, k, v = (part.permute(0, 2, 1, 3) for part in qkv.split([self.key, self.key, self.value], dim=3))
        logits = (q @ k.transpose(-2, -1)) * self.key ** -0.5 + self.attention_biases[:, self.attention_bias_idxs]
        y = (logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, length, self.heads * self.value)
        return self.proj(y)

    def forward(self, x):
        n, c, h, w = x.shape
        s = self.window
        windows = x.permute(0, 2, 3, 1).view(n, h // s, s, w // s, s, c).transpose(2, 3).reshape(n * (h // s) * (w // s), s * s, c)
        y = self.attend(windows).view(n, h // s, w // s, s, s, c).transpose(2, 3).reshape(n, h, w, c)
        return y.permute(0, 3, 1, 2)


class Residual(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return x + self.inner(x)


class WindowNet(nn.Module):
    """A conv stem to 16 channels at half the input's size, one residual mixer, pooling and a classifier."""

    def __init__(self, mixer: nn.Module, classes: int = 10):
        super().__init__()
        self.stem = ConvNorm(3, 16, 3, stride=2)
        self.mixer = Residual(mixer)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        return self.head(self.mixer(self.stem(x)).mean((2, 3)))


def window_model(kind: str = "single_head") -> nn.Module:
    """A small network around one mixer: `single_head` (SHViT); `cascaded` (EfficientViT) or `tokens` (TinyViT) in 2 × 2
    windows."""
    from torch_named import trained_batchnorm

    torch.manual_seed(0)
    mixers = {"single_head": SingleHeadPartial, "cascaded": CascadedWindowAttention, "tokens": WindowTokenAttention}
    return trained_batchnorm(WindowNet(mixers[kind]()).eval())
