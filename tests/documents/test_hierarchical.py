"""Hierarchical attention models: masking at both levels, padding invariance, learning, ONNX parity."""

from __future__ import annotations

import gzip
import json
import math
from functools import cache

import pytest
import torch
import torch.nn.functional as F

from attnops.models.attention import ATTENTION_NAMES
from attnops.models.config import HierarchicalConfig
from attnops.models.documents import DOCUMENT_MODULES, DocumentBatch
from attnops.models.hierarchical import (
    DOCUMENT_MODELS,
    PADDED_SENTENCE_SCORE,
    ExtractiveSummarizer,
    HANClassifier,
    lexical_centrality,
    pad_documents,
    select_sentences,
)
from attnops.pipelines.config import OptimConfig, RuntimeConfig
from attnops.pipelines.documents.codec import DocumentCodec, EncodedDocument
from attnops.pipelines.documents.config import DocumentDataConfig, SummaryConfig
from attnops.pipelines.documents.export import export_document_graph
from attnops.pipelines.documents.graph import OnnxDocumentBackend, dummy_documents
from attnops.pipelines.documents.predict import DocumentPrediction, summarize
from attnops.pipelines.documents.sentences import oracle_labels, split_sentences

TASKS = tuple(DOCUMENT_MODELS)
VOCAB, CLASSES = 50, 5
BBC = DocumentDataConfig().data_root() / "bbc_news_summary" / "bbc_news_summary.jsonl.gz"


def tiny(attention: str = "additive", rnn_type: str = "gru", lexical_term: bool = False) -> HierarchicalConfig:
    return HierarchicalConfig(
        attention=attention, rnn_type=rnn_type, embedding_dim=12, word_hidden_size=16, sentence_hidden_size=16,
        num_heads=2, max_positions=8, dropout=0.0, lexical_term=lexical_term,
    )  # fmt: skip


def lexical_classifier() -> HANClassifier:
    model = HANClassifier(tiny(lexical_term=True), VOCAB, CLASSES).eval()
    model.set_idf(torch.linspace(0.5, 3.0, VOCAB))
    return model


@cache
def bbc_rows(n: int = 40) -> list[dict]:
    with gzip.open(BBC, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(n), handle)]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("attention", ATTENTION_NAMES)
def test_padding_gets_zero_weight_and_changes_nothing(task, attention):
    model = DOCUMENT_MODELS[task](tiny(attention), VOCAB, CLASSES).eval()
    ids, mask = dummy_documents([[4, 2, 3], [5], [1, 6]], VOCAB, seed=3)  # (3, 3, 6)
    out = model(ids, mask)
    sentence_mask = mask.any(dim=2)
    torch.testing.assert_close(out.sentence_weights.sum(-1), torch.ones(3))
    torch.testing.assert_close(out.word_weights.sum(-1), sentence_mask.float())  # 1 per real sentence, 0 per pad
    assert (out.word_weights[~mask] == 0).all() and (out.sentence_weights[~sentence_mask] == 0).all()

    # Garbage ids in extra padded words and sentences must not move any output.
    padded_ids = F.pad(ids, (0, 4, 0, 2), value=7)
    padded_mask = F.pad(mask, (0, 4, 0, 2))
    padded = model(padded_ids, padded_mask)
    scores = out.scores if task == "classification" else out.scores[:, :3]
    torch.testing.assert_close(padded.scores if task == "classification" else padded.scores[:, :3], scores)
    torch.testing.assert_close(padded.word_weights[:, :3, :6], out.word_weights)
    torch.testing.assert_close(padded.sentence_weights[:, :3], out.sentence_weights)
    if task == "summarization":
        assert (padded.scores[~padded_mask.any(dim=2)] == PADDED_SENTENCE_SCORE).all()


def test_oracle_labels_on_real_articles():
    matched = total = 0
    for row in bbc_rows():
        sentences = split_sentences(row["article"])
        oracle = oracle_labels(sentences, row["summary"])
        squashed = "".join(row["summary"].split())
        for sentence, label in zip(sentences, oracle.labels):
            if "".join(sentence.split()) in squashed and len(sentence) >= 12:
                assert label == 1, sentence
        assert sum(oracle.labels) >= 1
        matched, total = matched + oracle.matched_summary_sentences, total + oracle.summary_sentences
    assert matched / total >= 0.95, (matched, total)
    # business/001's summary glues sentences without spaces: "...$10.9bn.For the full-year..."
    first = bbc_rows()[0]
    sentences = split_sentences(first["article"])
    labels = oracle_labels(sentences, first["summary"]).labels
    labelled = [s for s, y in zip(sentences, labels) if y]
    assert any(s.startswith("TimeWarner said fourth quarter sales rose 2%") for s in labelled)
    assert any(s.startswith("For the full-year, TimeWarner posted a profit") for s in labelled)


