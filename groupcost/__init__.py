"""groupcost: exact cost analysis of convolutional architectures from a YAML spec.

    >>> import groupcost
    >>> net = groupcost.load("resnext50_32x4d", G=64)
    >>> report = net.analyze()
    >>> report.totals.params, report.totals.macs

One function per command, each returning an object whose `to_dict()` is that command's JSON:
`analyze_spec`, `layer`, `compare`, `whatif`, `check`, `diff`, `verify` (groupcost.api).
"""

from groupcost.graph.analysis import CONVENTION, METRICS, Report, Row, Totals, TypeBreakdown, TypeRow, analyze
from groupcost.errors import GroupcostError, Location, SpecError, UsageError
from groupcost.graph.network import Network
from groupcost.language import load, load_document, parse_text, zoo_names

__version__ = "0.2.0"

_API = ("analyze_spec", "layer", "compare", "whatif", "check", "diff", "verify", "CheckResult", "VerifyResult")


def __getattr__(name: str):
    """The command functions load on first use: `import groupcost` stays as light as `analyze` needs."""
    if name in _API:
        from groupcost import api

        return getattr(api, name)
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
    "check",
    "compare",
    "diff",
    "layer",
    "load",
    "load_document",
    "parse_text",
    "verify",
    "whatif",
    "zoo_names",
]
