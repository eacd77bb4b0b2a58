"""Torch modules written here from the papers of CNN families whose blocks mix tokens by other means than
attention, as tests/torch_cnn_patterns.py's CNN_PATTERNS (kind → (module class, input shape C, H, W)).

Every parameter is perturbed after initialisation, as training would leave it: an untrained norm's ones
and zeros are equal initializers that the exporters merge into one."""

from __future__ import annotations

import torch
from torch import nn


def perturbed(model: nn.Module, seed: int = 1) -> nn.Module:
    """Every parameter moved off its initial value (no two equal tensors, no all-zero shift)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return model


class GroupNorm1NoBias(nn.GroupNorm):
    """A group norm of one group (statistics over C, H and W) with a learned scale and no shift: C parameters."""

    def __init__(self, channels: int):
        super().__init__(1, channels, eps=1e-6)
        self.bias = None


class LayerNorm2dNoBias(nn.LayerNorm):
    """A layer norm over the channels at every position (channels moved last and back), scale only."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=1e-6, bias=False)

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class StarReLU(nn.Module):
    """StarReLU (MetaFormer Baselines, Yu et al. 2022): s · relu(x)² + b, s and b one learned number each."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.scale * torch.relu(x) ** 2 + self.bias


class Scale(nn.Module):
    """A learned scale per channel (the papers' res_scale), stored as C values and viewed C×1×1."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return x * self.scale.view(-1, 1, 1)


class Pooling(nn.Module):
    """PoolFormer's token mixer (Yu et al. 2022): a 3×3 average pool of stride 1 that leaves the padding out
    of its divisor, less its input."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x):
        return self.pool(x) - x


class _ConvMlp(nn.Module):
    def __init__(self, c: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Conv2d(c, hidden, 1, bias=False)
        self.act = StarReLU()
        self.fc2 = nn.Conv2d(hidden, c, 1, bias=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _PoolFormerBlock(nn.Module):
    """x · r₁ + pool-mix(norm₁(x)), then · r₂ + MLP(norm₂(·)): pre-norm residuals whose shortcut is scaled."""

    def __init__(self, c: int):
        super().__init__()
        self.norm1 = GroupNorm1NoBias(c)
        self.token_mixer = Pooling()
        self.res_scale1 = Scale(c)
        self.norm2 = GroupNorm1NoBias(c)
        self.mlp = _ConvMlp(c, 4 * c)
        self.res_scale2 = Scale(c)

    def forward(self, x):
        x = self.res_scale1(x) + self.token_mixer(self.norm1(x))
        return self.res_scale2(x) + self.mlp(self.norm2(x))


class PoolFormerV2(nn.Module):
    """PoolFormerV2 (MetaFormer Baselines for Vision, Yu et al. 2022): a conv stem with a scale-only group norm,
    a strided conv down, two pooling blocks with scale-only group norms and StarReLU MLPs, a scale-only layer
    norm over the channels, and a pooled, normalised linear head. (The paper's stem norm is the layer norm:
    torch.export fails on a group norm anywhere after a permuted layer norm, so here it comes last.)"""

    def __init__(self, width: int = 8, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), GroupNorm1NoBias(width))
        self.downsample = nn.Conv2d(width, 2 * width, 3, 2, 1)
        self.blocks = nn.Sequential(_PoolFormerBlock(2 * width), _PoolFormerBlock(2 * width))
        self.final_norm = LayerNorm2dNoBias(2 * width)
        self.norm = nn.LayerNorm(2 * width)
        self.fc = nn.Linear(2 * width, classes)
        perturbed(self)

    def forward(self, x):
        x = self.final_norm(self.blocks(self.downsample(self.stem(x))))
        return self.fc(self.norm(x.mean((2, 3))))


class GlobalContext(nn.Module):
    """GCNet's global context block (Cao et al. 2019, Fig. 4d): a 1×1 conv to one logit per position, a softmax
    over the positions, the input's positions weighted by it (a product of two activations, C·H·W matmul MACs),
    a bottleneck transform (1×1 conv, layer norm over C×1×1, ReLU, 1×1 conv) of that C×1×1 context, added at every
    position. (timm's layer norm moves the channels last instead: torch.export fails on that form here.)"""

    def __init__(self, c: int, ratio: int = 4):
        super().__init__()
        self.conv_attn = nn.Conv2d(c, 1, 1)
        self.fc1 = nn.Conv2d(c, c // ratio, 1)
        self.norm = nn.LayerNorm([c // ratio, 1, 1])
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(c // ratio, c, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        attn = torch.softmax(self.conv_attn(x).reshape(n, 1, h * w), -1).unsqueeze(3)  # N×1×HW×1
        context = (x.reshape(n, c, h * w).unsqueeze(1) @ attn).view(n, c, 1, 1)
        return x + self.fc2(self.act(self.norm(self.fc1(context))))


class _GlobalContextBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.attn = GlobalContext(c)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.attn(self.bn(self.conv(x))) + x)


class GlobalContextNet(nn.Module):
    """A conv stem and two residual blocks, each with a global context block before its sum (GCNet's placement)."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(_GlobalContextBlock(width), _GlobalContextBlock(width))
        perturbed(self)

    def forward(self, x):
        return self.blocks(self.stem(x))


class GatedConvBlock(nn.Module):
    """MambaOut's gated CNN block (Yu and Wang 2024, Fig. 2), on N×H×W×C: a layer norm, a linear to 2·hidden split
    along C into a gate g, an identity part i and the part a depthwise conv reads (moved channels first and back),
    then fc2(act(g) · cat(i, conv(c))) plus the input."""

    def __init__(self, c: int, hidden: int, conv_channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(c)
        self.fc1 = nn.Linear(c, 2 * hidden)
        self.split_sizes = (hidden, hidden - conv_channels, conv_channels)
        self.conv = nn.Conv2d(conv_channels, conv_channels, 3, padding=1, groups=conv_channels)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, c)

    def forward(self, x):
        g, i, c = torch.split(self.fc1(self.norm(x)), self.split_sizes, dim=-1)
        c = self.conv(c.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.fc2(self.act(g) * torch.cat((i, c), dim=-1))


class MambaOut(nn.Module):
    """MambaOut: a conv stem and its layer norm (channels moved last), two gated CNN blocks on N×H×W×C, a strided
    conv down (channels first and back) and one more block, a pooled, normalised linear head."""

    def __init__(self, width: int = 8, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, 2, 1)
        self.stem_norm = nn.LayerNorm(width)
        self.blocks = nn.Sequential(GatedConvBlock(width, 2 * width, width), GatedConvBlock(width, 2 * width, width // 2))
        self.downsample = nn.Conv2d(width, 2 * width, 3, 2, 1)
        self.last = GatedConvBlock(2 * width, 4 * width, 2 * width)
        self.norm = nn.LayerNorm(2 * width)
        self.fc = nn.Linear(2 * width, classes)
        perturbed(self)

    def forward(self, x):
        x = self.blocks(self.stem_norm(self.stem(x).permute(0, 2, 3, 1)))
        x = self.last(self.downsample(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
        return self.fc(self.norm(x.mean((1, 2))))


TOKEN_MIXER_PATTERNS = {
    "gated_conv": (MambaOut, (3, 16, 16)),
    "pooling_metaformer": (PoolFormerV2, (3, 16, 16)),
    "global_context": (GlobalContextNet, (3, 16, 16)),
}
"""kind → (module class, input shape C, H, W): merged into tests/torch_cnn_patterns.py's CNN_PATTERNS."""