def test_selection_respects_budgets_and_document_order():
    scores = [0.1, 0.9, 0.3, 0.8, 0.7]
    assert select_sentences(scores, 3) == [1, 3, 4]
    assert select_sentences(scores, 3, [5, 30, 5, 10, 10], max_words=25) == [1]  # first pick is always kept
    assert select_sentences(scores, 3, [5, 10, 5, 10, 30], max_words=25) == [1, 2, 3]


def test_codec_cuts_to_limits_and_says_so():
    sentences = [split_sentences(row["article"]) for row in bbc_rows(10)]
    codec = DocumentCodec.train([s for doc in sentences for s in doc], ["a", "b"], 500, 1, 4, 8)
    encoded = codec.encode(sentences + [["Short one.", "  ", "Two."]])
    assert all(len(doc.ids) <= 4 and all(len(s) <= 8 for s in doc.ids) for doc in encoded)
    assert all(doc.truncated for doc in encoded[:-1])
    assert not encoded[-1].truncated and encoded[-1].indices == [0, 2]
    assert encoded[0].words[0][:2] == ["Quarterly", "profits"]  # surface forms survive the lowercasing


@pytest.mark.parametrize("task", TASKS)
def test_loss_falls_on_a_small_batch_of_real_documents(task):
    rows = bbc_rows(8)
    documents = [split_sentences(row["article"]) for row in rows]
    codec = DocumentCodec.train([s for doc in documents for s in doc], ["business", "entertainment"], 800, 1, 12, 20)
    encoded = codec.encode(documents)
    ids, mask = pad_documents([doc.ids for doc in encoded])
    oracle = [oracle_labels(doc, row["summary"]).labels for doc, row in zip(documents, rows)]
    sentence_labels = torch.zeros(mask.shape[:2])
    for i, doc in enumerate(encoded):
        sentence_labels[i, : len(doc.indices)] = torch.tensor([float(oracle[i][j]) for j in doc.indices])
    batch = DocumentBatch(ids, mask, torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]), sentence_labels)
    module = DOCUMENT_MODULES[task](DOCUMENT_MODELS[task](tiny(), codec.vocab_size, 2), OptimConfig(lr=0.01))
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    losses = []
    for _ in range(25):
        loss = module.loss(module.model(batch.ids, batch.word_mask), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("attention, rnn_type", [("additive", "gru"), ("multihead", "lstm"), ("dot", "gru")])
def test_onnx_graph_matches_pytorch_on_fresh_shapes(task, attention, rnn_type, tmp_path):
    model = DOCUMENT_MODELS[task](tiny(attention, rnn_type), VOCAB, CLASSES).eval()
    export_document_graph(model, tmp_path, opset=18)
    assert not model.training  # the exporter must leave the model in eval mode
    backend = OnnxDocumentBackend(tmp_path, RuntimeConfig(intra_op_threads=1, device="cpu"))
    for seed, lengths in enumerate([[[1]], [[7, 1, 9], [4], [2, 2, 2, 2, 2, 2]], [[11] * 3] * 4]):
        ids, mask = dummy_documents(lengths, VOCAB, seed=seed)
        assert ids.shape != (2, 3, 5)  # not the export's dummy shape
        with torch.no_grad():
            expected = model(ids, mask)
        actual = backend(ids, mask)
        for name in ("scores", "word_weights", "sentence_weights"):
            torch.testing.assert_close(getattr(actual, name), getattr(expected, name), atol=1e-5, rtol=1e-4)


def test_lexical_centrality_ranks_the_sentence_sharing_most_words_first():
    # Sentences 0-2 share rare words (id 5, 6); sentence 3 shares nothing; a padded sentence follows.
    ids, mask = pad_documents([[[5, 6, 7], [5, 6, 8], [5, 9, 2], [10, 11, 12]]])
    ids, mask = F.pad(ids, (0, 0, 0, 1)), F.pad(mask, (0, 0, 0, 1))
    idf = torch.ones(VOCAB)
    centrality = lexical_centrality(ids, mask, idf)[0]  # (5,)
    assert centrality[:4].argmin() == 3 and centrality[3] < 0 < centrality[0]
    assert centrality[4] == 0  # padding
    torch.testing.assert_close(centrality[:4].mean(), torch.tensor(0.0), atol=1e-6, rtol=0)


def test_summary_ranks_by_probability_or_by_expected_summary_words():
    words = [["a"] * 3, ["b"] * 40, ["c"] * 5, ["d"] * 30]
    document = EncodedDocument([f"s{i}" for i in range(4)], [0, 1, 2, 3], [[1] * len(w) for w in words], words, False)
    logits = torch.logit(torch.tensor([0.9, 0.6, 0.8, 0.1])).tolist()
    prediction = DocumentPrediction(document, logits, [[0.0] * len(w) for w in words], [0.25] * 4)
    by_probability = summarize(prediction, SummaryConfig(max_sentences=2, rank_by="probability"))
    assert [s.index for s in by_probability] == [0, 2]
    by_words = summarize(prediction, SummaryConfig(max_sentences=2, rank_by="expected_words"))
    assert [s.index for s in by_words] == [1, 2]  # 0.6·40 = 24 and 0.8·5 = 4 beat 0.1·30 = 3 and 0.9·3 = 2.7
    assert by_words[0].score == pytest.approx(0.6)


def test_lexical_term_adds_a_linear_model_of_the_tfidf_bag_and_ignores_padding():
    model = lexical_classifier()
    ids, mask = dummy_documents([[4, 2, 3], [5], [1, 6]], VOCAB, seed=3)
    with torch.no_grad():
        out = model(ids, mask)
        deep = model.output(model.encoder(ids, mask).document)
        for row in range(ids.shape[0]):
            counts = torch.bincount(ids[row][mask[row]], minlength=VOCAB).float()
            bag = torch.log1p(counts) * model.lexical.idf
            expected = deep[row] + model.lexical.linear(bag / bag.norm())
            torch.testing.assert_close(out.scores[row], expected)
        padded = model(F.pad(ids, (0, 4, 0, 2), value=7), F.pad(mask, (0, 4, 0, 2)))
    torch.testing.assert_close(padded.scores, out.scores)


def test_lexical_term_is_exported_with_its_idf(tmp_path):
    model = lexical_classifier()
    export_document_graph(model, tmp_path, opset=18)
    backend = OnnxDocumentBackend(tmp_path, RuntimeConfig(intra_op_threads=1, device="cpu"))
    ids, mask = dummy_documents([[7, 1, 9], [4], [2, 2, 2, 2, 2, 2]], VOCAB, seed=5)
    with torch.no_grad():
        expected = model(ids, mask).scores
    model.lexical.idf.zero_()  # the graph holds its own copy of the idf
    torch.testing.assert_close(backend(ids, mask).scores, expected, atol=1e-5, rtol=1e-4)


def test_idf_counts_sentences_or_documents():
    codec = DocumentCodec.train(["a b", "a c", "d"], ["x"], 100, 1, 4, 8)
    encoded = codec.encode([["a b", "a c"], ["d a"]])
    a, d = codec.tokenizer.token_to_id("a"), codec.tokenizer.token_to_id("d")
    by_sentence, by_document = codec.idf(encoded, "sentence"), codec.idf(encoded, "document")
    assert by_sentence[a] == pytest.approx(math.log(4 / 4)) and by_sentence[d] == pytest.approx(math.log(4 / 2))
    assert by_document[a] == pytest.approx(math.log(3 / 3)) and by_document[d] == pytest.approx(math.log(3 / 2))


def test_part_losses_train_each_part_of_the_logits_on_its_own():
    config = HierarchicalConfig(**{**tiny(lexical_term=True).__dict__, "part_losses": True})
    model = HANClassifier(config, VOCAB, CLASSES).eval()
    ids, mask = dummy_documents([[4, 2, 3], [5]], VOCAB, seed=4)
    labels = torch.tensor([1, 3])
    out = model(ids, mask)
    deep, lexical = out.parts
    torch.testing.assert_close(out.scores, deep + lexical)
    module = DOCUMENT_MODULES["classification"](model, OptimConfig(label_smoothing=0.0))
    batch = DocumentBatch(ids, mask, labels, torch.zeros(mask.shape[:2]))
    expected = sum(F.cross_entropy(logits, labels) for logits in (out.scores, deep, lexical))
    torch.testing.assert_close(module.loss(out, batch), expected)
    assert HANClassifier(tiny(lexical_term=True), VOCAB, CLASSES)(ids, mask).parts == ()
    with pytest.raises(ValueError, match="part_losses=True needs lexical_term=True"):
        HierarchicalConfig(part_losses=True)


def test_summarizer_refuses_the_lexical_term():
    with pytest.raises(ValueError, match="lexical_term applies to classification only"):
        ExtractiveSummarizer(tiny(lexical_term=True), VOCAB)


def test_registered_versions_tell_the_lexical_variants_apart():
    names = [
        HierarchicalConfig(**keys).tags()["attention"]
        for keys in ({}, {"lexical_term": True}, {"lexical_term": True, "part_losses": True})
    ]
    assert names == ["additive", "additive + tf-idf", "additive + tf-idf, a loss per part"]
