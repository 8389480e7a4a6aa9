"""The sentence splitter answers hostile input in bounded time and splits real articles as pySBD does."""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pysbd
import pytest

from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.documents.sentences import SplitTooSlow, split_sentences

HOSTILE = {
    # pySBD issue 79: 0.08 s, 0.56 s, 3.5 s and 29 s for 6, 7, 8 and 9 groups with pySBD's own rules.
    "numbered reference, 9 groups": "..[" + " ".join(["111"] * 9) + "]",
    "numbered reference, 24 000 groups": "..[" + " ".join(["111"] * 24_000) + "]",
    "unclosed reference with long numbers": "......[" + ",".join(["289852000000260698"] * 5_000),
    "reference ranges": "Results.[" + " - ".join(["12"] * 19_000) + " x",
    # pySBD issue 58: a period before a long digit run.
    "long number after a period": "Rok bud." + "2027777983834843834843042003200220012000" * 2_000,
    "em dashes": "a --" + "- " * 40_000 + "x",
    "unclosed quotes": 'a "' + "\\" * 80_000 + "x",
    "nested parentheses": "a (" + "(a" * 40_000,
}
"""Each under 100 kB, the documents deployments' default limit per document."""
ABBREVIATIONS = "Mr. e.g. U.S. p. i.e. "
"""The densest text found: pySBD spends about 15 µs per character of it (linear, no backtracking)."""


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_text_splits_within_a_second(name):
    text = HOSTILE[name]
    assert len(text.encode()) <= 100_000
    start = time.perf_counter()
    sentences = split_sentences(text)
    elapsed = time.perf_counter() - start
    print(f"\n{name}: {len(text)} characters, {len(sentences)} sentences in {elapsed:.3f} s")
    assert sentences and elapsed < 1.0


def test_time_grows_linearly_with_abbreviation_dense_text():
    def best_of_three(repeats: int) -> float:
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            split_sentences(ABBREVIATIONS * repeats)
            timings.append(time.perf_counter() - start)
        return min(timings)  # the least disturbed by other work on the machine

    short, long = best_of_three(500), best_of_three(2_000)
    print(f"\n{len(ABBREVIATIONS)} × 500 and × 2000 characters: {short:.3f} s, {long:.3f} s")
    assert long < 8 * short  # 4 times the text: linear is 4×, quadratic 16×


def test_a_deadline_stops_abbreviation_dense_text_within_one_piece():
    text = ABBREVIATIONS * (100_000 // len(ABBREVIATIONS))
    start = time.monotonic()
    with pytest.raises(SplitTooSlow):
        split_sentences(text, deadline=start + 0.05)
    print(f"\n{len(text)} abbreviation-dense characters stopped after {time.monotonic() - start:.3f} s")
    article = "The effect held. Later work agreed.\n\nSee 3.[12] Then more. " * 40
    assert split_sentences(article, deadline=time.monotonic() + 60) == split_sentences(article)


def test_the_documents_deployment_refuses_a_document_past_its_split_budget():
    from attnops.serving.document_replica import split_documents
    from attnops.serving.replica import RequestRejected
    from attnops.serving.settings import DocumentSettings

    budget = DocumentSettings().split_budget_s
    text = ABBREVIATIONS * (100_000 // len(ABBREVIATIONS))  # within the default max_document_bytes
    start = time.monotonic()
    with pytest.raises(RequestRejected) as refused:
        split_documents(["A short one. Fine.", text], budget, "texts")
    print(f"\nrefused after {time.monotonic() - start:.3f} s: {refused.value}")
    assert refused.value.status == 422 and "document 1 takes longer than" in refused.value.message


def test_references_are_still_kept_with_their_sentence():
    text = "The effect held.[1, 2] Later work agreed. See 3.[12] Then more."
    assert split_sentences(text) == ["The effect held.[1, 2]", "Later work agreed.", "See 3.[12] Then more."]


def test_real_articles_split_as_pysbd_splits_them():
    """The replaced rule changes nothing on the BBC corpus (a sample of 150 articles, with its references)."""
    config = load_config(REPO_ROOT / "pipelines/configs/classification/bbc-han.yaml").data
    source = config.data_root() / config.dataset / f"{config.dataset}.jsonl.gz"
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        articles = [json.loads(line)["article"] for line in handle if line.strip()]
    sample = articles[::15]
    stock = pysbd.Segmenter(language="en", clean=False)
    for article in sample:
        for paragraph in article.split("\n\n"):
            expected = [s.strip() for s in stock.segment(paragraph.strip()) if s.strip()]
            assert split_sentences(paragraph) == expected


def test_threads_splitting_at_once_each_get_their_own_texts_sentences():
    """The replica splits requests in worker threads at once; pySBD keeps the text it splits on its segmenter."""
    texts = [f"Text {i} starts here. It has a second sentence about item {i}. And a third one." for i in range(64)]
    expected = [split_sentences(text) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(20):
            assert list(pool.map(split_sentences, texts)) == expected
