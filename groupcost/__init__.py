"""groupcost: exact cost analysis of convolutional architectures from a YAML spec.

    >>> import groupcost
    >>> net = groupcost.load("resnext50_32x4d", G=64)
    >>> report = net.analyze()
    >>> report.totals.params, report.totals.macs
"""

from groupcost.analysis import CONVENTION, Report, Row, Totals, analyze
from groupcost.errors import GroupcostError, Location, SpecError, UsageError
from groupcost.network import Network
from groupcost.spec import load, load_document, parse_text, zoo_names

__version__ = "0.1.0"

__all__ = [
    "CONVENTION",
    "GroupcostError",
    "Location",
    "Network",
    "Report",
    "Row",
    "SpecError",
    "Totals",
    "UsageError",
    "__version__",
    "analyze",
    "load",
    "load_document",
    "parse_text",
    "zoo_names",
]
