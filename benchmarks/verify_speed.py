"""How fast is the NumPy path? Prints figures; asserts nothing (goals in the README).

    python benchmarks/verify_speed.py [--runs 5]

1. Forward time of the NumPy kernels against PyTorch CPU eager (the same network, built from the
   same spec by tests/torch_reference.py) for resnext50_32x4d, mobilenet_v2 and shufflenet_v2_x1_0
   at 224×224, batch 1 (goal: within 1.5×), and the NumPy run's peak traced memory.
2. The achieved GFLOP/s of the zoo's largest standard convolution against this machine's
   np.matmul peak at the same precision (goal: at least half).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

import groupcost  # noqa: E402
from groupcost.run.execute import forward, init_weights  # noqa: E402
from groupcost.ops.kernels import MacCounter  # noqa: E402
from groupcost.ops.conv import Conv  # noqa: E402
from groupcost.graph.network import LayerStep  # noqa: E402


def best(fn, runs: int) -> float:
    fn()  # warm up
    return statistics.median(_timed(fn) for _ in range(runs))


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    try:
        import torch
        from torch_reference import load_weights, network_module
    except ImportError:
        torch = None
    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'}, {torch.get_num_threads() if torch else '-'} torch threads; median of {runs}\n")
    print("1. forward pass, batch 1, float32")
    for name in ("resnext50_32x4d", "mobilenet_v2", "shufflenet_v2_x1_0"):
        net = groupcost.load(name)
        weights = init_weights(net, 0, "float32")
        x = np.random.default_rng(1).standard_normal((1, *net.input_shape)).astype(np.float32)
        ours = best(lambda: forward(net, x, weights), runs)
        tracemalloc.start()
        forward(net, x, weights)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        largest = max(math.prod(s.out_shape) for s in net.steps()) * 4
        line = f"   {name:20s} numpy {ours * 1000:8.1f} ms  peak {peak / 2**20:6.1f} MiB (largest activation {largest / 2**20:.1f} MiB)"
        if torch is not None:
            model = network_module(net).eval()
            load_weights(model, weights)
            tx = torch.from_numpy(x)
            with torch.no_grad():
                theirs = best(lambda: model(tx), runs)
            line += f"   torch {theirs * 1000:8.1f} ms   ratio {ours / theirs:5.2f}× (goal ≤ 1.5×)"
        print(line)

    print("\n2. the zoo's largest standard (G = 1) convolution against np.matmul, float32")
    candidates = []
    for name in groupcost.zoo_names():
        net = groupcost.load(name)
        candidates += [(s.layer.cost(s.in_shape, s.out_shape).macs, name, s, net) for s in net.steps()
                       if isinstance(s, LayerStep) and type(s.layer) is Conv and s.layer.groups == 1]
    macs, model, step, net = max(candidates, key=lambda c: c[0])
    weights = init_weights(net, 0, "float32")[step.name]
    x = np.random.default_rng(2).standard_normal((1, *step.in_shape)).astype(np.float32)
    counter = MacCounter()
    seconds = best(lambda: step.layer.forward(x, weights, counter), runs)
    conv_gflops = 2 * macs / seconds / 1e9
    a = np.random.default_rng(3).standard_normal((2048, 2048)).astype(np.float32)
    matmul = best(lambda: a @ a, runs)
    peak = 2 * 2048**3 / matmul / 1e9
    print(f"   {model} {step.name} ({'×'.join(map(str, step.layer.geometry(step.in_shape).kernel))}, {step.in_shape} → {step.out_shape}, {macs:,} MACs): {conv_gflops:6.1f} GFLOP/s")
    print(f"   np.matmul 2048×2048×2048:                 {peak:6.1f} GFLOP/s   → {conv_gflops / peak:.0%} of peak (goal ≥ 50%)")


if __name__ == "__main__":
    main()
