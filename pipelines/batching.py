"""Length-bucketed batches and padding, shared by every task."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from attnops.models.seq2seq import SpecialTokens


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar source length, to keep padding low.

    Indices are shuffled (differently each epoch when ``shuffle``), cut into pools of
    ``pool_batches`` batches, sorted by length inside each pool and split into batches; the batch
    order is shuffled again.
    """

    def __init__(self, lengths: list[int], batch_size: int, shuffle: bool, seed: int = 0, pool_batches: int = 50):
        self.lengths = lengths
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool = batch_size * pool_batches
        self.epoch = 0

    def _batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = (
            torch.randperm(len(self.lengths), generator=generator).tolist()
            if self.shuffle
            else list(range(len(self.lengths)))
        )
        batches = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start : start + self.pool], key=lambda i: self.lengths[i])
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of ``epoch`` next (a resumed fit calls it; otherwise each pass counts one)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        # A generator: the order is drawn at the first batch, after the epoch's set_epoch, even where
        # Lightning creates the iterator before the epoch starts (the first epoch of a resumed fit).
        batches = self._batches()
        self.epoch += 1
        yield from batches

    def __len__(self) -> int:
        return len(self._batches())


def pad_rows(rows: list[list[int]], pad: int) -> torch.Tensor:
    """Right-pad id lists into a ``(N, max length)`` tensor."""
    out = torch.full((len(rows), max(len(r) for r in rows)), pad, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def pad_sources(sources: list[list[int]], special: SpecialTokens) -> tuple[torch.Tensor, torch.Tensor]:
    """Source ids ``(B, S)`` and mask ``(B, S)``; an empty source becomes ``<unk>`` (no empty rows)."""
    src = pad_rows([s or [special.unk] for s in sources], special.pad)
    return src, src != special.pad


def length_batches(
    lengths: list[int], max_rows: int, max_tokens: int | None, by_length: bool = True
) -> list[list[int]]:
    """Indices cut into batches of at most ``max_rows`` rows whose padded size (rows × longest) stays within
    ``max_tokens`` (None: no budget); a row longer than the budget goes alone.

    ``by_length`` sorts the indices by length first (stable), so each batch holds rows of similar length and
    little padding; without it batches follow the given order (first come, first served).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i]) if by_length else list(range(len(lengths)))
    batches: list[list[int]] = []
    batch: list[int] = []
    longest = 0
    for i in order:
        widest = max(longest, lengths[i])
        if batch and (len(batch) == max_rows or (max_tokens is not None and widest * (len(batch) + 1) > max_tokens)):
            batches.append(batch)
            batch, widest = [], lengths[i]
        batch.append(i)
        longest = widest
    if batch:
        batches.append(batch)
    return batches
