"""Length-bucketed batches of (document, summary) pairs in extended ids."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import DataLoader, Dataset

from attnops.models.seq2seq import SpecialTokens
from attnops.models.summarization import SummaryBatch
from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.data import SummarySplit
from attnops.pipelines.batching import BucketBatchSampler, pad_rows, pad_sources


@dataclass
class PairDataset(Dataset):
    """Encoded pairs: extended source ids, target ids, the source's OOV words and the raw summary."""

    sources: list[list[int]]
    targets: list[list[int]]
    oovs: list[list[str]]
    references: list[str]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[list[int], list[int], list[str], str]:
        return self.sources[index], self.targets[index], self.oovs[index], self.references[index]


def encode_pairs(codec: WordCodec, data: SummarySplit, max_source_words: int, max_target_words: int) -> PairDataset:
    sources = [codec.encode_source(d, max_source_words) for d in data.documents]
    targets = [codec.encode_target(s, e.oovs, max_target_words) for s, e in zip(data.summaries, sources)]
    return PairDataset([e.ids for e in sources], targets, [e.oovs for e in sources], list(data.summaries))


def collate(items: list[tuple[list[int], list[int], list[str], str]], special: SpecialTokens) -> SummaryBatch:
    sources, targets, oovs, references = zip(*items)
    src, src_mask = pad_sources(list(sources), special)
    return SummaryBatch(
        src=src,
        src_mask=src_mask,
        tgt_in=pad_rows([[special.bos, *t] for t in targets], special.pad),  # (B, T)
        tgt_out=pad_rows([[*t, special.eos] for t in targets], special.pad),  # (B, T)
        oovs=list(oovs),
        references=list(references),
    )


def make_loader(
    dataset: PairDataset, batch_size: int, shuffle: bool, special: SpecialTokens, seed: int = 0
) -> DataLoader:
    sampler = BucketBatchSampler([len(s) for s in dataset.sources], batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=lambda items: collate(items, special))
