"""The API's results shown in a Jupyter notebook, and by `rich.print`, as their command's own output.

The result classes live in the layers below the renderers, which must not import them back; this
module, loaded with the package, gives each class `_repr_markdown_` (the command's `--format
markdown`) and `__rich__` (its table), and the report's Overview `_repr_html_` (the report page, in
a sandboxed frame). Nothing is rendered, and no renderer imported, before a result is shown.
"""

from __future__ import annotations

import html
from collections.abc import Callable

REPORT_FRAME_HEIGHT = 900  # px: the notebook's frame around the report page, which scrolls inside it


def _renderers(result: object) -> tuple[Callable, Callable]:
    """(markdown, table) of the command that returns a result of this class."""
    from groupcost.render import compare, guard, report, sweep, variants, verify

    by_class = {
        "Report": (report.to_markdown, report.to_table),
        "TypeBreakdown": (report.types_markdown, report.types_table),
        "Comparison": (compare.to_markdown, compare.to_table),
        "GroupSweep": (variants.to_markdown, variants.to_table),
        "Sweep": (sweep.to_markdown, sweep.to_table),
        "Diff": (guard.diff_markdown, guard.diff_table),
        "CheckResult": (guard.check_markdown, guard.check_table),
        "VerifyResult": (verify.to_markdown, verify.to_table),
    }
    return by_class[type(result).__qualname__]


def _markdown(self) -> str:
    return _renderers(self)[0](self)


def _rich(self):
    return _renderers(self)[1](self)


def _report_html(self) -> str:
    """The report page in an iframe: its styles and script stay inside it, the notebook's outside."""
    from groupcost.render.html import to_html

    page = html.escape(to_html(self), quote=True)
    return (f'<iframe title="groupcost report" srcdoc="{page}" sandbox="allow-scripts" '
            f'style="width: 100%; height: {REPORT_FRAME_HEIGHT}px; border: 0"></iframe>')


def install(*classes: type) -> None:
    """Give each result class its display: the report's Overview its page, the others their table."""
    for cls in classes:
        if cls.__qualname__ == "Overview":
            cls._repr_html_ = _report_html  # type: ignore[attr-defined]
        else:
            cls._repr_markdown_ = _markdown  # type: ignore[attr-defined]
            cls.__rich__ = _rich  # type: ignore[attr-defined]


def install_command_results() -> None:
    """The classes that only the command functions (groupcost.api) return, loaded with them."""
    from groupcost.api import CheckResult, VerifyResult
    from groupcost.questions.compare import Comparison, GroupSweep
    from groupcost.questions.diff import Diff
    from groupcost.questions.report import Overview
    from groupcost.questions.whatif import Sweep

    install(CheckResult, VerifyResult, Comparison, GroupSweep, Diff, Overview, Sweep)
