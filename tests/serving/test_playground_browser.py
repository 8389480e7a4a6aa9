"""The web playground in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by Selenium)
against the real Ray Serve app on 127.0.0.1, with four tiny trained models behind an API token.

Each test saves a screenshot of its tab into ``$ATTNOPS_SCREENSHOT_DIR`` (when set) or a pytest temporary
folder, and prints where. For the docs' screenshots, ``$ATTNOPS_PLAYGROUND_STORE`` (a tracking URI) and
``$ATTNOPS_PLAYGROUND_MODELS`` (``task=NAME,…``) put trained champions of that store in place of the tiny
models of those tasks; the other tasks' tiny models are trained into that store.
"""

from __future__ import annotations

import base64
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from attnops.pipelines import tracking
from attnops.pipelines.captioning.captions import load_captions
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.documents.data import load_documents
from attnops.pipelines.registry import promote, register
from attnops.pipelines.translation.config import DataConfig
from attnops.serving.server import free_port
from tests.tiny_models import train_tiny

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.browser]

TOKEN = "playground-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLICKR = DataConfig().data_root() / "flickr8k_mini"
CONFIGS = REPO_ROOT / "pipelines/configs"
WORD_START = "\u2581"
WAIT_S = 90
TASKS = ("translation", "classification", "summarization", "captioning")
STORE_ENV, MODELS_ENV = "ATTNOPS_PLAYGROUND_STORE", "ATTNOPS_PLAYGROUND_MODELS"


@dataclass
class Service:
    url: str
    partial_url: str
    """The same service with only translation deployed (a second Serve app under a route prefix)."""
    names: dict[str, str]
    """Registered model name by task."""
    versions: dict[str, str]
    """The version each name's @champion points at."""


@pytest.fixture(scope="module")
def service(tmp_path_factory, tiny_models):
    """Ray and the app with every task (token required), plus a translation-only app under a prefix."""
    import ray
    from ray import serve

    from attnops.serving.build import application

    root = tmp_path_factory.mktemp("playground")
    given = dict(item.split("=", 1) for item in os.environ.get(MODELS_ENV, "").split(",") if item)
    tiny = [task for task in TASKS if task not in given]
    if os.environ.get(STORE_ENV):
        tracking_uri = os.environ[STORE_ENV]
        trained = {task: train_tiny(task, tracking_uri, root) for task in tiny}
    else:
        tracking_uri, trained = tiny_models.copy(root, *tiny)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.setenv("ATTNOPS_CACHE_DIR", str(root / "cache"))
        env.chdir(root)
        names = {task: given.get(task) or f"{task}-playground" for task in TASKS}
        for task in tiny:
            promote(names[task], str(register(trained[task].run_id, names[task]).version))
        versions = {
            task: str(tracking.client().get_model_version_by_alias(name, "champion").version)
            for task, name in names.items()
        }
        port = free_port()
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            runtime_env={
                "env_vars": {
                    "MLFLOW_TRACKING_URI": tracking_uri,
                    "MLFLOW_DISABLE_TELEMETRY": "true",
                    "ATTNOPS_API_TOKEN": TOKEN,
                    "PYTHONPATH": str(REPO_ROOT),  # replicas import this checkout, whatever is installed
                }
            },
        )
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        share = {"ray_actor_options": {"num_cpus": 0.4}}
        options = {"Gateway": {"ray_actor_options": {"num_cpus": 0}}}
        for task, deployment in (
            ("translation", "Translator"),
            ("classification", "Classifier"),
            ("summarization", "Summarizer"),
            ("captioning", "Captioner"),
        ):
            options[deployment] = {**share, "user_config": {"model_uri": f"models:/{names[task]}@champion"}}
        serve.run(application(options, tuple(names)), name="attnops", route_prefix="/")
        serve.run(application(options, ("translation",)), name="partial", route_prefix="/partial")
        try:
            yield Service(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/partial", names, versions)
        finally:
            serve.shutdown()
            ray.shutdown()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("ATTNOPS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nplayground screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from the system packages; Selenium is told where both are, so it downloads nothing."""
    if not (CHROMIUM and CHROMEDRIVER):
        message = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def article() -> str:
    corpus = load_documents(load_config(CONFIGS / "classification/bbc-han.yaml").data)
    return "\n\n".join(corpus.splits["test"][0].sentences)


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    return [FLICKR / "images" / name for name in load_captions(FLICKR)["test"].images[:2]]


def _wait(driver, condition):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S).until(lambda d: condition(d))
    except TimeoutException as exc:
        raise AssertionError(f"page did not get there in {WAIT_S} s; console: {driver.get_log('browser')}") from exc


def _find(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _find_all(driver, selector: str) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _open(driver, url: str, task: str):
    """The page at ``task``'s tab, signed in with the token, once the service has said what it serves."""
    driver.get("about:blank")  # a fresh page, not a hash change; the token stays in sessionStorage
    driver.get(f"{url}/ui/#{task}")
    _wait(driver, lambda d: "Asking" not in _find(d, "#service").text)
    if _find(driver, "#token-form").is_displayed():
        _find(driver, "#token-input").send_keys(TOKEN)
        _find(driver, "#token-form button").click()
        _wait(driver, lambda d: _find(d, "#service").text.startswith("Serving"))
    _find(driver, f"#tab-{task}").click()
    return _find(driver, f".panel[data-task={task}]")


def _submit(driver, panel) -> str:
    """Submit the panel's form and wait for its answer; ``done`` or ``error``."""
    _find(panel, "button[type=submit]").click()
    _wait(driver, lambda d: panel.get_attribute("data-state") in ("done", "error"))
    if panel.get_attribute("data-state") == "error":
        print(
            f"{panel.get_attribute('data-task')}: {_find(panel, '.error').text}; console: {driver.get_log('browser')}"
        )
    return panel.get_attribute("data-state")


def _set_text(driver, selector: str, text: str) -> None:
    driver.execute_script("arguments[0].value = arguments[1]", _find(driver, selector), text)


def _screenshot(driver, path: Path) -> None:
    """The whole page, not only the window (Chromium's DevTools capture)."""
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))


