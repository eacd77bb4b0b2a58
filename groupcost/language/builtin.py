"""Blocks every spec may call without defining them, written in the spec language itself.

`se_block` is squeeze-and-excitation with the names and options the libraries use: torchvision's
`fc1`/`fc2` (the `se` layer type), timm's `conv_reduce`/`conv_expand`, ReXNet's BN after the reduction.
A spec or used file that defines a block of the same name uses its own.
"""

from __future__ import annotations

BUILTIN_PATH = "<groupcost built-in blocks>"

BUILTIN_BLOCKS = """
blocks:
  se_block:
    args: {squeeze: , act: relu, gate: sigmoid, bn: false, bias: true, reduce: fc1, expand: fc2}
    layers:
      - gap: {name: avgpool}
      - conv: {name: "{reduce}", out: squeeze, k: 1, bias: bias}
      - bn: {name: bn, if: bn}
      - "{act}": {name: act}
      - conv: {name: "{expand}", out: c_in, k: 1, bias: bias}
      - "{gate}": {name: gate}
      - mul: {name: scale, from: [-1, in]}
"""
