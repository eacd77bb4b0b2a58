"""Listings: the zoo's models and the spec language's layer types."""

from __future__ import annotations

import json

from groupcost.graph.analysis import MACS_RULE, Report
from groupcost.graph.network import Network
from groupcost.render import units

ZooEntry = tuple[str, Network, Report]
HEADER = ("model", "input", "params", "MACs", "description")


def _has_matmul(entries: list[ZooEntry]) -> bool:
    return any(report.totals.matmul_macs for _, _, report in entries)


def _shown(entries: list[ZooEntry], cells: tuple | list, matmul) -> list:
    """`cells` with `matmul` after the MACs where a model has matmul MACs (attention)."""
    return [*cells[:4], matmul, *cells[4:]] if _has_matmul(entries) else list(cells)


def _cells(entries: list[ZooEntry], entry: ZooEntry) -> list[str]:
    name, net, report = entry
    return _shown(entries, [name, units.shape(net.input_shape), units.count(report.totals.params), units.count(report.totals.macs), net.description],
                  units.count(report.totals.matmul_macs))


def zoo_table(entries: list[ZooEntry]):
    from groupcost.render.blocks import Blocks, Note

    from groupcost.render.grid import Grid

    header = _shown(entries, HEADER, "matmul MACs")
    table = Grid(header, [_cells(entries, e) for e in entries], [2 <= i < len(header) - 1 for i in range(len(header))], title="groupcost zoo",
                 priorities=_shown(entries, (0, 1, 0, 0, 0), 1))
    return Blocks(table, Note(f"{MACS_RULE}; FLOPs = 2 × MACs. `groupcost analyze NAME` for the layers.", style="dim"))


def zoo_markdown(entries: list[ZooEntry]) -> str:
    header = _shown(entries, HEADER, "matmul MACs")
    return "\n".join(units.markdown_table(header, [2 <= i < len(header) - 1 for i in range(len(header))], [_cells(entries, e) for e in entries])) + "\n"


def zoo_json(entries: list[ZooEntry]) -> str:
    from groupcost.render.documents import zoo_dict

    return json.dumps(zoo_dict(entries), indent=2) + "\n"


def zoo_csv(entries: list[ZooEntry]) -> str:
    from groupcost.render.documents import zoo_dict

    return units.csv_text(("model", "input_shape", "params", "macs", "matmul_macs", "description"), zoo_dict(entries)["models"])


FORMATS = {"table": zoo_table, "json": zoo_json, "csv": zoo_csv, "markdown": zoo_markdown}


def layer_types_table(types: dict[str, type]):
    """`groupcost layers`: each type (groupcost.api.layer_types) with its aliases and arguments, then the structures."""
    from rich.table import Table

    from groupcost.ops import ALIASES
    from groupcost.language.document import STRUCTURES

    table = Table(title="layer types", title_justify="left", header_style="bold", show_lines=True)
    for column in ("type", "arguments (default)", "what it is"):
        table.add_column(column, overflow="fold")  # wrapped, never cut
    for name, cls in types.items():
        aliases = [a for a, target in ALIASES.items() if target == name]
        args = ", ".join(
            f"{a.name}{f'/{a.alias}' if a.alias else ''}" + ("" if a.required else f" ({_default(a.default)})") for a in cls.arg_specs()
        )
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        table.add_row(name + (f" ({', '.join(aliases)})" if aliases else ""), args or "-", doc)
    for name, keys in STRUCTURES.items():
        table.add_row(name, ", ".join(keys), "structure (see the spec language reference)")
    return table


def _default(value) -> str:
    if isinstance(value, tuple) and len(set(value)) == 1:
        return str(value[0])
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
