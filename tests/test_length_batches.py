"""Length-aware batches: every row once, within the row and token limits, grouped by length."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from attnops.pipelines.batching import length_batches

lengths_lists = st.lists(st.integers(min_value=1, max_value=80), max_size=200)


@given(lengths_lists, st.integers(1, 40), st.one_of(st.none(), st.integers(1, 2000)), st.booleans())
def test_every_row_once_within_the_limits(lengths, max_rows, max_tokens, by_length):
    batches = length_batches(lengths, max_rows, max_tokens, by_length)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= max_rows
        if max_tokens is not None and len(batch) > 1:  # a row longer than the budget may go alone
            assert len(batch) * max(lengths[i] for i in batch) <= max_tokens


@given(lengths_lists, st.integers(1, 40))
def test_by_length_sorts_and_arrival_keeps_the_order(lengths, max_rows):
    by_length = [i for batch in length_batches(lengths, max_rows, None) for i in batch]
    assert [lengths[i] for i in by_length] == sorted(lengths)
    arrival = [i for batch in length_batches(lengths, max_rows, None, by_length=False) for i in batch]
    assert arrival == list(range(len(lengths)))


def test_a_long_row_does_not_pad_a_batch_of_short_ones():
    lengths = [3, 40, 4, 3, 5, 4, 30, 3]
    assert [1] in length_batches(lengths, max_rows=8, max_tokens=60)  # 2 × 40 words would exceed 60

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    assert padded(length_batches(lengths, 4, None)) == 176  # (3, 3, 3, 4) and (4, 5, 30, 40)
    assert padded(length_batches(lengths, 4, None, by_length=False)) == 280  # (3, 40, 4, 3) and (5, 4, 30, 3)
