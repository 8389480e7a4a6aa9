"""Real AESLC emails and a word vocabulary small enough that many source words are out of it."""

from __future__ import annotations

import pytest

from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.config import SummaryDataConfig
from attnops.pipelines.abstractive.data import SummarySplit, load_corpus


@pytest.fixture(scope="session")
def aeslc() -> dict[str, SummarySplit]:
    return load_corpus(SummaryDataConfig(dataset="aeslc", max_train_examples=400, max_val_examples=20,
                                         max_test_examples=20))  # fmt: skip


@pytest.fixture(scope="session")
def word_codec(aeslc) -> WordCodec:
    train = aeslc["train"]
    return WordCodec.train(train.documents + train.summaries, vocab_size=600, min_frequency=2)
