"""What a table view is made of — grids, lines of text and charts — rendered two ways.

In a terminal (or with FORCE_COLOR) rich draws them with colours; to a pipe or a file, where no
colour is shown anyway, `plain()` writes the same lines without loading rich's console, which
takes a good part of a command's start-up. Both fit the width the same way (render/grid.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """A line of text (wrapped between words when longer than the width), with a rich style name."""

    text: str
    style: str = ""

    def plain_lines(self, width: int) -> list[str]:
        from groupcost.render.units import wrap

        return wrap(self.text, width)


class Blocks:
    """Parts shown one under the other: Grids, Notes, or anything with `plain_lines(width)` and rich support."""

    def __init__(self, *parts):
        self.parts = parts

    def __rich_console__(self, console, options):
        from rich.text import Text

        for part in self.parts:
            if isinstance(part, Note):  # wrapped here, as in plain(): a number keeps its unit on its line
                yield from (Text(line, style=part.style) for line in part.plain_lines(options.max_width))
            else:
                yield part

    def plain_lines(self, width: int) -> list[str]:
        return [line for part in self.parts for line in part.plain_lines(width)]

    def plain(self, width: int) -> str:
        return "".join(line + "\n" for line in self.plain_lines(width))
