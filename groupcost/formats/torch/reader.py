"""`torch:package.module:factory` → Network, through an in-memory ONNX export.

The only module that imports torch (for `torch:` sources, read by every command). The factory is
called with the keywords after `?` in the source (`torch:pkg.mod:factory?num_classes=10`) and
`import`'s `--arg key=value`, the module put in eval mode (its outputs read as every tensor its forward
returns, in order: a Hugging Face ModelOutput, dict, dataclass, list or tuple is opened) and exported with PyTorch's
TorchScript-based exporter (`dynamo=False`: fast, no extra package, and node names are module
paths) into memory, without constant folding (a parameter folded into a computed constant, a
relative position bias gathered from its table, could not be counted); groupcost.formats.onnx.reader reads the bytes. What the exporter cannot trace
(data-dependent control flow, Python-side shape logic that changes with the input, custom
autograd functions, ops with no ONNX symbolic) fails with the exporter's own reason in one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import io
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence

from groupcost.errors import Location, SpecError, UsageError
from groupcost.graph.network import Network


class TorchImportError(SpecError):
    """The factory cannot be loaded, called or exported."""


def parse_source(source: str) -> tuple[str, str, dict[str, object]]:
    """`torch:package.module:factory?key=value&key=value` → (module, factory, keywords).

    The keywords after `?` reach the factory from any command (`groupcost compare
    torch:torchvision.models:resnet50?width_per_group=32`); `import`'s --arg adds to them."""
    spec, _, query = source[len("torch:"):].partition("?")
    module, _, factory = spec.partition(":")
    if not module or not factory or not all(part.isidentifier() for part in module.split(".")) or not factory.isidentifier():
        raise UsageError(f"'{source}' is not torch:package.module:factory", "e.g. torch:torchvision.models:resnet50?num_classes=10", Location(source))
    return module, factory, parse_args(query.split("&") if query else [], source)


def parse_args(values: Sequence[str], where: str = "--arg") -> dict[str, object]:
    """`key=value` keyword arguments: numbers, true/false/none, or text."""
    out: dict[str, object] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.isidentifier():
            example = "--arg num_classes=10" if where == "--arg" else "torch:pkg.mod:factory?num_classes=10&pretrained=false"
            raise UsageError(f"{'--arg ' if where == '--arg' else ''}'{value}' is not key=value", f"e.g. {example}", Location(where))
        lowered = text.lower()
        if lowered in ("true", "false"):
            out[key] = lowered == "true"
        elif lowered in ("none", "null"):
            out[key] = None
        else:
            try:
                out[key] = int(text)
            except ValueError:
                try:
                    out[key] = float(text)
                except ValueError:
                    out[key] = text
    return out


def read_factory(source: str, input_shape: tuple[int, ...], args: dict[str, object], *, allow_unknown: bool = False, opset: int | None = None) -> Network:
    module_name, factory_name, keywords = parse_source(source)
    args = {**keywords, **args}
    place = Location(source)
    try:
        import torch
    except ImportError:
        raise TorchImportError("torch: imports need PyTorch", "pip install torch", place) from None

    if os.getcwd() not in sys.path:  # as `python -m`: a module beside the user is found
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise TorchImportError(f"cannot import {module_name}: {type(exc).__name__}: {exc}", None, place) from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise TorchImportError(f"{module_name} has no callable '{factory_name}'", None, place)
    try:
        model = factory(**args)
    except Exception as exc:
        raise TorchImportError(f"{factory_name}({', '.join(f'{k}={v!r}' for k, v in args.items())}) failed: {type(exc).__name__}: {exc}", None, place) from None
    if not isinstance(model, torch.nn.Module):
        raise TorchImportError(f"{factory_name}() returned {type(model).__name__}, not a torch.nn.Module", None, place)
    model.eval()
    _distinct_values(model, torch)
    _return_tensors(torch, model)
    try:
        data = _exported(torch, model, input_shape, opset, dynamo=False)
    except _NoTensorReturned as exc:
        raise TorchImportError(str(exc), "a model's outputs are the tensors its forward returns", place) from None
    except Exception as exc:
        try:  # torch.export traces some models the TorchScript exporter cannot (an adaptive pool whose size does not divide its input)
            data = _exported(torch, model, input_shape, opset, dynamo=True)
        except Exception as second:
            raise TorchImportError(f"the ONNX export failed: {_reason(exc)} (torch.export's exporter too: {_reason(second)})",
                                   "data-dependent control flow and ops without an ONNX form cannot be traced", place) from None
    from groupcost.formats.onnx.reader import read_bytes

    buffers = frozenset(name for name, _ in model.named_buffers())  # a fixed filter's kernel: no parameter, which the file cannot tell
    return read_bytes(data, source, allow_unknown=allow_unknown, name=factory_name, buffers=buffers)


