"""Helpers the translation tests share: a real batch of Multi30k pairs and search settings for a codec."""

from __future__ import annotations

from attnops.models.search import SearchSettings
from attnops.models.translation import Seq2SeqBatch
from attnops.pipelines.translation.batching import PairDataset, collate


def train_batch(codec, multi30k, n: int = 8, offset: int = 0) -> Seq2SeqBatch:
    """Training pairs ``offset`` to ``offset + n`` as one padded batch."""
    split = multi30k["train"]
    sources, targets = split.sources[offset : offset + n], split.targets[offset : offset + n]
    items = list(PairDataset(codec.encode_source(sources), codec.encode_target(targets), targets))
    return collate(items, codec.special)


def decode_settings(codec, **kwargs) -> SearchSettings:
    return SearchSettings(bos=codec.special.bos, eos=codec.special.eos, pad=codec.special.pad, **kwargs)
