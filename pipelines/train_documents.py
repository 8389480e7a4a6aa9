"""Train stage for the hierarchical models: BBC documents → word vocabulary → Lightning → test evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from models.documents import DOCUMENT_MODULES, DocumentBatch, pad_documents
from models.hierarchical import ExtractiveSummarizer
from pipelines import tracking
from pipelines.batching import BucketBatchSampler
from pipelines.config import DocumentConfig
from pipelines.document_codec import DocumentCodec
from pipelines.document_data import Document, load_documents
from pipelines.evaluate_documents import DocumentEvaluation, evaluate_documents, log_document_evaluation
from pipelines.fitting import fit, training_run
from pipelines.run_model import (
    CHECKPOINT_ARTIFACT,
    TOKENIZER_ARTIFACT,
    build_document_model,
    load_weights,
)

SPLITS_ARTIFACT = "data/splits.json"


@dataclass
class DocumentTrainResult:
    run_id: str
    checkpoint: Path
    evaluation: DocumentEvaluation


def document_loader(
    documents: list[Document], codec: DocumentCodec, batch_size: int, shuffle: bool, seed: int = 0
) -> DataLoader:
    """Batches of documents of similar length, padded at both levels, with class and sentence labels."""
    encoded = codec.encode([d.sentences for d in documents])
    label_index = {label: i for i, label in enumerate(codec.labels)}
    items = [(e.ids, label_index[d.category], [d.labels[i] for i in e.indices]) for d, e in zip(documents, encoded)]

    def collate(batch: list[tuple[list[list[int]], int, list[int]]]) -> DocumentBatch:
        ids, mask = pad_documents([item[0] for item in batch])
        sentence_labels = torch.zeros(mask.shape[:2])
        for row, (_, _, labels) in enumerate(batch):
            sentence_labels[row, : len(labels)] = torch.tensor(labels, dtype=torch.float)
        return DocumentBatch(ids, mask, torch.tensor([item[1] for item in batch]), sentence_labels)

    lengths = [sum(map(len, e.ids)) for e in encoded]
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(items, batch_sampler=sampler, collate_fn=collate)


def train_documents(config: DocumentConfig, config_path: Path | None = None) -> DocumentTrainResult:
    """One tracked run: train a HAN classifier or an extractive summarizer, then evaluate it on test."""
    corpus = load_documents(config.data)
    with training_run(config, config_path) as (run_id, work):
        stats = corpus.stats()
        tracking.log_params({k: v for k, v in stats.items() if k.startswith("data.size")})
        tracking.log_metrics({k: v for k, v in stats.items() if not k.startswith("data.size")})
        tracking.log_text(json.dumps(corpus.split_ids(), indent=1), SPLITS_ARTIFACT)

        data = config.data
        codec = DocumentCodec.train(
            [s for d in corpus.splits["train"] for s in d.sentences], corpus.categories, data.vocab_size,
            data.min_frequency, data.max_sentences, data.max_words,
        )  # fmt: skip
        tracking.log_artifact(codec.save(work / "tokenizer"), TOKENIZER_ARTIFACT)
        tracking.log_params({"vocab.words": codec.vocab_size})

        model = build_document_model(config, codec)
        if isinstance(model, ExtractiveSummarizer):
            model.set_idf(codec.idf(codec.encode([d.sentences for d in corpus.splits["train"]])))
        module = DOCUMENT_MODULES[config.task](model, config.train.optim)
        monitor, mode = module.monitor
        best = fit(
            module,
            document_loader(corpus.splits["train"], codec, config.train.batch_size, True, config.train.seed),
            document_loader(corpus.splits["val"], codec, config.train.batch_size, False),
            config.train,
            monitor,
            mode,
            work,
        )
        tracking.log_artifact(best, str(Path(CHECKPOINT_ARTIFACT).parent))
        model = load_weights(module.model, best)
        evaluation = evaluate_documents(model, codec, config, corpus.splits["test"], "test")
        log_document_evaluation(evaluation)
    return DocumentTrainResult(run_id, best, evaluation)
