"""What hierarchical training adds to the shared fit: the split, the word vocabulary, the module; test figures after."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from attnops.models.documents import DOCUMENT_MODULES, DocumentBatch
from attnops.models.hierarchical import pad_documents
from attnops.pipelines import tracking
from attnops.pipelines.batching import BucketBatchSampler
from attnops.pipelines.documents.codec import DocumentCodec
from attnops.pipelines.documents.config import DocumentConfig
from attnops.pipelines.documents.data import Document, DocumentCorpus
from attnops.pipelines.documents.evaluate import DocumentEvaluation, evaluate_documents, log_document_evaluation
from attnops.pipelines.documents.model import build_document_model
from attnops.pipelines.fitting import load_weights
from attnops.pipelines.inference.artifacts import TOKENIZER_ARTIFACT
from attnops.pipelines.task import Training

SPLITS_ARTIFACT = "data/splits.json"


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


def prepare_training(config: DocumentConfig, corpus: DocumentCorpus, work: Path) -> Training:
    """Inside the run: log the split, train and log the vocabulary, then the module and the loaders."""
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
    if model.idf_unit is not None:
        model.set_idf(codec.idf(codec.encode([d.sentences for d in corpus.splits["train"]]), model.idf_unit))
    module = DOCUMENT_MODULES[config.task](model, config.train.optim)
    monitor, mode = module.monitor
    return Training(
        module,
        document_loader(corpus.splits["train"], codec, config.train.batch_size, True, config.train.seed),
        document_loader(corpus.splits["val"], codec, config.train.batch_size, False),
        monitor,
        mode,
        state={"codec": codec},
    )


def evaluate_trained(
    config: DocumentConfig, corpus: DocumentCorpus, training: Training, checkpoint: Path
) -> DocumentEvaluation:
    """Test figures of the best checkpoint, logged to the run."""
    model = load_weights(training.module.model, checkpoint)
    evaluation = evaluate_documents(
        model, training.state["codec"], config, corpus.splits["test"], "test", corpus.splits["train"]
    )
    log_document_evaluation(evaluation)
    return evaluation
