"""Train stage: data → tokenizer → Lightning training → test evaluation, all in one MLflow run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from models.translation import TranslationModule
from pipelines import tracking
from pipelines.batching import PairDataset, make_loader
from pipelines.config import TranslationConfig
from pipelines.data import TEST_SPLITS, ParallelSplit, load_corpus
from pipelines.errors import UserError
from pipelines.evaluate import EvaluationResult, evaluate_backend, log_evaluation
from pipelines.fitting import fit, training_run
from pipelines.metrics import bleu_metric
from pipelines.run_model import CHECKPOINT_ARTIFACT, TOKENIZER_ARTIFACT, load_weights
from pipelines.tokenizer import TextCodec
from pipelines.translate import search_settings

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced."""

    run_id: str
    checkpoint: Path
    evaluation: EvaluationResult


def _pairs(codec: TextCodec, data: ParallelSplit, max_tokens: int | None = None) -> PairDataset:
    sources, targets = codec.encode_source(data.sources), codec.encode_target(data.targets)
    keep = [
        i
        for i in range(len(sources))
        if max_tokens is None or (len(sources[i]) <= max_tokens and len(targets[i]) <= max_tokens)
    ]
    return PairDataset([sources[i] for i in keep], [targets[i] for i in keep], [data.targets[i] for i in keep])


def train(config: TranslationConfig, config_path: Path | None = None) -> TrainResult:
    """Run one tracked training run and return its id, best checkpoint and test figures.

    The data is loaded before the run is created, so bad data paths leave the tracking store as it was.
    """
    corpus = load_corpus(config.data)
    with training_run(config, config_path) as (run_id, work):
        tracking.log_params({f"data.size.{split}": len(data) for split, data in corpus.items()})

        codec = TextCodec.train(corpus["train"].sources, corpus["train"].targets, config.data.tokenizer)
        tracking.log_artifact(codec.save(work / "tokenizer"), TOKENIZER_ARTIFACT)
        tracking.log_params(
            {"vocab.source": codec.source.get_vocab_size(), "vocab.target": codec.target.get_vocab_size()}
        )
        train_set = _pairs(codec, corpus["train"], config.data.max_tokens)
        if len(train_set) == 0:
            raise UserError(f"no training pair is within data.max_tokens={config.data.max_tokens}")
        tracking.log_params({"data.size.train_used": len(train_set)})

        module = TranslationModule(
            config.model,
            config.train.optim,
            codec.source.get_vocab_size(),
            codec.target.get_vocab_size(),
            codec.special,
            text_metric=bleu_metric(codec),
            val_max_length=config.train.max_decode_length,
        )
        best = fit(
            module,
            make_loader(train_set, config.train.batch_size, True, codec.special, config.train.seed),
            make_loader(_pairs(codec, corpus["val"]), config.train.batch_size, False, codec.special),
            config.train,
            monitor="val_bleu",
            mode="max",
            work=work,
        )
        tracking.log_artifact(best, str(Path(CHECKPOINT_ARTIFACT).parent))

        model = load_weights(module.model, best)
        evaluation = evaluate_backend(
            model,
            codec,
            {split: corpus[split] for split in TEST_SPLITS if split in corpus},
            search_settings(config, codec),
            config.tracking.heatmap_sentences,
        )
        log_evaluation(evaluation)
    return TrainResult(run_id=run_id, checkpoint=best, evaluation=evaluation)
