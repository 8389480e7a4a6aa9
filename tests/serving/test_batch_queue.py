"""The replica's batch queue: every item answered once, batches within limits, the oldest item never left behind,
and length-aware batches padding less than first-come ones."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnops.serving.batching import BatchQueue


def _serve(lengths: list[int], max_batch_size: int, max_tokens: int | None, by_length: bool):
    """Submit items ``0..n-1`` (of ``lengths``) at once; the batches run, in order, and each caller's result."""
    batches: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0)
        return [-item for item in items]

    async def main() -> list[int]:
        queue = BatchQueue(run, max_batch_size, 0.0, lengths.__getitem__ if by_length else None, max_tokens)
        return await asyncio.gather(*(queue.submit(i) for i in range(len(lengths))))

    return batches, asyncio.run(main())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=80),
    st.integers(1, 16),
    st.one_of(st.none(), st.integers(1, 400)),
    st.booleans(),
)
def test_every_item_once_within_limits_oldest_first(lengths, max_batch_size, max_tokens, by_length):
    batches, results = _serve(lengths, max_batch_size, max_tokens, by_length)
    assert results == [-i for i in range(len(lengths))]
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    served: set[int] = set()
    for batch in batches:
        assert 1 <= len(batch) <= max_batch_size
        if by_length and max_tokens is not None and len(batch) > 1:
            assert len(batch) * max(lengths[i] for i in batch) <= max_tokens
        assert min(set(range(len(lengths))) - served) in batch  # the oldest waiting item is never skipped
        served |= set(batch)


def test_length_aware_batches_pad_less_than_first_come():
    lengths = [4, 30, 5, 3, 28, 6, 4, 25, 5, 3, 31, 4]

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    first_come, _ = _serve(lengths, 4, None, by_length=False)
    by_length, _ = _serve(lengths, 4, None, by_length=True)
    assert first_come == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert padded(by_length) < padded(first_come) == 4 * (30 + 28 + 31)


def _batches_after_a_switch(by_length_after: bool) -> list[list[int]]:
    """Item 0 runs alone; items 1..8 (lengths mixed) wait meanwhile; then the replica's ``batch_by_length`` is set
    as ``reconfigure`` sets it, and the waiting items are served in batches of 4."""
    lengths = [5, 3, 30, 4, 28, 5, 31, 3, 29]
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def run(items: list[int]) -> list[int]:
        batches.append(items)
        if items == [0]:
            await release.wait()
        return items

    async def main() -> None:
        queue = BatchQueue(run, 4, 0.0, lengths.__getitem__)
        first = asyncio.create_task(queue.submit(0))
        while not batches:
            await asyncio.sleep(0)
        rest = [asyncio.create_task(queue.submit(i)) for i in range(1, len(lengths))]
        await asyncio.sleep(0)
        queue.length = lengths.__getitem__ if by_length_after else None
        release.set()
        assert await asyncio.gather(first, *rest) == list(range(len(lengths)))

    asyncio.run(main())
    return batches


def test_length_grouping_switched_off_live_serves_first_come():
    assert _batches_after_a_switch(by_length_after=False) == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    by_length = _batches_after_a_switch(by_length_after=True)
    assert by_length[0] == [0] and by_length[1] == [1, 3, 5, 7]  # the oldest (1) with the short ones
    assert sorted(by_length[2]) == [2, 4, 6, 8]


def test_batch_by_length_is_a_typed_settings_key_on_by_default():
    from pydantic import ValidationError

    from attnops.serving.settings import TranslationSettings

    assert TranslationSettings().batch_by_length is True
    assert TranslationSettings.model_validate({"batch_by_length": False}).batch_by_length is False
    with pytest.raises(ValidationError, match="batch_by_length") as refused:
        TranslationSettings.model_validate({"batch_by_length": "fifo"})
    assert "valid boolean" in str(refused.value)
    with pytest.raises(ValidationError, match="batch_by_lenght"):  # a misspelt key is refused, not ignored
        TranslationSettings.model_validate({"batch_by_lenght": False})
