"""BBC News end to end: tiny HAN and extractive runs on the real corpus → export with parity → registry →
the Ray Serve app on 127.0.0.1 (/v1/classify, /v1/summarize, bad input) and the CLI."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import mlflow
import pytest

from attnops.cli import main
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.documents.data import load_documents
from attnops.pipelines.documents.train import SPLITS_ARTIFACT
from attnops.pipelines.registry import promote, register
from tests.serving.fuzz import fuzz_every_route

pytestmark = [pytest.mark.slow, pytest.mark.ray]

MAX_BYTES = 20_000
CATEGORIES = {"business", "entertainment", "politics", "sport", "tech"}


@dataclass
class Trained:
    run_id: str
    metrics: dict[str, float]
    name: str


@dataclass
class App:
    url: str
    tracking_uri: str
    classifier: Trained
    summarizer: Trained


def _ship(trained, name: str) -> Trained:
    assert trained.export.bundle.manifest.parity.passed
    promote(name, str(register(trained.run_id, name).version))
    return Trained(trained.run_id, trained.run.evaluation.metrics, name)


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models, ray_serve):
    """The tiny HAN classifier and extractive summarizer, registered and promoted, served on the shared Ray."""
    root = tmp_path_factory.mktemp("documents")
    tracking_uri, trained = tiny_models.copy(root, "classification", "summarization")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.chdir(root)
        classifier = _ship(trained["classification"], "han-it")
        summarizer = _ship(trained["summarization"], "extractive-it")
        limits = {"max_texts": 4, "max_document_bytes": MAX_BYTES, "batch_wait_timeout_s": 0.05}
        cpu = {"ray_actor_options": {"num_cpus": 1}}
        options = {
            "Gateway": {"ray_actor_options": {"num_cpus": 0}},
            "Classifier": {**cpu, "user_config": {"model_uri": "models:/han-it@champion", **limits}},
            "Summarizer": {**cpu, "user_config": {"model_uri": "models:/extractive-it@champion", **limits}},
        }
        tasks = ("classification", "summarization")
        with ray_serve.deployed(options, tasks, {"MLFLOW_TRACKING_URI": tracking_uri}) as url:
            yield App(url, tracking_uri, classifier, summarizer)


@pytest.fixture
def service(app, monkeypatch) -> App:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", app.tracking_uri)
    return app


@pytest.fixture(scope="module")
def corpus():
    return load_documents(load_config(REPO_ROOT / "pipelines/configs/classification/bbc-han.yaml").data)


def _article(corpus, index: int = 0) -> str:
    return "\n\n".join(corpus.splits["test"][index].sentences)


def _post(app: App, path: str, body) -> httpx.Response:
    return httpx.post(f"{app.url}{path}", json=body, timeout=60)


def test_corpus_is_deduplicated_and_split_by_category(corpus):
    assert corpus.duplicates_removed == 98
    ids = {name: {d.id for d in docs} for name, docs in corpus.splits.items()}
    assert sum(map(len, ids.values())) == 2225 - 98
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"]) and not (ids["val"] & ids["test"])
    for docs in corpus.splits.values():
        share = sum(d.category == "sport" for d in docs) / len(docs)
        assert 0.2 < share < 0.27  # stratified: sport is 505/2127 = 23.7% of the corpus
    assert corpus.stats()["data.summary_sentences_matched_pct"] > 97.0


def test_runs_log_metrics_baselines_split_and_attention_pages(service):
    classifier, summarizer = service.classifier, service.summarizer
    assert {"test_accuracy", "test_macro_f1"} <= set(classifier.metrics)
    assert 20.0 < classifier.metrics["test_accuracy"] <= 100.0
    for features in ("tfidf_words", "tfidf_chars"):  # baselines fitted on the same 300 training documents
        for model in ("logreg", "svm"):
            assert 20.0 < classifier.metrics[f"test_{features}_{model}_accuracy"] <= 100.0
    for system in ("", "lead3_", "textrank_"):
        for name in ("rouge1", "rouge2", "rougeL"):
            assert 0.0 < summarizer.metrics[f"test_{system}{name}"] < 100.0
    client = mlflow.MlflowClient()
    logged = {a.path for a in client.list_artifacts(classifier.run_id, "evaluation")}
    assert {"evaluation/test_confusion_matrix.png", "evaluation/test_attention.html"} <= logged
    splits = json.loads(mlflow.artifacts.load_text(f"runs:/{summarizer.run_id}/{SPLITS_ARTIFACT}"))
    assert len(splits["test"]) == 213 and len(splits["train"]) == 300
    page = mlflow.artifacts.load_text(f"runs:/{summarizer.run_id}/evaluation/test_attention.html")
    assert page.count('class="doc"') == 2 and "rgba(30, 100, 255" in page


def test_classify_over_http_with_attention(service, corpus):
    body = _post(service, "/v1/classify", {"text": _article(corpus), "return_attention": True}).json()
    (result,) = body["results"]
    assert result["label"] in CATEGORIES and set(result["probabilities"]) == CATEGORIES
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["model"]["name"] == "han-it" and body["model"]["alias"] == "champion"
    sentences = result["attention"]
    assert sum(s["weight"] for s in sentences) == pytest.approx(1.0, abs=1e-4)
    for sentence in sentences:
        assert len(sentence["words"]) == len(sentence["word_weights"]) <= 30
        assert sum(sentence["word_weights"]) == pytest.approx(1.0, abs=1e-4)
    assert result["truncated"] == (len(corpus.splits["test"][0].sentences) > 12)


def test_several_documents_are_batched(service, corpus):
    texts = [_article(corpus, i) for i in range(4)]
    response = _post(service, "/v1/classify", {"texts": texts})
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 4
    status = {s["task"]: s for s in httpx.get(f"{service.url}/v1/models").json()}
    assert set(status) == {"classification", "summarization"} and status["classification"]["largest_batch"] > 1


def test_summarize_returns_sentences_in_document_order(service, corpus):
    document = corpus.splits["test"][1]
    body = _post(service, "/v1/summarize", {"text": "\n\n".join(document.sentences), "max_sentences": 2}).json()
    indices = [s["index"] for s in body["sentences"]]
    assert len(indices) == 2 and indices == sorted(indices)
    assert [document.sentences[i] for i in indices] == [s["text"] for s in body["sentences"]]
    assert body["summary"] == " ".join(s["text"] for s in body["sentences"])
    assert all(0.0 <= s["score"] <= 1.0 for s in body["sentences"]) and body["model"]["name"] == "extractive-it"
    long = _post(service, "/v1/summarize", {"text": " ".join(["A sentence about the news."] * 20)}).json()
    assert long["truncated"] is True


@pytest.mark.parametrize(
    "path, body, status, fragment",
    [
        ("/v1/classify", {"text": "   \n "}, 422, "must not be empty"),
        ("/v1/classify", {"text": 5}, 422, "text"),
        ("/v1/classify", {"texts": ["a story", 7]}, 422, "texts"),
        ("/v1/classify", {"texts": []}, 422, "at least one text"),
        ("/v1/classify", {"texts": ["a"] * 5}, 422, "at most 4 documents"),
        ("/v1/classify", {"text": "news " * 5000}, 413, f"exceed {MAX_BYTES} bytes"),
        ("/v1/classify", {"text": "a", "colour": "blue"}, 422, "colour"),
        ("/v1/summarize", {"text": ""}, 422, "must not be empty"),
        ("/v1/summarize", {"text": ["not", "a", "string"]}, 422, "text"),
        ("/v1/summarize", {"text": "One. Two.", "max_sentences": 0}, 422, "max_sentences"),
        ("/v1/summarize", {"text": "One. Two.", "max_sentences": 21}, 422, "max_sentences"),
        ("/v1/summarize", {"text": "One. Two.", "mode": "abstractive"}, 404, "no abstractive model"),
        ("/v1/summarize", {"text": "One. Two.", "mode": "poetry"}, 422, "mode"),
        ("/v1/summarize", {"text": "news " * 5000}, 413, f"exceed {MAX_BYTES} bytes"),
        ("/v1/translate", {"text": "Hallo"}, 404, "no translation model"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_message(service, corpus, path, body, status, fragment):
    response = _post(service, path, body)
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert _post(service, "/v1/summarize", {"text": _article(corpus)}).status_code == 200  # still serving


def test_cli_classifies_and_summarizes_through_the_registry(service, corpus, capsys, monkeypatch, tmp_path):
    assert main(["classify", "--model", "models:/han-it@champion", _article(corpus), _article(corpus, 2)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.split("\t")[0] in CATEGORIES for line in lines)
    monkeypatch.setattr("sys.stdin", open(_write(tmp_path, _article(corpus)), encoding="utf-8"))
    assert main(["summarize", "--model", "models:/extractive-it@champion", "--max-sentences", "2", "-"]) == 0
    summary = capsys.readouterr().out.splitlines()
    assert len(summary) == 2 and all(line in corpus.splits["test"][0].sentences for line in summary)
    assert main(["summarize", "--model", "models:/han-it@champion", "Some text."]) == 2
    assert "holds a classification model, not a summarization model" in capsys.readouterr().err


def _write(folder, text: str):
    path = folder / "doc.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_route_survives_schema_fuzzing(service, corpus):
    sent = fuzz_every_route(service.url, {}, examples=30)
    print("\nfuzzed requests per route:", dict(sent))
    assert sent["POST /v1/classify"] >= 30 and sent["POST /v1/summarize"] >= 30
    assert _post(service, "/v1/classify", {"text": _article(corpus)}).status_code == 200


def test_hostile_sentences_are_answered_within_a_second_while_others_are_served(service, corpus):
    """pySBD issue 79's input held a replica for hours; now it and its long forms answer at once, and
    requests sent meanwhile are served."""
    hostile = ["..[" + " ".join(["111"] * groups) + "]" for groups in (10, 4_000)]
    hostile.append("......[" + ",".join(["289852000000260698"] * 1_000))
    with ThreadPoolExecutor(max_workers=4) as pool:
        others = [pool.submit(_post, service, "/v1/classify", {"text": _article(corpus, i)}) for i in range(3)]
        for text in hostile:
            for path in ("/v1/classify", "/v1/summarize"):
                start = time.perf_counter()
                response = _post(service, path, {"text": text})
                elapsed = time.perf_counter() - start
                print(f"\n{path} with {len(text)} hostile characters: HTTP {response.status_code} in {elapsed:.3f} s")
                assert response.status_code == 200 and elapsed < 1.0, response.text
        slow = "Mr. e.g. U.S. p. i.e. " * (MAX_BYTES // 22)  # the slowest text found: linear, 15–50 µs a character
        for path in ("/v1/classify", "/v1/summarize"):
            start = time.perf_counter()
            response = _post(service, path, {"text": slow})
            elapsed = time.perf_counter() - start
            print(f"\n{path} with {len(slow)} abbreviation-dense characters: {response.status_code} in {elapsed:.3f} s")
            assert response.status_code in (200, 422) and elapsed < 1.0, response.text  # 422: past split_budget_s
        assert all(other.result().status_code == 200 for other in others)
