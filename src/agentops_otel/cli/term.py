"""The terminal: display widths, truncation, colour, and tables fitted to the window.

Widths come from ``wcwidth`` (CJK and emoji take two columns, combining marks none, an emoji sequence
joined by ZWJ one glyph), imported only when a text is not plain ASCII. Colour is ANSI SGR, on a terminal
only: ``--color always|never`` decides, else ``NO_COLOR`` (https://no-color.org) turns it off,
``FORCE_COLOR`` on, ``TERM=dumb`` off. On a pipe nothing is cut or coloured: scripts get every column
and the full ids.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

GAP = 2
ELLIPSIS = "…"

# SGR codes.
BOLD = "1"
DIM = "2"
RED = "31"
GREEN = "32"
YELLOW = "33"
CYAN = "36"
STATE_STYLES = {"Success": GREEN, "Fail": RED, "Indeterminate": YELLOW, "running": CYAN}

# Control characters in recorded data (a name, a message) would move the cursor or restyle the
# terminal: shown as spaces (line breaks, tabs) or "?".
_CONTROL = {c: "?" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL.update({0x09: " ", 0x0A: " ", 0x0D: " "})


def clean(text: str) -> str:
    """``text`` with control characters made harmless, for one line of a terminal."""
    return text if text.isprintable() else text.translate(_CONTROL)


def width(text: str) -> int:
    """Columns the terminal draws ``text`` in (``text`` already :func:`clean`)."""
    if text.isascii():
        return len(text)
    import wcwidth

    measure = getattr(wcwidth, "width", None)  # wcwidth >= 0.3; wcswidth before
    size = int(measure(text)) if measure is not None else int(wcwidth.wcswidth(text))
    return size if size >= 0 else len(text)


def truncate(text: str, columns: int) -> str:
    """``text`` cut to at most ``columns`` columns, ending in an ellipsis when cut."""
    if width(text) <= columns:
        return text
    if columns <= 0:
        return ""
    if text.isascii():
        return text[: columns - 1] + ELLIPSIS
    import wcwidth

    graphemes = getattr(wcwidth, "iter_graphemes", None)  # a ZWJ emoji is cut whole or not at all
    kept: list[str] = []
    used = 0
    for grapheme in graphemes(text) if graphemes is not None else text:
        size = width(grapheme)
        if used + size > columns - 1:
            break
        kept.append(grapheme)
        used += size
    return "".join(kept) + ELLIPSIS


@dataclass
class Terminal:
    """Where output goes: ``columns`` to fit to (None: do not cut) and whether to colour."""

    columns: int | None = None
    color: bool = False

    @classmethod
    def of(cls, stream: TextIO, color: str = "auto") -> Terminal:
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        columns = shutil.get_terminal_size((80, 24)).columns if tty else None
        return cls(columns if columns and columns > 0 else None, _use_color(color, tty))

    def paint(self, text: str, style: str | None) -> str:
        if not style or not self.color or not text:
            return text
        return f"\x1b[{style}m{text}\x1b[0m"


def _use_color(choice: str, tty: bool) -> bool:
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force and force != "0":
        return True
    return tty and os.environ.get("TERM") != "dumb"


# -- tables --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False  # numbers are right-aligned
    flex: int = 0  # 0: never cut; else cut to fit, down to this many columns
    cut_first: bool = False  # cut before the other flexible columns (an id: its prefix is enough)
    drop: int = 0  # 0: always shown; else left out on a narrow terminal, the highest first


#: A cell: its text, or (text, SGR style).
Cell = str | tuple[str, str | None]


def _split(cell: Cell) -> tuple[str, str | None, int]:
    text, style = (cell[0], cell[1]) if isinstance(cell, tuple) else (cell, None)
    text = clean(text)
    return text, style, width(text)


def table(columns: Sequence[Column], rows: Iterable[Sequence[Cell]], out: TextIO, term: Terminal) -> None:
    """Rows under a header, each column as wide as its widest cell; on a terminal, fitted to it."""
    header = [_split((col.header, BOLD)) for col in columns]
    cells = [[_split(c) for c in row] for row in rows]
    natural = [size for _, _, size in header]
    for row in cells:
        natural = [max(w, size) for w, (_, _, size) in zip(natural, row, strict=True)]
    shown, widths = _fit(columns, natural, term.columns)
    for line in (header, *cells):
        parts = []
        for i in shown:
            text, style, size = line[i]
            if size > widths[i]:
                text = truncate(text, widths[i])
                size = width(text)
            pad = " " * (widths[i] - size)
            painted = term.paint(text, style)
            parts.append(pad + painted if columns[i].right else painted + pad)
        out.write("  ".join(parts).rstrip() + "\n")


def _fit(columns: Sequence[Column], natural: list[int], available: int | None) -> tuple[list[int], list[int]]:
    """(indexes of the columns shown, their widths): flexible columns cut first, then the least
    important columns left out, as few as will make the table fit."""
    everything = list(range(len(columns)))
    if available is None:
        return everything, natural
    droppable = sorted((i for i in everything if columns[i].drop), key=lambda i: -columns[i].drop)
    for dropped in range(len(droppable) + 1):
        shown = [i for i in everything if i not in droppable[:dropped]]
        widths = _shrink(columns, natural, shown, available)
        if widths is not None:
            return shown, widths
    # Too narrow for anything: the fewest columns, cut as far as they go, and let the terminal wrap.
    shown = [i for i in everything if i not in droppable]
    widths = list(natural)
    for i in shown:
        if columns[i].flex:
            widths[i] = min(natural[i], columns[i].flex)
    return shown, widths


def _shrink(
    columns: Sequence[Column], natural: list[int], shown: list[int], available: int
) -> list[int] | None:
    widths = list(natural)
    excess = sum(widths[i] for i in shown) + GAP * (len(shown) - 1) - available
    for i in shown:
        if excess > 0 and columns[i].cut_first and widths[i] > columns[i].flex:
            step = min(excess, widths[i] - columns[i].flex)
            widths[i] -= step
            excess -= step
    while excess > 0:
        # Cut the flexible column with the most to spare, one column at a time (fair to long names).
        spare = [
            (widths[i] - columns[i].flex, i) for i in shown if columns[i].flex and widths[i] > columns[i].flex
        ]
        if not spare:
            return None
        most, i = max(spare)
        step = min(excess, max(1, most - (sorted(spare)[-2][0] if len(spare) > 1 else 0)))
        widths[i] -= step
        excess -= step
    return widths


def fit_line(segments: Sequence[tuple[str, str | None]], term: Terminal) -> str:
    """One line of styled segments, cut with an ellipsis at the terminal's width."""
    room = term.columns
    parts: list[str] = []
    for raw, style in segments:
        text = clean(raw)
        if room is not None:
            size = width(text)
            if size > room or (size == room and len(parts) < len(segments) - 1):
                parts.append(term.paint(truncate(text, room), style))
                break
            room -= size
        parts.append(term.paint(text, style))
    return "".join(parts).rstrip()
