"""Train stage: data → tokenizer → Lightning training → test evaluation, all in one MLflow run."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

from models.translation import TranslationModule
from pipelines import tracking
from pipelines.batching import PairDataset, make_loader
from pipelines.config import ExperimentConfig
from pipelines.data import TEST_SPLITS, ParallelSplit, load_corpus
from pipelines.errors import UserError
from pipelines.evaluate import EvaluationResult, evaluate_backend, log_evaluation
from pipelines.metrics import bleu_metric
from pipelines.run_model import CHECKPOINT_ARTIFACT, CONFIG_ARTIFACT, TOKENIZER_ARTIFACT, load_weights
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


def train(config: ExperimentConfig, config_path: Path | None = None) -> TrainResult:
    """Run one tracked training run and return its id, best checkpoint and test figures.

    The data is loaded before the run is created, so bad data paths leave the tracking store as it was.
    """
    pl.seed_everything(config.train.seed, workers=True, verbose=False)
    if config.train.num_threads:
        torch.set_num_threads(config.train.num_threads)
    corpus = load_corpus(config.data)
    work = Path(tempfile.mkdtemp(prefix="attnops-train-"))
    with tracking.start_run(
        config.tracking.experiment, config.tracking.run_name, config.tracking.system_metrics
    ) as run_id:
        tracking.log_params(config.flat())
        tracking.log_params({f"data.size.{split}": len(data) for split, data in corpus.items()})
        tracking.log_text(config.to_yaml(), CONFIG_ARTIFACT)
        if config_path is not None:
            tracking.log_artifact(config_path, "source_config")

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
        checkpoint = ModelCheckpoint(
            dirpath=work / "checkpoints", filename="best", monitor="val_bleu", mode="max", save_weights_only=True
        )
        callbacks: list[pl.Callback] = [checkpoint, tracking.EpochMetrics()]
        if config.train.early_stopping_patience:
            callbacks.append(
                EarlyStopping(monitor="val_bleu", mode="max", patience=config.train.early_stopping_patience)
            )
        train_loader = make_loader(train_set, config.train.batch_size, True, codec.special, config.train.seed)
        steps_per_epoch = len(train_loader)
        trainer = pl.Trainer(
            max_epochs=config.train.max_epochs,
            max_steps=config.train.max_steps,
            # A step limit shorter than an epoch still ends with a validation (checkpoint and BLEU need it).
            val_check_interval=min(config.train.max_steps, steps_per_epoch) if config.train.max_steps > 0 else None,
            gradient_clip_val=config.train.grad_clip or None,
            callbacks=callbacks,
            logger=False,
            default_root_dir=work,
            num_sanity_val_steps=0,
            enable_model_summary=False,
        )
        trainer.fit(
            module,
            train_dataloaders=train_loader,
            val_dataloaders=make_loader(_pairs(codec, corpus["val"]), config.train.batch_size, False, codec.special),
        )
        best = Path(checkpoint.best_model_path)
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
