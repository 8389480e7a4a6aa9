"""Length-bucketed batches of tokenized sentence pairs."""

from __future__ import annotations

from torch.utils.data import DataLoader

from attnops.models.seq2seq import SpecialTokens
from attnops.models.translation import Seq2SeqBatch
from attnops.pipelines.batching import PairCollate, PairDataset, bucket_loader


def sentence_pairs(sources: list[list[int]], targets: list[list[int]], references: list[str]) -> PairDataset:
    """Tokenized pairs plus the raw target text (the reference for BLEU)."""
    return PairDataset(sources, targets, (references,))


def collate(special: SpecialTokens) -> PairCollate:
    """Pads ``(source ids, target ids, reference)`` items into a :class:`Seq2SeqBatch`."""
    return PairCollate(special, Seq2SeqBatch)


def make_loader(
    dataset: PairDataset, batch_size: int, shuffle: bool, special: SpecialTokens, seed: int = 0
) -> DataLoader:
    """A DataLoader over length buckets (shuffled for training, in corpus order otherwise)."""
    return bucket_loader(dataset, batch_size, shuffle, collate(special), seed)
