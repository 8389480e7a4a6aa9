"""Comma-separated command-line values: rollout percentages and study seeds share one parser."""

from __future__ import annotations

import argparse

import pytest

from attnops.pipelines.cli.rollout import percents
from attnops.pipelines.cli.study import _seeds


def test_percentages_become_rising_shares():
    assert percents("5,25,50,100") == [0.05, 0.25, 0.5, 1.0]
    assert percents(" 10 , 100") == [0.1, 1.0]


@pytest.mark.parametrize("text", ["50,25", "0,50", "5,150", "5,5,100", "5,,100", "five"])
def test_percentages_that_do_not_rise_within_range_are_refused_naming_the_text(text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        percents(text)


def test_seeds_are_integers_that_do_not_repeat():
    assert _seeds("1,2,3") == [1, 2, 3]
    with pytest.raises(argparse.ArgumentTypeError, match="seeds repeat"):
        _seeds("1,2,1")
    with pytest.raises(argparse.ArgumentTypeError, match="'x' is not a valid int"):
        _seeds("1,x")
