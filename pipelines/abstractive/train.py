"""What summarization training adds to the shared fit: the vocabulary, the pairs and the module; test ROUGE after."""

from __future__ import annotations

from pathlib import Path

from attnops.models.summarization import SummarizationModule, SummaryMetric
from attnops.pipelines import tracking
from attnops.pipelines.abstractive.batching import encode_pairs, make_loader
from attnops.pipelines.abstractive.codec import WordCodec
from attnops.pipelines.abstractive.config import AbstractiveConfig
from attnops.pipelines.abstractive.data import SummarySplit
from attnops.pipelines.abstractive.evaluate import SummaryEvaluation, evaluate_backend, log_evaluation
from attnops.pipelines.abstractive.metrics import rouge
from attnops.pipelines.abstractive.settings import summary_settings
from attnops.pipelines.fitting import load_weights
from attnops.pipelines.inference.artifacts import TOKENIZER_ARTIFACT
from attnops.pipelines.task import Training


def rouge_metric(codec: WordCodec) -> SummaryMetric:
    """Validation ROUGE of greedy summaries against the original summaries."""

    def metric(hypotheses: list[list[int]], oovs: list[list[str]], references: list[str]) -> dict[str, float]:
        texts = [codec.decode(ids, words) for ids, words in zip(hypotheses, oovs)]
        return rouge(texts, [[r] for r in references])

    return metric


def prepare_training(config: AbstractiveConfig, corpus: dict[str, SummarySplit], work: Path) -> Training:
    """Inside the run: build and log the vocabulary, then the module and the length-bucketed loaders."""
    data = config.data
    tracking.log_params({f"data.size.{split}": len(split_data) for split, split_data in corpus.items()})
    train = corpus["train"]
    codec = WordCodec.train(train.documents + train.summaries, data.vocab_size, data.min_frequency)
    tracking.log_artifact(codec.save(work / "tokenizer"), TOKENIZER_ARTIFACT)
    tracking.log_params({"vocab.words": codec.size})
    module = SummarizationModule(
        config.model,
        config.train.optim,
        codec.size,
        codec.special,
        config.train.coverage_weight,
        text_metric=rouge_metric(codec),
        val_max_length=config.train.max_decode_length,
    )
    pairs = {split: encode_pairs(codec, corpus[split], data.max_source_words, data.max_target_words)
             for split in ("train", "val")}  # fmt: skip
    return Training(
        module,
        make_loader(pairs["train"], config.train.batch_size, True, codec.special, config.train.seed),
        make_loader(pairs["val"], config.train.batch_size, False, codec.special),
        monitor="val_rougeL",
        state={"codec": codec},
    )


def evaluate_trained(
    config: AbstractiveConfig, corpus: dict[str, SummarySplit], training: Training, checkpoint: Path
) -> SummaryEvaluation:
    """Test ROUGE, baselines, copy figures and examples with the best checkpoint, logged to the run."""
    codec = training.state["codec"]
    model = load_weights(training.module.model, checkpoint)
    evaluation = evaluate_backend(model, codec, config, {"test": corpus["test"]}, summary_settings(config, codec))
    log_evaluation(evaluation)
    return evaluation
