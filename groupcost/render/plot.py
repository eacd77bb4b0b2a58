"""`--plot`: a what-if sweep drawn with matplotlib (an optional extra) into PNG or SVG.

The only matplotlib importer. The file is written next to its final place and moved there
when complete: never a partial file, never an existing file overwritten without `force`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from groupcost.errors import Location, UsageError
from groupcost.render import units
from groupcost.render.sweep import Figure, figures, label, title
from groupcost.questions.whatif import Sweep

SUFFIXES = (".png", ".svg")
INSTALL_HINT = "pip install 'matplotlib>=3.6' in groupcost's environment; from a checkout: pip install -e '.[plot]'"


def check_target(path: Path, force: bool) -> None:
    """Refuse before any work is done: wrong suffix, missing folder, or an existing file without force."""
    where = Location("--plot")
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"cannot tell the image format of '{path}'", "name a .png or .svg file", where)
    if not path.parent.is_dir():
        raise UsageError(f"folder '{path.parent}' does not exist", None, where)
    if path.exists() and not force:
        raise UsageError(f"'{path}' exists", "add --force to overwrite it", where)


def axis_unit(panel: Figure) -> tuple[float, str]:
    """(factor, suffix) of a panel's axis, in the tables' units for its largest value: ticks read `500 M`, `64 MiB`, `50 µs`
    (round numbers of the unit, no `1e8` offset)."""
    top = max(panel.values, default=0)
    steps = {"count": (1000, ("", "K", "M", "G", "T", "P")), "bytes": (1024, ("B", "KiB", "MiB", "GiB", "TiB", "PiB"))}
    if panel.unit == "seconds":
        return next(((f, u) for f, u in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")) if top >= f), (1e-9, "ns"))
    base, suffixes = steps[panel.unit]
    power = 0
    while power < len(suffixes) - 1 and top >= base ** (power + 1):
        power += 1
    return float(base**power), suffixes[power]


def write_plot(sweep: Sweep, path: Path, force: bool = False) -> None:
    check_target(path, force)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise UsageError("--plot needs matplotlib", INSTALL_HINT, Location("--plot")) from None
    labels = [label(o) for o in sweep.outcomes if o.report is not None]
    panels = figures(sweep)
    figure, axes = plt.subplots(len(panels), 1, figsize=(max(7, 0.7 * len(labels) + 3), 2.4 * len(panels) + 1.2), sharex=True,
                                layout="constrained")
    for axis, panel in zip(axes, panels):
        factor, suffix = axis_unit(panel)
        scaled = [value / factor for value in panel.values]
        axis.bar(range(len(scaled)), scaled, color="#4c72b0")
        for x, (value, height) in enumerate(zip(panel.values, scaled)):
            axis.annotate(panel.shown(value), (x, height), ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
        axis.set_title(panel.title, loc="left", fontsize=10)
        axis.yaxis.set_major_formatter(FuncFormatter(lambda tick, _, suffix=suffix: f"{tick:g} {suffix}".rstrip() if tick else "0"))
        axis.margins(y=0.15)  # room for the values above the bars
        axis.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(labels)), labels, rotation=30 if max(map(len, labels), default=0) > 6 else 0, ha="right")
    figure.suptitle("\n".join(units.wrap(f"{title(sweep)} — {sweep.device.label()}", 70)), fontsize=11)
    figure.supxlabel("MACs = conv + linear multiply-accumulates (matmul MACs apart); latency: roofline estimate", fontsize=8)
    descriptor, temporary = tempfile.mkstemp(suffix=path.suffix, prefix=".groupcost-", dir=path.parent)
    os.close(descriptor)
    try:
        figure.savefig(temporary, format=path.suffix.lower()[1:])
        if path.exists() and not force:  # appeared while we drew
            raise UsageError(f"'{path}' exists", "add --force to overwrite it", Location("--plot"))
        _usual_mode(temporary)
        os.replace(temporary, path)
    finally:
        plt.close(figure)
        if os.path.exists(temporary):
            os.unlink(temporary)


def _usual_mode(path: str) -> None:
    """mkstemp creates -rw-------; a plot is an ordinary file, readable as the umask allows (-rw-r--r-- under 022)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