def _post(url: str, path: str, **kwargs) -> dict:
    response = httpx.post(f"{url}{path}", headers=AUTH, timeout=60, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def _words(pieces: list[str]) -> list[tuple[str, list[int]]]:
    """BPE pieces → words with their piece indices (Metaspace: "▁" starts a word; special tokens stand alone)."""
    words: list[tuple[str, list[int]]] = []
    for i, piece in enumerate(pieces):
        special = piece.startswith("<") and piece.endswith(">")
        if not words or special or piece.startswith(WORD_START) or words[-1][0].startswith("<"):
            words.append((piece.removeprefix(WORD_START), [i]))
        else:
            words[-1] = (words[-1][0] + piece, [*words[-1][1], i])
    return words


def test_page_asks_for_the_token_and_refuses_a_wrong_one(service, browser, screenshots):
    browser.get(f"{service.url}/")  # redirected to the page
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{service.url}/")
    assert browser.current_url == f"{service.url}/ui/#translation"
    _wait(browser, lambda d: _find(d, "#token-form").is_displayed())
    assert "Enter the API token" in _find(browser, "#service").text
    _find(browser, "#token-input").send_keys("wrong")
    _find(browser, "#token-form button").click()
    _wait(browser, lambda d: _find(d, "#token-error").is_displayed())
    assert _find(browser, "#token-error").text == "401: missing or wrong bearer token"
    _screenshot(browser, screenshots / "token.png")
    _find(browser, "#token-input").clear()
    _find(browser, "#token-input").send_keys(TOKEN)
    _find(browser, "#token-form button").click()
    _wait(browser, lambda d: _find(d, "#service").text.startswith("Serving"))
    assert not _find(browser, "#token-form").is_displayed()
    served = _find(browser, "#service").text
    assert all(f"{service.names[task]} version {v} @champion" in served for task, v in service.versions.items())


def test_translation_heatmap_cells_are_the_api_weights_merged_into_words(service, browser, screenshots):
    sentence = "Zwei Hunde spielen im Schnee neben einem Zaun."
    panel = _open(browser, service.url, "translation")
    _set_text(browser, "#translate-text", sentence)
    _find(browser, "#translate-beam").clear()
    _find(browser, "#translate-beam").send_keys("2")
    assert _submit(browser, panel) == "done"

    body = _post(service.url, "/v1/translate", json={"text": sentence, "beam_size": 2, "return_attention": True})
    translation = body["translations"][0]
    attention = translation["attention"]
    # A translation cut at its length limit lists </s> without a row of weights: the page leaves it out.
    source, target = _words(attention["source_tokens"]), _words(attention["target_tokens"][: len(attention["weights"])])
    assert len(source) < len(attention["source_tokens"])  # the tiny vocabulary splits words into pieces
    assert _find(browser, "#translation").text == translation["text"]
    served = f"Answered by {service.names['translation']} version {service.versions['translation']} @champion."
    assert _find(panel, ".served").text == served
    columns = [th.get_attribute("textContent") for th in _find_all(panel, "#heatmap thead th")[1:]]
    rows = [th.get_attribute("textContent") for th in _find_all(panel, "#heatmap tbody th")]
    assert columns == [word for word, _ in source] and rows == [word for word, _ in target]
    cells = _find_all(panel, "#heatmap tbody tr")
    for (_, target_pieces), tr in zip(target, cells):
        shown = [float(td.get_attribute("data-weight")) for td in _find_all(tr, "td")]
        expected = [
            sum(attention["weights"][t][s] for t in target_pieces for s in source_pieces) / len(target_pieces)
            for _, source_pieces in source
        ]
        assert shown == pytest.approx(expected, abs=1e-9)
        assert sum(shown) == pytest.approx(1.0, abs=1e-4)

    from selenium.webdriver.common.action_chains import ActionChains

    first = cells[0]
    ActionChains(browser).move_to_element(_find(first, "th")).perform()
    weights = [float(td.get_attribute("data-weight")) for td in _find_all(first, "td")]
    top = max(range(len(weights)), key=weights.__getitem__)
    header = _find_all(panel, "#heatmap thead th")[1 + top]
    assert "attended" in header.get_attribute("class") and header.value_of_css_property("background-color") != (
        "rgba(0, 0, 0, 0)"
    )
    _screenshot(browser, screenshots / "translate.png")


def test_uploaded_photo_gets_a_caption_and_an_overlay_per_word(service, browser, screenshots, photos):
    panel = _open(browser, service.url, "captioning")
    _find(browser, "#caption-beam").clear()
    _find(browser, "#caption-beam").send_keys("2")
    _find(browser, "#caption-file").send_keys(str(photos[0]))
    _wait(browser, lambda d: panel.get_attribute("data-state") in ("done", "error"))
    assert panel.get_attribute("data-state") == "done", _find(panel, ".error").text

    files = {"image": (photos[0].name, photos[0].read_bytes(), "image/jpeg")}
    body = _post(service.url, "/v1/caption", files=files, data={"beam_size": "2", "return_attention": "true"})
    words = body["attention"]  # the caption's words, then </s>
    buttons = _find_all(panel, "#caption-words button")
    assert [b.text for b in buttons] == [item["word"] for item in words] and len(buttons) >= 1
    rows, cols = body["grid"]
    for button, item in list(zip(buttons, words))[:3]:
        button.click()
        assert button.get_attribute("aria-pressed") == "true"
        shown = [float(cell.get_attribute("data-weight")) for cell in _find_all(panel, "#overlay div")]
        assert shown == pytest.approx([w for row in item["weights"] for w in row], abs=1e-9)
        assert len(shown) == rows * cols
    assert _find(panel, "#photo-image").get_attribute("naturalWidth") != "0"  # the photo itself is drawn
    buttons[0].click()
    _screenshot(browser, screenshots / "caption.png")


def test_bad_upload_shows_the_api_message(service, browser, screenshots, tmp_path, photos):
    panel = _open(browser, service.url, "captioning")
    fake = tmp_path / "notes.jpg"
    fake.write_bytes(b"this is not an image")
    _find(browser, "#caption-file").send_keys(str(fake))
    _wait(browser, lambda d: panel.get_attribute("data-state") == "error")
    response = httpx.post(f"{service.url}/v1/caption", headers=AUTH, files={"image": ("notes.jpg", fake.read_bytes())})
    assert response.status_code == 400
    assert _find(panel, ".error").text == f"400: {response.json()['detail']}"
    assert not _find(panel, ".result").is_displayed()
    _screenshot(browser, screenshots / "caption-error.png")
    _find(browser, "#caption-file").send_keys(str(photos[1]))  # the next good photo clears the message
    _wait(browser, lambda d: panel.get_attribute("data-state") == "done")
    assert not _find(panel, ".error").is_displayed()


def test_classify_shows_label_bars_and_shaded_sentences(service, browser, screenshots, article):
    panel = _open(browser, service.url, "classification")
    _set_text(browser, "#classify-text", article)
    assert _submit(browser, panel) == "done"
    result = _post(service.url, "/v1/classify", json={"text": article, "return_attention": True})["results"][0]
    assert _find(panel, "#label").text.startswith(result["label"])
    bars = {
        bar.get_attribute("data-label"): float(bar.get_attribute("data-probability"))
        for bar in _find_all(panel, ".bar")
    }
    assert bars == pytest.approx(result["probabilities"], abs=1e-9) and len(bars) == 5
    assert "top" in _find(panel, f'.bar[data-label="{result["label"]}"]').get_attribute("class")
    sentences = _find_all(panel, "#classify-document .sentence")
    assert len(sentences) == len(result["attention"])
    for row, expected in zip(sentences, result["attention"]):
        words = _find_all(row, "span[data-weight]")
        assert [w.text for w in words] == expected["words"]
        assert [float(w.get_attribute("data-weight")) for w in words] == pytest.approx(expected["word_weights"])
    _screenshot(browser, screenshots / "classify.png")


def test_summarize_marks_the_chosen_sentences(service, browser, screenshots, article):
    panel = _open(browser, service.url, "summarization")
    mode = _find(panel, "#summarize-mode")
    assert [o.text for o in _find_all(mode, "option")] == ["extractive"] and not mode.is_enabled()
    _set_text(browser, "#summarize-text", article)
    _find(panel, "#summarize-sentences").clear()
    _find(panel, "#summarize-sentences").send_keys("2")
    assert _submit(browser, panel) == "done"
    body = _post(service.url, "/v1/summarize", json={"text": article, "max_sentences": 2, "return_attention": True})
    shown = _find_all(panel, "#summary span[data-index]")
    assert [int(s.get_attribute("data-index")) for s in shown] == [s["index"] for s in body["sentences"]]
    assert len(shown) == 2
    chosen = [int(row.get_attribute("data-position")) for row in _find_all(panel, "#summary-document .sentence.chosen")]
    texts = {s["text"] for s in body["sentences"]}
    assert chosen == [i for i, sentence in enumerate(body["attention"]) if sentence["text"] in texts]
    assert len(chosen) == 2
    assert len(_find_all(panel, "#summary-document .sentence")) == len(body["attention"])
    _screenshot(browser, screenshots / "summarize.png")


def test_tabs_of_tasks_not_deployed_are_shown_as_not_available(service, browser, screenshots):
    panel = _open(browser, service.partial_url, "classification")
    assert "unavailable" in _find(browser, "#tab-classification").get_attribute("class")
    assert _find(panel, ".unavailable").text == "No classification model is deployed on this service."
    assert not _find(panel, "form").is_displayed() and not _find(panel, ".error").is_displayed()
    assert "unavailable" not in _find(browser, "#tab-translation").get_attribute("class")
    assert _find(browser, "#service").text.startswith("Serving: translation (")
    _screenshot(browser, screenshots / "not-deployed.png")


def test_page_and_assets_ship_with_the_package_and_fetch_nothing_elsewhere(service):
    page = httpx.get(f"{service.url}/ui/").text
    assets = ["playground.css", "playground.js", "api.js", "attention.js"]
    for name in assets:
        response = httpx.get(f"{service.url}/ui/{name}")
        assert response.status_code == 200, name
        assert "http://" not in response.text and "https://" not in response.text, name
    assert "http" not in page.replace("http-equiv", "")
    schema = httpx.get(f"{service.url}/openapi.json", headers=AUTH).json()
    assert schema["paths"].keys().isdisjoint({"/", "/ui"})
