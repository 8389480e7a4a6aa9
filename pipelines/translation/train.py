"""What translation training adds to the shared fit: the tokenizer, the pairs and the module; test BLEU after."""

from __future__ import annotations

from pathlib import Path

from attnops.models.translation import TranslationModule
from attnops.pipelines import tracking
from attnops.pipelines.batching import PairDataset
from attnops.pipelines.errors import UserError
from attnops.pipelines.fitting import load_weights
from attnops.pipelines.inference.artifacts import TOKENIZER_ARTIFACT
from attnops.pipelines.inference.decoding import search_settings
from attnops.pipelines.task import Training
from attnops.pipelines.translation.batching import make_loader, sentence_pairs
from attnops.pipelines.translation.config import TEST_SPLITS, TRAIN_TOKENS_PARAM, TranslationConfig
from attnops.pipelines.translation.data import ParallelSplit
from attnops.pipelines.translation.evaluate import EvaluationResult, evaluate_backend, log_evaluation
from attnops.pipelines.translation.metrics import bleu_metric
from attnops.pipelines.translation.tokenizer import TextCodec


def _pairs(codec: TextCodec, data: ParallelSplit, max_tokens: int | None = None) -> PairDataset:
    sources, targets = codec.encode_source(data.sources), codec.encode_target(data.targets)
    keep = [
        i
        for i in range(len(sources))
        if max_tokens is None or (len(sources[i]) <= max_tokens and len(targets[i]) <= max_tokens)
    ]
    return sentence_pairs([sources[i] for i in keep], [targets[i] for i in keep], [data.targets[i] for i in keep])


def prepare_training(config: TranslationConfig, corpus: dict[str, ParallelSplit], work: Path) -> Training:
    """Inside the run: train and log the tokenizer, then the module and the length-bucketed loaders."""
    tracking.log_params({f"data.size.{split}": len(data) for split, data in corpus.items()})
    codec = TextCodec.train(corpus["train"].sources, corpus["train"].targets, config.data.tokenizer)
    tracking.log_artifact(codec.save(work / "tokenizer"), TOKENIZER_ARTIFACT)
    tracking.log_params({"vocab.source": codec.source.get_vocab_size(), "vocab.target": codec.target.get_vocab_size()})
    train_set = _pairs(codec, corpus["train"], config.data.max_tokens)
    if len(train_set) == 0:
        raise UserError(f"no training pair is within data.max_tokens={config.data.max_tokens}")
    tokens = sum(len(s) + len(t) + 1 for s, t in zip(train_set.sources, train_set.targets))  # target + </s>
    tracking.log_params({"data.size.train_used": len(train_set), TRAIN_TOKENS_PARAM: tokens})
    module = TranslationModule(
        config.model,
        config.train.optim,
        codec.source.get_vocab_size(),
        codec.target.get_vocab_size(),
        codec.special,
        text_metric=bleu_metric(codec),
        val_max_length=config.train.max_decode_length,
    )
    return Training(
        module,
        make_loader(train_set, config.train.batch_size, True, codec.special, config.train.seed),
        make_loader(_pairs(codec, corpus["val"]), config.train.batch_size, False, codec.special),
        monitor="val_bleu",
        state={"codec": codec},
    )


def evaluate_trained(
    config: TranslationConfig, corpus: dict[str, ParallelSplit], training: Training, checkpoint: Path
) -> EvaluationResult:
    """BLEU on every test split with the best checkpoint, logged to the run."""
    codec = training.state["codec"]
    model = load_weights(training.module.model, checkpoint)
    evaluation = evaluate_backend(
        model,
        codec,
        {split: corpus[split] for split in TEST_SPLITS if split in corpus},
        search_settings(config, codec),
        config.tracking.heatmap_sentences,
    )
    log_evaluation(evaluation)
    return evaluation
