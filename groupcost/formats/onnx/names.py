"""Step names from module paths: the exporters' node names, scope metadata and weight names.

The TorchScript exporter names nodes by module (`/layer1/layer1.0/conv1/Conv`), the torch.export
exporter keeps `pkg.torch.onnx.name_scopes` metadata and its initializer names
(`layer1.0.conv1.weight`); groupcost's own export (producer `groupcost`) names each node by its
layer, top-level ones (`avgpool`, `9`) included.
"""

from __future__ import annotations

import re
from dataclasses import replace


PRODUCER = "groupcost"
"""The producer_name of the files groupcost writes: their node names are the layers' names."""


def module_path(node, own: bool = False) -> str:
    """The module path of the code that wrote this node ('' at the top level or when unknown);
    `own`: a file groupcost wrote, whose node names are step names, dotted or not."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes" and len(prop.value) < 10_000:
            scopes = re.findall(r"'((?:[^'\\]|\\.)*)'", prop.value)
            return scopes[-2] if len(scopes) >= 2 else ""
    if node.name.startswith("/"):
        atoms: list[str] = []
        for segment in node.name.split("/")[1:-1]:
            atoms += _new_atoms(atoms, segment.split("."))
        return ".".join(atoms)
    if own and STEP_NAME.fullmatch(node.name):
        return node.name
    if "." in node.name and LAYER_NAME.fullmatch(node.name):
        return node.name  # a writer that names each node by its layer (groupcost export --to onnx)
    return ""


def _new_atoms(path: list[str], segment: list[str]) -> list[str]:
    """The atoms a TorchScript scope segment adds to its parent's path.

    TorchScript writes each module by its qualified name's tail from the last non-numeric atom: the
    second block of `layer1` is `layer1.0` (its parent's last atom, then its own), and a module held
    in a ModuleList that is never called itself is `paths.0` under `conv1` (the list's name, then its
    own). The longest overlap of the parent's tail with the segment's head is the parent's part; the segment's last
    atom is always the module's own (DLA's `level3.tree1.tree1` is the segment `tree1` under `level3.tree1`)."""
    for overlap in range(min(len(path), len(segment) - 1), 0, -1):
        if path[-overlap:] == segment[:overlap]:
            return segment[overlap:]
    return segment


def skipped_containers(paths: list[str], order, consumers: dict[str, list[int]]) -> list[str]:
    """`paths` with the containers TorchScript's scopes leave out put back: a module called from its grandparent's
    forward, not through the container holding it (HarDNet's unit iterates `self.blocks._modules.values()`, so
    `unit1.blocks.block1` is scoped `unit1/block1`), is named by the scope without `blocks`; its weight's name has it.
    Each node reading a weight no other node reads, whose scope path is its weight's module path less some atoms
    (the last kept), maps the scope up to the module's own atom onto the weight's; every node's path is then read
    through the longest mapped prefix. A prefix two weights map differently is left as it is."""
    mapped: dict[str, str | None] = {}
    for path, node in zip(paths, order):
        module = weight_path(node, 1) if len(node.input) > 1 and len(consumers.get(node.input[1], ())) == 1 else None
        if not path or not module or module == path:
            continue
        scope, full = path.split("."), module.split(".")
        if len(scope) >= len(full) or scope[-1] != full[-1]:
            continue
        matched, k = [], 0
        for atom in scope:
            while k < len(full) and full[k] != atom:
                k += 1
            if k == len(full):
                break
            matched.append(k)
            k += 1
        if len(matched) != len(scope):
            continue
        for j in range(1, len(scope) + 1):
            if matched[j - 1] != (matched[j - 2] + 1 if j > 1 else 0):  # the first atom after a skipped one
                short, long = ".".join(scope[:j]), ".".join(full[: matched[j - 1] + 1])
                mapped[short] = long if mapped.get(short, long) == long else None
    mapped = {short: long for short, long in mapped.items() if long is not None}
    if not mapped:
        return paths

    def restored(path: str) -> str:
        atoms = path.split(".")
        for j in range(len(atoms), 0, -1):
            long = mapped.get(".".join(atoms[:j]))
            if long is not None:
                return ".".join([long, *atoms[j:]])
        return path

    return [restored(path) for path in paths]


LAYER_NAME = re.compile(r"(?=[\w.\-]*[A-Za-z_])[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)+")
"""A module path and a tensor's name in it (`layer1.0.conv1`, `1.gamma` in a Sequential), not a number."""
STEP_NAME = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")


_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def clean(path: str) -> str:
    segments = [s for s in _BAD_CHARS.sub("_", path).split(".") if s]
    return ".".join(s + "_" if s in ("input", "in") else s for s in segments)