class _NoTensorReturned(Exception):
    """The model's forward returned no tensor at all."""


def _return_tensors(torch, model) -> None:
    """Make the model's forward return the tensors of what it returns, in order, as a tuple (one tensor alone).

    Hugging Face models return a ModelOutput (a dict of the outputs computed: the logits, and hidden states only
    where the config asks for them); others a dataclass, a named tuple or a nested tuple. The TorchScript exporter
    takes tuples and dicts but refuses a dataclass, and torch.export refuses an unregistered class. Values that are
    not tensors (None for a loss not computed, text) are not outputs. The forward is replaced on this instance
    only, so module paths, and with them node names, stay as they are; the instance is ours, built by the factory."""
    returned = model.forward

    @functools.wraps(returned)
    def forward(*args, **kwargs):
        value = returned(*args, **kwargs)
        tensors = _tensors_in(torch, value)
        if not tensors:
            raise _NoTensorReturned(f"the model's forward returned no tensor (a {type(value).__name__})")
        return tensors[0] if len(tensors) == 1 else tuple(tensors)

    model.forward = forward


def _tensors_in(torch, value) -> list:
    """Every tensor in a forward's return value, depth first, in the order the value holds them."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, field.name) for field in dataclasses.fields(value)]
    else:
        return []
    return [tensor for item in items for tensor in _tensors_in(torch, item)]


def _exported(torch, model, input_shape: tuple[int, ...], opset: int | None, *, dynamo: bool) -> bytes:
    """The model's ONNX file: TorchScript's without constant folding; torch.export's as its optimiser writes it (the
    unoptimised graph computes its masks and casts at run time), where a table folded in is refused by name."""
    buffer = io.BytesIO()
    kwargs = {"opset_version": opset} if opset else {}
    if dynamo:
        kwargs.update(verbose=False, dynamic_shapes=({0: torch.export.Dim("batch")},))
    else:
        kwargs.update(do_constant_folding=False, dynamic_axes={"input": {0: "batch"}})
    with warnings.catch_warnings(), torch.no_grad(), _silenced():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, *input_shape),), buffer, dynamo=dynamo, input_names=["input"], **kwargs)
    return buffer.getvalue()


@contextlib.contextmanager
def _silenced():
    """Nothing the exporters write reaches the user's stdout or stderr: their progress lines, torch.export's logged
    failures, the TorchScript exporter's graph dump on failure (written by C++ straight to file descriptor 1)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    logging.disable(logging.CRITICAL)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), contextlib.redirect_stderr(devnull):
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        logging.disable(logging.NOTSET)


def _reason(exc: Exception) -> str:
    """The exception's first line, without the terminal colours torch.export writes into it."""
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    message = message.splitlines()[0] if message else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _distinct_values(model, torch) -> None:
    """Give every parameter and BatchNorm statistic values of its own, as training would.

    An untrained model holds constant fills (a residual branch's last BN scale zero-initialised,
    layer scales of 1e-5), and the exporter merges equal initializers of distinct modules, so their
    folded kernels would read as one module called again. Counts do not depend on values; a module
    that is really shared keeps one Parameter object, and so one initializer."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.is_floating_point():
                parameter.add_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * 0.01)
        for part in model.modules():
            if isinstance(part, torch.nn.modules.batchnorm._BatchNorm) and part.running_mean is not None:
                part.running_mean.add_(torch.randn(part.running_mean.shape, generator=generator) * 0.01)
                part.running_var.add_(torch.rand(part.running_var.shape, generator=generator) * 0.01)

