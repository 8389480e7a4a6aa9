"""A tiny pointer-generator exported to ONNX: the same mixed distribution and summaries in ONNX Runtime."""

from __future__ import annotations

import pytest
import torch

from attnops.models.pointer import PointerGenerator
from attnops.models.search import SearchSettings, beam_search, greedy_search
from attnops.pipelines.abstractive.batching import collate, encode_pairs
from attnops.pipelines.abstractive.export import FRESH_SHAPES, check_parity
from attnops.pipelines.abstractive.summarize import summarize
from attnops.pipelines.config import RuntimeConfig
from attnops.pipelines.inference.graphs import COPY, graph_specs
from attnops.pipelines.inference.onnx_runtime import OnnxBackend
from attnops.pipelines.onnx_export import export_graphs
from tests.conftest import tiny_model_config


@pytest.fixture(scope="module")
def exported(word_codec, tmp_path_factory):
    torch.manual_seed(0)
    model = PointerGenerator(tiny_model_config(), word_codec.size, word_codec.special).eval()
    folder = tmp_path_factory.mktemp("pointer-onnx")
    specs = export_graphs(model, folder, opset=18)
    return model, OnnxBackend(folder, specs, RuntimeConfig(intra_op_threads=1)), specs


def _settings(codec, **kwargs) -> SearchSettings:
    return SearchSettings(bos=codec.special.bos, eos=codec.special.eos, pad=codec.special.pad, **kwargs)


def test_step_graph_takes_extended_ids_and_returns_the_copy_probability(exported):
    _, _, specs = exported
    assert {"coverage", "source_ids"} <= set(specs.state_fields)
    assert COPY in specs.decoder.outputs and "next_coverage" in specs.decoder.outputs
    assert specs == graph_specs(specs.state_fields)  # the runtime rebuilds the same declaration
    assert specs.decoder.dynamic_axes["logits"] == {0: "batch", 1: "extended_vocab"}


def test_parity_on_fresh_shapes_and_greedy_summaries_of_real_emails(exported, word_codec, aeslc):
    model, backend, _ = exported
    assert all(shape != (2, 7) for shape in FRESH_SHAPES)  # the export's dummy input
    documents = aeslc["test"].documents[:12]
    parity = check_parity(model, backend, word_codec, documents, _settings(word_codec, max_length=8), 60, 1e-4)
    assert parity.passed, parity
    assert parity.max_abs_logits <= 1e-4 and parity.greedy_mismatches == 0 and parity.greedy_sentences == 12


@pytest.mark.parametrize("search", [greedy_search, beam_search], ids=["greedy", "beam"])
def test_same_search_gives_the_same_summaries_and_copy_probabilities(exported, word_codec, aeslc, search):
    model, backend, _ = exported
    pairs = encode_pairs(word_codec, aeslc["test"].head(5), max_source_words=30, max_target_words=8)
    batch = collate(list(pairs), word_codec.special)
    settings = _settings(word_codec, max_length=8, beam_size=1 if search is greedy_search else 3)
    expected = search(model, batch.src, batch.src_mask, settings)
    actual = search(backend, batch.src, batch.src_mask, settings)
    assert [h.tokens for h in expected] == [h.tokens for h in actual]
    for e, a in zip(expected, actual):
        torch.testing.assert_close(a.copy, e.copy, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(a.attention, e.attention, atol=1e-5, rtol=1e-4)


def test_summaries_from_onnx_runtime_keep_copied_words_as_written(exported, word_codec, aeslc):
    model, backend, _ = exported
    settings = _settings(word_codec, max_length=6)
    documents = aeslc["test"].documents[:6]
    expected = summarize(model, word_codec, documents, settings, 60)
    actual = summarize(backend, word_codec, documents, settings, 60)
    assert [s.text for s in expected] == [s.text for s in actual]
    for summary, document in zip(actual, documents):
        copied = [w for w, c in zip(summary.words, summary.copied) if c]
        assert all(w in document for w in copied)
