"""Conv-attention hybrids over tokens, written here from the papers' descriptions.

LeViT (arXiv 2104.01136, §4.2): after a convolutional stem the feature map is flattened to N × L × C
tokens; every linear layer is followed by a batch norm ("each convolution is followed by a batch
normalization", the linear layers being 1 × 1 convolutions on the tokens), which PyTorch writes as
BatchNorm1d over the tokens of the whole batch (`bn(y.flatten(0, 1)).reshape_as(y)`). Its attention
adds a learned bias per head and absolute offset between two positions to the logits, read from a
table through a fixed index (§4.2 "Attention bias"); the values go through a Hardswish before the
projection, and the MLP is a linear, Hardswish, linear, each with its batch norm.

EfficientFormer (arXiv 2206.01191, §3, Fig. 3): MetaBlocks x + LayerScale(TokenMixer(x)), then
x + LayerScale(MLP(x)). The 4-D MetaBlock on the feature map mixes tokens by pooling, Pool(x) − x
(an average pool that does not count the padding), and its MLP is 1 × 1 convolution, BN, GELU,
1 × 1 convolution, BN; the 3-D MetaBlock on N × L × C tokens normalises the channels of each token with
LayerNorm, mixes by multi-head self-attention with a learned position bias (LeViT's), and its MLP is
linear, GELU, linear. The head normalises, averages the tokens and classifies.
"""

from __future__ import annotations

import torch
from torch import nn

from torch_tables import _points


def _offset_index(side: int) -> tuple[int, torch.Tensor]:
    """The number of distinct absolute offsets (|Δy|, |Δx|) on a side × side map, and the L × L index of each pair's."""
    offsets: dict[tuple[int, int], int] = {}
    index = [offsets.setdefault((abs(p[0] - q[0]), abs(p[1] - q[1])), len(offsets)) for p in _points(side) for q in _points(side)]
    return len(offsets), torch.tensor(index).view(side * side, side * side)


class LinearNorm(nn.Module):
    """A linear layer without bias on N × L × C tokens, then BatchNorm1d over every token of the batch."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.linear = nn.Linear(c_in, c_out, bias=False)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x):
        y = self.linear(x)
        return self.bn(y.flatten(0, 1)).reshape_as(y)


class BiasedAttention(nn.Module):
    """Multi-head self-attention over N × L × C tokens, keys and queries narrower than the values, a learned bias
    per head and offset added to the logits. `norm`: LeViT's linears with their batch norms, else plain linears
    with biases (EfficientFormer)."""

    def __init__(self, dim: int, heads: int = 2, key_dim: int = 4, value_dim: int = 8, side: int = 4, norm: bool = True):
        super().__init__()
        self.heads, self.key_dim, self.value_dim = heads, key_dim, value_dim
        width = heads * (2 * key_dim + value_dim)
        self.qkv = LinearNorm(dim, width) if norm else nn.Linear(dim, width)
        self.proj = nn.Sequential(nn.Hardswish(), LinearNorm(heads * value_dim, dim)) if norm else nn.Linear(heads * value_dim, dim)
        count, index = _offset_index(side)
        self.attention_biases = nn.Parameter(torch.randn(heads, count))
        self.register_buffer("attention_bias_idxs", index, persistent=False)

    def forward(self, x):
        n, length, _ = x.shape
        q, k, v = self.qkv(x).view(n, length, self.heads, -1).permute(0, 2, 1, 3).split([self.key_dim, self.key_dim, self.value_dim], dim=3)
        logits = q @ k.transpose(-2, -1) * self.key_dim ** -0.5 + self.attention_biases[:, self.attention_bias_idxs]
        y = (logits.softmax(-1) @ v).transpose(1, 2).reshape(n, length, -1)
        return self.proj(y)


class LevitBlock(nn.Module):
    """Attention (unless `attention` is False: torch.export folds its gathered table) and MLP, each with its
    residual, on N × L × C tokens."""

    def __init__(self, dim: int, side: int, attention: bool = True):
        super().__init__()
        self.attn = BiasedAttention(dim, side=side) if attention else None
        self.mlp = nn.Sequential(LinearNorm(dim, 2 * dim), nn.Hardswish(), LinearNorm(2 * dim, dim))

    def forward(self, x):
        if self.attn is not None:
            x = x + self.attn(x)
        return x + self.mlp(x)


class Levit(nn.Module):
    """A conv stem (conv, BN, Hardswish) to a side × side map, flattened to tokens, one block, the tokens' mean, a classifier."""

    def __init__(self, dim: int = 16, side: int = 4, classes: int = 10, attention: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 3, stride=2, padding=1), nn.BatchNorm2d(dim), nn.Hardswish())
        self.block = LevitBlock(dim, side, attention)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        tokens = self.stem(x).flatten(2).transpose(1, 2)
        return self.head(self.block(tokens).mean(1))


class LayerScale(nn.Module):
    """A learned scale per channel: of a C × H × W map (`four_d`), or of N × L × C tokens."""

    def __init__(self, dim: int, four_d: bool):
        super().__init__()
        self.four_d = four_d
        self.gamma = nn.Parameter(torch.rand(dim) + 0.5)

    def forward(self, x):
        return x * (self.gamma.view(-1, 1, 1) if self.four_d else self.gamma)


class PoolMixer(nn.Module):
    """Pool(x) − x: an average over each 3 × 3 neighbourhood that does not count the padding, less the token itself."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x):
        return self.pool(x) - x


class Meta4D(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.token_mixer = PoolMixer()
        self.ls1 = LayerScale(dim, four_d=True)
        self.mlp = nn.Sequential(nn.Conv2d(dim, 2 * dim, 1), nn.BatchNorm2d(2 * dim), nn.GELU(), nn.Conv2d(2 * dim, dim, 1), nn.BatchNorm2d(dim))
        self.ls2 = LayerScale(dim, four_d=True)

    def forward(self, x):
        x = x + self.ls1(self.token_mixer(x))
        return x + self.ls2(self.mlp(x))


class Meta3D(nn.Module):
    def __init__(self, dim: int, side: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mixer = BiasedAttention(dim, side=side, norm=False)
        self.ls1 = LayerScale(dim, four_d=False)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.ls2 = LayerScale(dim, four_d=False)

    def forward(self, x):
        x = x + self.ls1(self.token_mixer(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class EfficientFormer(nn.Module):
    """A conv stem (conv, BN, ReLU), a 4-D MetaBlock, the map flattened to tokens, a 3-D MetaBlock, LayerNorm, the
    tokens' mean, a classifier."""

    def __init__(self, dim: int = 16, side: int = 4, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 3, stride=2, padding=1), nn.BatchNorm2d(dim), nn.ReLU())
        self.meta4d = Meta4D(dim)
        self.meta3d = Meta3D(dim, side)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        tokens = self.meta4d(self.stem(x)).flatten(2).transpose(1, 2)
        return self.head(self.norm(self.meta3d(tokens)).mean(1))


def token_model(kind: str = "levit") -> nn.Module:
    """The model, seeded, in eval mode, its batch norms with trained-looking statistics; input 3 × 8 × 8."""
    from torch_named import trained_batchnorm

    torch.manual_seed(0)
    models = {"levit": Levit, "levit_mlp": lambda: Levit(attention=False), "efficientformer": EfficientFormer}
    return trained_batchnorm(models[kind]().eval())
