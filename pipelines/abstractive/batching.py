"""Length-bucketed batches of (document, summary) pairs in extended ids."""

from __future__ import annotations

from torch.utils.data import DataLoader

from attnops.models.seq2seq import SpecialTokens
from attnops.models.summarization import SummaryBatch
from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.data import SummarySplit
from attnops.pipelines.batching import PairCollate, PairDataset, bucket_loader


def encode_pairs(codec: WordCodec, data: SummarySplit, max_source_words: int, max_target_words: int) -> PairDataset:
    """Encoded pairs: extended source ids, target ids, then each source's OOV words and the raw summary."""
    sources = [codec.encode_source(d, max_source_words) for d in data.documents]
    targets = [codec.encode_target(s, e.oovs, max_target_words) for s, e in zip(data.summaries, sources)]
    return PairDataset([e.ids for e in sources], targets, ([e.oovs for e in sources], list(data.summaries)))


def collate(special: SpecialTokens) -> PairCollate:
    """Pads ``(source ids, target ids, oovs, reference)`` items into a :class:`SummaryBatch`."""
    return PairCollate(special, SummaryBatch)


def make_loader(
    dataset: PairDataset, batch_size: int, shuffle: bool, special: SpecialTokens, seed: int = 0
) -> DataLoader:
    return bucket_loader(dataset, batch_size, shuffle, collate(special), seed)
