"""Random networks of the shapes real convolutional models have, for timing layers in context (`calibrate`).

A layer's time depends on what runs around it: the cache state its producer leaves, the sizes of its
neighbours. Measured on this machine (benchmarks/latency_accuracy_results.md §13), formulas fitted on layers
timed inside networks like these priced the zoo's models far better than formulas fitted on single
operations timed alone, however those were corrected. So each network here is a small model: a stem, two
to five stages that halve the map and widen the channels, then a head, built from one family of blocks:

- basic: two 3×3 convolutions with a residual add (ResNet-18's);
- bottleneck: 1×1, 3×3 of any G (1 to 32), 1×1, maybe squeeze-excitation (ResNet-50's, ResNeXt's, RegNet's);
- inverted: 1×1 expansion, depthwise 3×3 or 5×5, maybe squeeze-excitation, 1×1 projection (MobileNet V2/V3's);
- separable: activation, depthwise, pointwise, batch norm, two or three times (Xception's);
- shuffle: grouped 1×1 convolutions of G from 2 to 16 around a channel shuffle and a depthwise one, 24 to 384
  channels from the first stage (ShuffleNet's);
- concat: branches concatenated along the channels, by block one of DenseNet's layers (each adding a few
  channels to its input), GhostNet's modules (a 1×1 convolution, its cheap depthwise copy beside it) or a
  cross-stage-partial split (half the channels through a convolution pair, half passed on), then a 1×1 back to the
  stage's width; a stage's first block a 1×1 and an average pool;
- plain: large kernels and strides, max pools, a flattened map into one or two wide fully connected layers and a
  classifier (AlexNet's, VGG's).

Inputs run from 64×64 to 299×299 and channels from 8 to 2,048. A network is a spec (the language's own
`residual`), so what is timed is what `export --to pytorch` writes for it.
"""

from __future__ import annotations

import random

from groupcost.graph.network import Network

FAMILIES = ("basic", "bottleneck", "inverted", "separable", "shuffle", "concat", "plain")
ACTIVATIONS = ("relu", "relu", "relu6", "hswish", "silu", "prelu")
MAX_MACS = 1_200_000_000
"""Conv + linear MACs of the largest network drawn: a ResNet-50's order, so that a full calibration stays in minutes."""
MAX_ACTIVATIONS = 3_000_000
"""Elements of the largest tensor drawn (Xception's 147×147×128 is 2.8 M)."""


