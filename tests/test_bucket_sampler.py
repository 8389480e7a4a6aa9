"""The length-bucketed batch sampler: every index once per epoch, batches within size, an order fixed by
(seed, epoch) whatever the process, and pools sorted by length."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from attnops.pipelines.batching import BucketBatchSampler

lengths_lists = st.lists(st.integers(1, 50), min_size=1, max_size=300)
batch_sizes = st.integers(1, 20)
pools = st.integers(1, 6)


@settings(max_examples=80, deadline=None)
@given(lengths_lists, batch_sizes, pools, st.booleans(), st.integers(0, 10**6))
def test_every_index_once_per_epoch_in_batches_within_size(lengths, batch_size, pool_batches, shuffle, seed):
    sampler = BucketBatchSampler(lengths, batch_size, shuffle, seed, pool_batches)
    for _ in range(2):
        batches = list(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
        assert all(1 <= len(batch) <= batch_size for batch in batches)
        assert (
            len(batches)
            == len(sampler)
            == sum(
                -(-min(batch_size * pool_batches, len(lengths) - start) // batch_size)
                for start in range(0, len(lengths), batch_size * pool_batches)
            )
        )


@settings(max_examples=60, deadline=None)
@given(lengths_lists, batch_sizes, pools, st.integers(0, 10**6), st.integers(0, 5))
def test_the_order_depends_on_seed_and_epoch_only(lengths, batch_size, pool_batches, seed, epoch):
    walked = BucketBatchSampler(lengths, batch_size, True, seed, pool_batches)
    for _ in range(epoch):
        list(walked)  # each pass counts one epoch
    resumed = BucketBatchSampler(lengths, batch_size, True, seed, pool_batches)
    resumed.set_epoch(epoch)  # a resumed process is told the epoch
    assert list(walked) == list(resumed)


@settings(max_examples=60, deadline=None)
@given(lengths_lists, batch_sizes, pools)
def test_unshuffled_pools_keep_corpus_order_and_sort_by_length(lengths, batch_size, pool_batches):
    pool = batch_size * pool_batches
    flat = [i for batch in BucketBatchSampler(lengths, batch_size, False, 0, pool_batches) for i in batch]
    for start in range(0, len(lengths), pool):
        chunk = list(range(start, min(start + pool, len(lengths))))
        assert flat[start : start + pool] == sorted(chunk, key=lambda i: lengths[i])  # stable: ties in corpus order


def test_shuffled_epochs_differ_and_batches_hold_similar_lengths():
    lengths = [(7 * i) % 40 + 1 for i in range(400)]
    sampler = BucketBatchSampler(lengths, 16, True, seed=3)
    first, second = list(sampler), list(sampler)
    assert first != second
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first]
    assert max(spread) <= 2  # a pool of 800 holds every index here: each batch is a run of the sorted lengths
