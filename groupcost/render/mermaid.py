"""The changed region of a diff as a Mermaid flowchart: the text fallback of the HTML diff that
GitHub draws in a pull-request comment.

The region is every added, removed and changed layer with its immediate neighbours in the graph
(the tensors it reads and the nodes that read it), at most MAX_NODES boxes. Head layers and the
base layers paired with them (`Diff.pairs`) are one box; a removed layer is drawn from the base,
its edges dashed. Node ids are `n0`, `n1`, ...: layer names only ever appear inside quoted labels.
"""

from __future__ import annotations

from groupcost.questions.diff import Diff
from groupcost.graph.network import INPUT, MergeStep, Network
from groupcost.render import units

MAX_NODES = 40
"""The most boxes drawn; changed layers past it are counted, not drawn (the table lists them all)."""
STYLES = {
    "added": "fill:#dafbe1,stroke:#1a7f37,stroke-width:2px,color:#0d1117",
    "removed": "fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 3,color:#0d1117",
    "changed": "fill:#fff8c5,stroke:#9a6700,stroke-width:2px,color:#0d1117",
}


def _label_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label (entity codes for what Mermaid or Markdown would read)."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;"), ("|", "#124;")):
        text = text.replace(char, code)
    return text


def _consumers(network: Network | None) -> dict[str, list[str]]:
    readers: dict[str, list[str]] = {}
    for step in network.nodes if network is not None else ():
        for source in dict.fromkeys(step.inputs):
            readers.setdefault(source, []).append(step.name)
    return readers


def _describe(step, was=None) -> str:
    """'name<br/>type · out 64×56×56 · G=32', with what a changed layer was."""
    groups = getattr(step.layer, "groups", None) if not isinstance(step, MergeStep) else None
    parts = [step.type_name, units.shape(step.out_shape)]
    if groups is not None:
        parts.append(f"G={groups}")
    line = _label_text(" · ".join(parts))
    if was is not None:
        before = []
        if was.type_name != step.type_name:
            before.append(was.type_name)
        if was.out_shape != step.out_shape:
            before.append(units.shape(was.out_shape))
        old_groups = getattr(was.layer, "groups", None) if not isinstance(was, MergeStep) else None
        if old_groups != groups and old_groups is not None:
            before.append(f"G={old_groups}")
        if before:
            line += "<br/>was " + _label_text(" · ".join(before))
    return _label_text(step.name) + "<br/>" + line


def mermaid_region(d: Diff, most: int = MAX_NODES) -> tuple[list[str], int]:
    """The ```mermaid block's lines and how many changed layers were left out of it."""
    head, base = d.head_network, d.base_network
    if head is None or not d.layers:
        return [], 0
    head_steps = {s.name: s for s in head.nodes}
    base_steps = {s.name: s for s in base.nodes} if base is not None else {}
    head_order = {s.name: i for i, s in enumerate(head.nodes)}
    head_readers, base_readers = _consumers(head), _consumers(base)

    # a box is ("h", head name), ("b", base name) for a base layer with no head pair, or ("h", INPUT)
    def from_base(name: str) -> tuple[str, str]:
        if name == INPUT:
            return ("h", INPUT)
        return ("h", d.pairs[name]) if name in d.pairs and d.pairs[name] in head_steps else ("b", name)

    status: dict[tuple[str, str], str] = {}
    groups: list[list[tuple[str, str]]] = []  # each changed layer with its neighbours, in drawing order
    for change in d.layers:
        if change.status == "removed":
            box = ("b", change.name)
            if change.name not in base_steps:
                continue
            near = [from_base(n) for n in base_steps[change.name].inputs] + [from_base(n) for n in base_readers.get(change.name, [])]
        else:
            box = ("h", change.name)
            if change.name not in head_steps:
                continue
            near = [("h", n) for n in head_steps[change.name].inputs] + [("h", n) for n in head_readers.get(change.name, [])]
        status[box] = change.status
        groups.append([box, *near])

    shown: dict[tuple[str, str], None] = {}
    for group in groups:
        new = [b for b in dict.fromkeys(group) if b not in shown]
        if len(shown) + len(new) <= most:
            shown.update(dict.fromkeys(new))
    left_out = sum(group[0] not in shown for group in groups)  # a changed layer drawn as another's neighbour is drawn

    def position(box: tuple[str, str]) -> tuple[float, int]:
        side, name = box
        if side == "h":
            return (-1 if name == INPUT else head_order[name], 0)
        # a base-only box sits just after the head box paired with the nearest base layer before it
        order = [s.name for s in base.nodes]
        for earlier in reversed(order[: order.index(name)]):
            if earlier in d.pairs and d.pairs[earlier] in head_order:
                return (head_order[d.pairs[earlier]] + 0.5, order.index(name))
        return (-0.5, order.index(name))

    boxes = sorted(shown, key=position)
    ids = {box: f"n{k}" for k, box in enumerate(boxes)}
    lines = ["```mermaid", "flowchart TB"]
    for box in boxes:
        side, name = box
        if name == INPUT and side == "h":
            label = "input<br/>" + _label_text(units.shape(head.input_shape))
        elif side == "h":
            change = next((c for c in d.layers if c.status == "changed" and c.name == name), None)
            was = base_steps.get(change.base_name) if change is not None else None
            label = _describe(head_steps[name], was)
        else:
            label = _describe(base_steps[name])
        merge = (head_steps.get(name) if side == "h" else base_steps.get(name))
        opening, closing = ("([", "])") if isinstance(merge, MergeStep) else ("[", "]")
        lines.append(f'    {ids[box]}{opening}"{label}"{closing}')
    edges: dict[tuple[str, str, str], None] = {}
    for box in boxes:
        side, name = box
        if side == "h" and name != INPUT:
            for source in head_steps[name].inputs:
                if ("h", source) in ids:
                    edges[(ids[("h", source)], "-->", ids[box])] = None
    for box in boxes:
        if status.get(box) != "removed":
            continue
        for source in base_steps[box[1]].inputs:
            if from_base(source) in ids:
                edges[(ids[from_base(source)], "-.->", ids[box])] = None
        for reader in base_readers.get(box[1], []):
            if from_base(reader) in ids:
                edges[(ids[box], "-.->", ids[from_base(reader)])] = None
    lines += [f"    {a} {arrow} {b}" for a, arrow, b in edges]
    for kind, style in STYLES.items():
        members = [ids[b] for b in boxes if status.get(b) == kind]
        if members:
            lines.append(f"    classDef {kind} {style}")
            lines.append(f"    class {','.join(members)} {kind}")
    lines.append("```")
    return lines, left_out


def region_markdown(d: Diff, most: int = MAX_NODES) -> list[str]:
    """The block with a line saying what it shows (and what it leaves out); [] when nothing changed."""
    lines, left_out = mermaid_region(d, most)
    if not lines:
        return []
    said = "The changed region (yellow: changed, green: added, red dashed: removed) with its neighbours in the graph"
    if left_out:
        said += f"; {left_out} more changed layer(s) are not drawn, to keep it small (the table lists them)"
    return [said + ":", "", *lines]
