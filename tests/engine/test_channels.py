"""`--channels` as `vis features` and `vis atlas` both read it."""

from __future__ import annotations

import pytest

from vis.engine._channels import parse_channels
from vis.errors import VisError


@pytest.mark.parametrize("text, expected", [
    (None, list(range(16))), ("0:4", [0, 1, 2, 3]), ("0:8:3", [0, 3, 6]), ("3,7,9", [3, 7, 9]),
    ("0:2,10", [0, 1, 10]), ("14:", [14, 15]), (":2", [0, 1]), ("5", [5]), ("1, 3", [1, 3]), ("::5", [0, 5, 10, 15]),
])
def test_selections(text, expected):
    assert parse_channels(text, 16) == expected


def test_the_default_is_the_first_sixteen_or_all_of_a_smaller_layer():
    assert parse_channels(None, 6) == list(range(6))
    assert parse_channels(None, 64, default=8) == list(range(8))


@pytest.mark.parametrize("text, words", [
    ("0:17", "channel range '0:17' is out of range: conv2 has 16 channels (0..15)"),
    ("16", "channel 16 is out of range: conv2 has 16 channels"),
    ("-1", "channel -1 is out of range"),
    ("a:b", "--channels must look like"),
    ("1:2:3:4", "--channels must look like"),
    ("4:4", "'4:4' is empty"),
    ("3:1,5", "'3:1' is empty"),
    ("0:8:0", "a step of at least 1"),
    ("1,2,1", "channel 1 more than once"),
    ("0:4,2", "channel 2 more than once"),
    (",", "has an empty entry between commas"),
    ("0:4,", "has an empty entry between commas"),  # accepted before
    (" ", "--channels is empty"),  # quietly meant the default before
])
def test_bad_selections_name_what_is_wrong(text, words):
    with pytest.raises(VisError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_channels(text, 16, "conv2")
