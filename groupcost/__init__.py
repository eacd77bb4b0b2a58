"""groupcost: exact cost analysis of convolutional architectures from a YAML spec.

    >>> import groupcost
    >>> net = groupcost.load("resnext50_32x4d", G=64)
    >>> report = groupcost.analyze(net)
    >>> report.totals.params, report.totals.macs

One function per command, each returning a result whose `groupcost.to_dict(result)` is that command's
JSON (groupcost.api): `analyze_spec`, `layer`, `compare`, `whatif`, `check`, `diff`, `verify`, `report`,
`export_pytorch`, `export_onnx`, `import_model`, `zoo`, `layer_types`, `calibrate`.
"""

from groupcost.errors import GroupcostError, Location, SpecError, UsageError
from groupcost.graph.analysis import CONVENTION, METRICS, Report, Row, Totals, TypeBreakdown, TypeRow, analyze
from groupcost.graph.network import Network
from groupcost.language import parse_text, zoo_names
from groupcost.render import notebook as _notebook
from groupcost.sources import load, load_document, read
from groupcost.version import __version__

_notebook.install(Report, TypeBreakdown)  # results display as their table in Jupyter (groupcost.render.notebook)

_API = ("analyze_spec", "layer", "compare", "whatif", "check", "diff", "verify", "report", "export_pytorch", "export_onnx", "import_model",
        "zoo", "layer_types", "calibrate", "CheckResult", "VerifyResult")


def __getattr__(name: str):
    """The command functions load on first use: `import groupcost` stays as light as `analyze` needs."""
    if name in _API:
        from groupcost import api

        _notebook.install_command_results()
        return getattr(api, name)
    if name == "to_dict":
        from groupcost.render.documents import to_dict

        return to_dict
    raise AttributeError(f"module 'groupcost' has no attribute {name!r}")


__all__ = [
    "CONVENTION",
    "METRICS",
    "CheckResult",
    "GroupcostError",
    "Location",
    "Network",
    "Report",
    "Row",
    "SpecError",
    "Totals",
    "TypeBreakdown",
    "TypeRow",
    "UsageError",
    "VerifyResult",
    "__version__",
    "analyze",
    "analyze_spec",
    "calibrate",
    "check",
    "compare",
    "diff",
    "export_onnx",
    "export_pytorch",
    "import_model",
    "layer",
    "layer_types",
    "load",
    "load_document",
    "parse_text",
    "read",
    "report",
    "to_dict",
    "verify",
    "whatif",
    "zoo",
    "zoo_names",
]
