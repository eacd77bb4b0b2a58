"""`--plot`: a what-if sweep drawn with matplotlib (an optional extra) into PNG or SVG.

The only matplotlib importer. The file is written next to its final place and moved there
when complete: never a partial file, never an existing file overwritten without `force`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from groupcost.errors import Location, UsageError
from groupcost.render.sweep import CHART_METRICS
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


def write_plot(sweep: Sweep, path: Path, force: bool = False) -> None:
    check_target(path, force)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib", INSTALL_HINT, Location("--plot")) from None
    legal = [o for o in sweep.outcomes if o.report is not None]
    labels = [o.config.label for o in legal]
    figure, axes = plt.subplots(len(CHART_METRICS), 1, figsize=(max(6, 0.6 * len(labels) + 3), 8), sharex=True)
    for axis, (title, metric) in zip(axes, CHART_METRICS):
        values = [o.report.metric(metric) for o in legal]  # type: ignore[union-attr]
        axis.bar(range(len(values)), values, color="#4c72b0")
        axis.set_ylabel(title)
        axis.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    figure.suptitle(f"{sweep.model}: what if (MACs = conv + linear multiply-accumulates; matmul MACs apart)")
    figure.tight_layout()
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
