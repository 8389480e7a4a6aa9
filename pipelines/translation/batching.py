"""Length-bucketed batches of tokenized sentence pairs."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import DataLoader, Dataset

from attnops.models.seq2seq import SpecialTokens
from attnops.models.translation import Seq2SeqBatch
from attnops.pipelines.batching import BucketBatchSampler, pad_rows, pad_sources


@dataclass
class PairDataset(Dataset):
    """Tokenized pairs plus the raw target text (the reference for BLEU)."""

    sources: list[list[int]]
    targets: list[list[int]]
    references: list[str]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[list[int], list[int], str]:
        return self.sources[index], self.targets[index], self.references[index]


def collate(items: list[tuple[list[int], list[int], str]], special: SpecialTokens) -> Seq2SeqBatch:
    """Pad a list of ``(source ids, target ids, reference)`` into a :class:`Seq2SeqBatch`."""
    sources, targets, references = zip(*items)
    src, src_mask = pad_sources(list(sources), special)
    return Seq2SeqBatch(
        src=src,
        src_mask=src_mask,
        tgt_in=pad_rows([[special.bos, *t] for t in targets], special.pad),  # (B, T)
        tgt_out=pad_rows([[*t, special.eos] for t in targets], special.pad),  # (B, T)
        references=list(references),
    )


def make_loader(
    dataset: PairDataset, batch_size: int, shuffle: bool, special: SpecialTokens, seed: int = 0
) -> DataLoader:
    """A DataLoader over length buckets (shuffled for training, in corpus order otherwise)."""
    lengths = [len(s) for s in dataset.sources]
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=lambda items: collate(items, special))