def weight_path(node, index: int) -> str | None:
    """The module path in a weight's name (`layer1.0.conv1.weight`), when the exporter kept it."""
    return parameter_module(node.input[index]) if len(node.input) > index else None


def parameter_module(name: str) -> str | None:
    """`layer1.0.conv1.weight` → `layer1.0.conv1`: the module a weight's PyTorch name holds, if it is one. A module's own
    name may hold a `/` (MONAI's HoVerNet: `layers.conv1/bn`, cleaned to `conv1_bn`); TorchScript's tensors start with one."""
    if name.endswith(".weight") and not name.startswith(("onnx::", "/")):
        return clean(name[: -len(".weight")]) or None
    return None


def _weighted(step) -> bool:
    """Whether a step (a LayerStep or a MergeStep) has parameters."""
    return getattr(step, "layer", None) is not None and bool(step.parameter_shapes())


def weighted_owners(steps) -> dict[str, str]:
    """The renames that give a module's name to the step holding its weights: where an exporter put a step without
    weights in the module first (torch.export's name scopes give a classifier's `Linear` the `Flatten` before it), the
    two steps of one base name (`classifier`, `classifier_1`) swap names. Steps are LayerSteps and MergeSteps."""
    names = {step.name: step for step in steps}
    weighted: dict[str, list[str]] = {}
    for step in steps:
        base, _, number = step.name.rpartition("_")
        if number.isdigit() and base in names and _weighted(step):
            weighted.setdefault(base, []).append(step.name)
    renames = {}
    for base, owners in weighted.items():
        bare = names[base]
        if len(owners) == 1 and not _weighted(bare):
            renames.update({base: owners[0], owners[0]: base})
    return renames


def output_owners(steps, paths: dict[str, str]) -> dict[str, str]:
    """The renames that give a module without parameters its name on its output: the steps of a module (ResNeSt's
    `rsoftmax`: a view, a transpose, a softmax, a flatten) are named `rsoftmax`, `rsoftmax_1`, ... in order, so the row
    named after the module held its first step's shape. Where steps `B`, `B_1` … `B_n` of one module path (`paths`: a
    step's node's) each read the one before and no step of that base name has parameters, the last is named `B` and the
    others `B_1` … `B_n` in order. Steps all of one type are one module called again on its own output (YOLO's SPPF pool;
    TorchScript scopes a later call `m_1`, torch.export by the module's own path)."""
    by_name = {step.name: step for step in steps}
    weighted = {step.name.rpartition("_")[0] for step in steps if _weighted(step)}
    renames: dict[str, str] = {}
    for step in steps:
        path = paths.get(step.name)
        if not path or step.name != path or f"{path}_1" not in by_name or path in weighted:
            continue
        chain = [step.name]
        while (following := by_name.get(f"{path}_{len(chain)}")) is not None and chain[-1] in following.inputs and paths.get(following.name) == path:
            chain.append(following.name)
        if len({by_name[n].type_name for n in chain}) > 1 and not _weighted(step):
            renames.update(zip(chain, [*chain[1:], chain[0]]))
    return renames


NORMS = frozenset({"bn", "batchnorm", "frozenbn", "groupnorm", "layernorm", "instancenorm"})
"""The layer types of a norm, which a norm-and-activation module (timm's GroupNormAct) is, its activation a child."""


def norm_owners(steps) -> dict[str, str]:
    """The renames that give a norm-and-activation module's name to its norm: a container `P` (its activation a child)
    whose norm, computed in its own forward, was named by kind (`norm.groupnorm`), is `P` where every other step under
    `P` is a child without parameters (`norm.act`) and no step is named `P`."""
    names = {step.name for step in steps}
    norms: dict[str, list[str]] = {}
    for step in steps:
        parent, _, last = step.name.rpartition(".")
        if parent and last == step.type_name and last in NORMS and parent not in names:
            norms.setdefault(parent, []).append(step.name)
    weighted = set()  # the candidates with a step under them other than their norm that is a merge or has parameters
    for step in steps:
        if getattr(step, "layer", None) is not None and not step.parameter_shapes():
            continue
        atoms = step.name.split(".")
        weighted.update(p for k in range(1, len(atoms)) if (p := ".".join(atoms[:k])) in norms and step.name not in norms[p])
    return {found[0]: parent for parent, found in norms.items() if len(found) == 1 and parent not in weighted}


def renamed(step, renames: dict[str, str]):
    """`step` with its name and the names it reads (its inputs, the step it shares, the one it takes its size from) renamed."""
    changes = {"name": renames.get(step.name, step.name), "inputs": tuple(renames.get(name, name) for name in step.inputs)}
    for field in ("shares", "size_of"):
        if getattr(step, field, None) is not None:
            changes[field] = renames.get(getattr(step, field), getattr(step, field))
    return replace(step, **changes)
