"""Locations (1-based characters) and protocol positions in each encoding a client may pick."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from qaihm_lint.diagnostics import Location
from qaihm_lint.server.convert import Text

LINE = 'a = "é😀"; b = 1\r\nsecond\n'


@pytest.mark.parametrize(
    ("encoding", "column"),
    [
        (types.PositionEncodingKind.Utf16, 11),  # é is one unit, 😀 two
        (types.PositionEncodingKind.Utf8, 14),  # é is two bytes, 😀 four
        (types.PositionEncodingKind.Utf32, 10),  # characters
    ],
)
def test_positions_round_trip_in_every_encoding(encoding: str, column: int) -> None:
    text = Text(Path("x.py"), LINE.encode(), encoding)
    b = Location(1, LINE.index("b") + 1)
    assert text.position(b) == types.Position(0, column)
    assert text.location(types.Position(0, column)) == b
    # Rows end at \r\n as the engine counts them; past the end of a line is its end.
    assert text.position(Location(2, 1)) == types.Position(1, 0)
    assert text.location(types.Position(1, 99)) == Location(2, 7)
