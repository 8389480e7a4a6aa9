"""The captioning flow through the ``attnops`` CLI: train, evaluate, export, register, promote, caption."""

from __future__ import annotations

import base64
import re

import mlflow.pyfunc
import pandas as pd
import pytest

from attnops.cli import main
from attnops.pipelines.captioning.captions import load_captions
from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.translation.config import DataConfig

pytestmark = pytest.mark.slow

CONFIG = str(REPO_ROOT / "pipelines/configs/captioning/flickr8k-soft.yaml")
FLICKR = DataConfig().data_root() / "flickr8k_mini"
TINY = [
    "data.max_train_examples=40",
    "data.max_eval_examples=6",
    "data.min_word_frequency=2",
    "model.embedding_dim=32",
    "model.hidden_size=48",
    "train.max_epochs=1",
    "train.max_decode_length=10",
    "tracking.heatmap_sentences=2",
    "tracking.system_metrics=false",
    "export.parity_split=val",
]


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_captioning_from_training_to_a_caption_on_the_command_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNOPS_CACHE_DIR", str(tmp_path / "cache"))
    sets = [arg for item in TINY for arg in ("--set", item)]
    code, out, _ = _run(capsys, "train", CONFIG, *sets)
    assert code == 0
    run_id = out.strip().splitlines()[-1]
    for name in ("bleu1", "bleu2", "bleu3", "bleu4", "cider"):
        assert re.search(rf"^test_{name}: \d+\.\d+$", out, re.M)
        assert re.search(rf"^test_nn_{name}: \d+\.\d+$", out, re.M)  # the nearest-neighbour baseline
    assert re.search(r"^training wall time: \d+ s$", out, re.M)
    peak = float(re.search(r"^test_attention_peak_median: (\S+)$", out, re.M).group(1))
    uniform = float(re.search(r"^test_attention_uniform: (\S+)$", out, re.M).group(1))
    assert uniform == pytest.approx(1 / 25, abs=1e-3) and uniform <= peak <= 1.0

    code, out, _ = _run(capsys, "evaluate", run_id, "--split", "val", "--beam-size", "2")
    assert code == 0 and "val_cider_beam2:" in out and "val_nn_cider:" in out
    code, out, _ = _run(capsys, "evaluate", run_id, "--split", "val", "--beam-size", "2", "--length-penalty", "1")
    assert code == 0 and "val_cider_beam2_lp1:" in out and "val_attention_peak_p90_beam2_lp1:" in out
    code, _, err = _run(capsys, "evaluate", run_id, "--length-penalty", "-1")
    assert code == 2 and "--length-penalty -1.0 must be between 0 and 5" in err

    code, out, _ = _run(capsys, "export", run_id)
    assert code == 0 and "parity passed" in out and "photos" in out
    model_uri = out.strip().splitlines()[-1]
    photos = [FLICKR / "images" / name for name in load_captions(FLICKR)["test"].images[:2]]
    frame = pd.DataFrame({"image": [base64.b64encode(path.read_bytes()).decode() for path in photos]})
    predicted = mlflow.pyfunc.load_model(model_uri).predict(frame, params={"beam_size": 2})
    assert list(predicted.columns) == ["caption"] and len(predicted) == 2
    assert _run(capsys, "register", run_id, "--name", "cap-cli")[0] == 0
    assert _run(capsys, "promote", "cap-cli", "1")[0] == 0

    figures = tmp_path / "figures"
    code, out, err = _run(capsys, "caption", "--model", "models:/cap-cli@champion", "--beam-size", "3",
                          "--figures", str(figures), *map(str, photos))  # fmt: skip
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(path) for path in photos]
    assert len(list(figures.glob("*.attention.png"))) == 2 and "attention:" in err

    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("a dog runs")
    code, _, err = _run(capsys, "caption", "--model", "models:/cap-cli@champion", str(not_an_image))
    assert code == 2 and "notes.jpg: not an image" in err
    code, _, err = _run(capsys, "caption", "--model", "models:/cap-cli@champion", str(tmp_path / "missing.png"))
    assert code == 2 and "image file not found" in err
