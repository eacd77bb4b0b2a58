"""Torch modules written here for one module held at several places of a network (weights shared across blocks).

ShaResNet (Boulch 2017, "ShaResNet: reducing residual network parameter number by sharing weights"): within
a stage, every residual block's second 3×3 conv is one module, held by each block; each block keeps its own
batch norms. PyTorch counts the shared conv once (`parameters()` yields it once); its MACs are paid per block.
"""

from __future__ import annotations

import torch
from torch import nn


class _SharedConvBlock(nn.Module):
    """A basic residual block whose second conv is `shared`, a module another block holds as well."""

    def __init__(self, width: int, shared: nn.Conv2d):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act = nn.ReLU()
        self.conv2 = shared
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x):
        return self.act(x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))))


class SharedConvStage(nn.Module):
    """A stem, one stage of `blocks` residual blocks sharing their second conv (or, with `share=False`, each
    block with a conv of its own: the same network, as an exporter writes it once it folds every block's norm
    into its own copy of the kernel), and a classifier."""

    def __init__(self, width: int = 16, blocks: int = 3, classes: int = 10, share: bool = True):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(width)
        shared = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.stage = nn.Sequential(*(_SharedConvBlock(width, shared if share else nn.Conv2d(width, width, 3, padding=1, bias=False))
                                     for _ in range(blocks)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.stage(torch.relu(self.stem_bn(self.stem(x))))), 1))


class DiracTwins(nn.Module):
    """Two distinct 3×3 convs, both initialised to the identity (`nn.init.dirac_`, DiracNet's init): equal
    kernels of two modules, which TorchScript's exporter merges into one initializer of an untrained model."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        for conv in (self.conv1, self.conv2):
            nn.init.dirac_(conv.weight)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x)))


class _ZeroInitBlock(nn.Module):
    """conv, norm, ReLU, conv, norm (γ = 0 at the start), + the input, ReLU."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x):
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class ZeroInitResidualStage(nn.Module):
    """Residual blocks whose last norm starts at γ = 0, as timm's ResNets initialise it (`zero_init_last`), untrained:
    folded into its conv, every block's last kernel is all zeros, and TorchScript's exporter writes one initializer
    that every block reads."""

    def __init__(self, width: int = 8, blocks: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.stage = nn.Sequential(*(_ZeroInitBlock(width) for _ in range(blocks)))

    def forward(self, x):
        return self.stage(self.stem(x))


def zero_init_residual_stage() -> nn.Module:
    """The factory `torch:` reads: untrained, seeded."""
    torch.manual_seed(0)
    return ZeroInitResidualStage().eval()


def shared_conv_stage(share: bool = True) -> nn.Module:
    """The factory `torch:` reads; trained-looking norms, as exported models have them."""
    from torch_named import trained_batchnorm

    torch.manual_seed(0)
    return trained_batchnorm(SharedConvStage(share=share).eval())