def _conv(out: int, k: int = 1, s: int = 1, groups: int = 1) -> dict:
    return {"conv": {"out": out, "k": k, "s": s, "p": k // 2, "groups": groups, "bias": False}}


class _Draw:
    """One network's random choices, and the names that keep its residual blocks apart."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.blocks = 0

    def residual(self, body: list, shortcut: list) -> dict:
        self.blocks += 1
        return {"residual": {"name": f"block{self.blocks}", "body": body, "shortcut": shortcut}}

    def block(self, family: str, c_in: int, c_out: int, s: int, act: str, groups: int) -> list:
        rng = self.rng
        same = s == 1 and c_in == c_out
        shortcut = [] if same else [_conv(c_out, 1, s), "bn"]
        squeeze = rng.random() < 0.3
        if family == "basic":
            return [self.residual([_conv(c_out, 3, s), "bn", act, _conv(c_out, 3), "bn"], shortcut), act]
        if family == "bottleneck":
            mid = max(groups * 4, c_out // 2 // groups * groups) if groups > 1 else max(8, c_out // 4)
            body = [_conv(mid), "bn", act, _conv(mid, 3, s, groups), "bn", act]
            body += [{"se": {"squeeze": max(8, mid // 4)}}] if squeeze else []
            return [self.residual([*body, _conv(c_out), "bn"], shortcut), act]
        if family == "inverted":
            mid, k = c_in * rng.choice((1, 3, 4, 6)), rng.choice((3, 3, 5))
            body = [_conv(mid), "bn", act] if mid != c_in else []
            body += [{"dwconv": {"k": k, "s": s, "p": k // 2}}, "bn", act]
            body += [{"se": {"squeeze": max(8, mid // 4)}}] if squeeze else []
            body += [_conv(c_out), "bn"]
            return [self.residual(body, [])] if same else body
        if family == "concat":
            return self.concatenated(c_in, c_out, s, act)
        if family == "separable":
            body = [part for _ in range(rng.choice((2, 3))) for part in (act, {"dwconv": {"k": 3, "p": 1}}, _conv(c_out), "bn")]
            body += [{"maxpool": {"k": 3, "s": 2, "p": 1}}] if s == 2 else []
            return [self.residual(body, shortcut)]
        # shuffle: the channels stay; a stage's first block (stride, width) is a depthwise then a grouped 1×1 convolution
        if not same:
            return [{"dwconv": {"k": 3, "s": s, "p": 1}}, "bn", _conv(c_out, 1, 1, groups if c_in % groups == 0 else 1), "bn", act]
        mid = max(groups * 4, c_out // rng.choice((1, 2, 4)) // groups * groups)
        body = [_conv(mid, 1, 1, groups), "bn", act, {"shuffle": {"groups": groups}}, {"dwconv": {"k": 3, "p": 1}}, "bn", _conv(c_out, 1, 1, groups), "bn"]
        return [self.residual(body, []), act]

    def concatenated(self, c_in: int, c_out: int, s: int, act: str) -> list:
        """A block of the concat family: a transition where the map or the width changes, else DenseNet's layers,
        GhostNet's modules or a cross-stage-partial split, and a 1×1 back to `c_out`. Concats of every size a model has:
        fitted on small chains alone, a concat's cost per byte came out 0 (benchmarks/latency_accuracy_results.md §16)."""
        rng = self.rng
        if s != 1 or c_in != c_out:
            return [_conv(c_out), "bn", act, *([{"avgpool": {"k": 2, "s": 2}}] if s == 2 else [])]
        form = rng.choice(("dense", "ghost", "partial"))
        layers: list = []
        if form == "dense":
            growth = rng.choice((8, 16, 32))
            for _ in range(rng.randint(2, 4)):
                layers.append({"parallel": {"merge": "concat", "branches": [{"layers": []}, {"layers": ["bn", act, _conv(4 * growth), "bn", act, _conv(growth, 3)]}]}})
        elif form == "ghost":
            for _ in range(2):
                half = max(4, c_out // 2)
                layers += [_conv(half), "bn", act, {"parallel": {"merge": "concat", "branches": [{"layers": []}, {"layers": [{"dwconv": {"k": 3, "p": 1}}, "bn", act]}]}}]
        else:
            half = c_in // 2
            layers.append({"parallel": {"split": 2, "merge": "concat", "branches": [{"layers": []}, {"layers": [_conv(half), "bn", act, _conv(half, 3), "bn", act]}]}})
        return [*layers, _conv(c_out), "bn", act]

    def staged(self, family: str, size: int) -> list:
        rng = self.rng
        act = rng.choice(ACTIVATIONS)
        groups = rng.choice((1, 2, 4, 8, 16, 32)) if family == "bottleneck" else rng.choice((2, 3, 4, 8, 16)) if family == "shuffle" else 1
        c = rng.choice((24, 48, 96, 144, 240, 384) if family == "shuffle" else (8, 16, 24, 32, 48, 64))  # ShuffleNet's stages are wide
        layers: list = [_conv(c, rng.choice((3, 3, 7)), 2), "bn", act]
        size //= 2
        if rng.random() < 0.5:
            layers.append({"maxpool": {"k": 3, "s": 2, "p": 1}})
            size //= 2
        growth = rng.choice((1.5, 2, 2))
        unit = groups * (4 if family == "shuffle" else 2) if groups > 1 else 8
        for stage in range(rng.randint(2, 4)):
            c_out = max(unit, int(c * growth if stage else c * rng.choice((1, 2, 4))) // unit * unit)
            for index in range(rng.randint(1, 3)):
                s = 2 if index == 0 and stage > 0 and size > 4 else 1
                layers += self.block(family, c, c_out, s, act, groups)
                c, size = c_out, (size + 1) // 2 if s == 2 else size
        if rng.random() < 0.5:
            layers += [_conv(rng.choice((256, 512, 1024, 1280, 2048))), "bn", act]
        layers += ["gap", "flatten"]
        if rng.random() < 0.3:
            layers += [{"fc": {"out": rng.choice((1024, 2048, 4096))}}, act]
        return [*layers, {"fc": {"out": rng.choice((10, 100, 1000))}}]

    def plain(self) -> list:
        rng = self.rng
        act = rng.choice(ACTIVATIONS)
        c, k = rng.choice((16, 32, 48, 64, 96)), rng.choice((3, 5, 7, 11))
        layers: list = [{"conv": {"out": c, "k": k, "s": rng.choice((1, 2, 4)) if k > 3 else 1, "p": k // 2}}, act]
        for _ in range(rng.randint(2, 5)):
            c = min(1024, int(c * rng.choice((1, 1.5, 2, 3))) // 8 * 8)
            for _ in range(rng.randint(1, 3)):
                k = rng.choice((3, 3, 5))
                layers += [{"conv": {"out": c, "k": k, "p": k // 2, "bias": rng.random() < 0.5}}, *(["bn"] if rng.random() < 0.5 else []), act]
            layers.append({"maxpool": {"k": rng.choice((2, 3)), "s": 2}})
        if rng.random() < 0.5:
            layers.append({"adaptive_avgpool": {"size": rng.choice((1, 2, 4, 6, 7))}})
        layers.append("flatten")
        for _ in range(rng.randint(1, 2)):
            layers += [{"fc": {"out": rng.choice((512, 1024, 2048, 4096))}}, act, *(["dropout"] if rng.random() < 0.5 else [])]
        return [*layers, {"fc": {"out": rng.choice((10, 100, 1000))}}]


def spec_text(rng: random.Random, index: int) -> str:
    """One random model-like network, as spec text."""
    import yaml

    draw = _Draw(rng)
    family, size = rng.choice(FAMILIES), rng.choice((64, 96, 112, 128, 160, 192, 224, 224, 256, 299))
    layers = draw.plain() if family == "plain" else draw.staged(family, size)
    return yaml.safe_dump({"name": f"{family}{index}", "input": [3, size, size], "layers": layers}, sort_keys=False)


def networks(rng: random.Random, count: int) -> list[Network]:
    """`count` random model-like networks within MAX_MACS and MAX_ACTIVATIONS (larger draws are skipped)."""
    from groupcost.errors import GroupcostError
    from groupcost.graph.analysis import analyze
    from groupcost.language import build, parse_text

    result: list[Network] = []
    for index in range(count * 20):
        if len(result) == count:
            break
        try:
            network = build(parse_text(spec_text(rng, index), f"<calibrate:{index}>"), {})
        except GroupcostError:
            continue
        rows = analyze(network).rows
        if sum(row.macs for row in rows) <= MAX_MACS and max(row.activations for row in rows) <= MAX_ACTIVATIONS:
            result.append(network)
    return result
