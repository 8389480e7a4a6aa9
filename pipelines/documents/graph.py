"""The one ONNX graph of a hierarchical model: ``(ids, word_mask) -> (scores, word_weights, sentence_weights)``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from attnops.models.hierarchical import DocumentOutput, pad_documents
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.inference.graphs import BATCH, GraphSpec
from attnops.pipelines.inference.onnx_runtime import create_session

DOCUMENT_GRAPH = GraphSpec(
    stem="document",
    inputs=("ids", "word_mask"),
    outputs=("scores", "word_weights", "sentence_weights"),
    dynamic_axes={
        "ids": {0: BATCH, 1: "sentences", 2: "words"},
        "word_mask": {0: BATCH, 1: "sentences", 2: "words"},
        "scores": {0: BATCH},
        "word_weights": {0: BATCH, 1: "sentences", 2: "words"},
        "sentence_weights": {0: BATCH, 1: "sentences"},
    },
)
"""Input/output names and dynamic axes, read by the exporter, the backend and the parity check."""


def dummy_documents(lengths: list[list[int]], vocab_size: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random word ids shaped as documents whose sentences have ``lengths[doc][sentence]`` words."""
    generator = torch.Generator().manual_seed(seed)
    documents = [[torch.randint(2, vocab_size, (n,), generator=generator).tolist() for n in doc] for doc in lengths]
    return pad_documents(documents)


class OnnxDocumentBackend:
    """The exported graph behind the same call as the PyTorch model (a :class:`DocumentBackend`)."""

    def __init__(self, folder: Path, runtime: RuntimeConfig) -> None:
        self.session = create_session(folder / DOCUMENT_GRAPH.file(runtime.precision), runtime)

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def __call__(self, ids: Tensor, word_mask: Tensor) -> DocumentOutput:
        feeds = {"ids": ids.numpy(), "word_mask": word_mask.numpy()}
        scores, word_weights, sentence_weights = self.session.run(None, feeds)
        return DocumentOutput(
            torch.from_numpy(scores), torch.from_numpy(word_weights), torch.from_numpy(sentence_weights)
        )
