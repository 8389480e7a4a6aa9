"""A user's own data in each task's documented format: a tiny run per task on 200 records, and ``data check``."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from attnops.cli.main import main
from attnops.pipelines import tracking
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.data.location import data_dir
from attnops.pipelines.train import train

SHARED = data_dir()
RECORDS = 200
TRACKING = ["tracking.system_metrics=false", "tracking.heatmap_sentences=0", "train.max_steps=3", "train.max_epochs=1"]


def _shared(path: str) -> list[dict]:
    with gzip.open(SHARED / path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(RECORDS), handle)]


def _lines(path: str) -> list[str]:
    with gzip.open(SHARED / path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for _, line in zip(range(RECORDS), handle)]


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def _per_split(folder: Path, records: list[dict]) -> None:
    """160 train, 20 val and 20 test records."""
    for split, part in (("train", records[:160]), ("val", records[160:180]), ("test", records[180:])):
        _write(folder / f"{split}.jsonl", part)


def _translation(folder: Path) -> None:
    pairs = zip(_lines("multi30k/raw/train.de.gz"), _lines("multi30k/raw/train.en.gz"))
    _per_split(folder, [{"source": de, "target": en} for de, en in pairs])


def _abstractive(folder: Path) -> None:
    _per_split(folder, [{"document": r["email"], "summary": r["subject"]} for r in _shared("aeslc/train.jsonl.gz")])


def _documents(folder: Path) -> None:
    with gzip.open(SHARED / "bbc_news_summary/bbc_news_summary.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle][::11][:RECORDS]  # every category
    _write(folder / "documents.jsonl", rows)


def _captioning(folder: Path) -> None:
    rows = _shared("flickr8k_mini/captions.jsonl.gz")
    for row, split in zip(rows, ["train"] * 160 + ["dev"] * 20 + ["test"] * 20):
        row["split"] = split
        (folder / "images").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED / "flickr8k_mini/images" / row["image"], folder / "images" / row["image"])
    _write(folder / "captions.jsonl", rows)


def _duplicates(folder: Path) -> int:
    """Documents the document loader drops as exact duplicates (same title and article); none in other tasks."""
    if not (folder / "documents.jsonl").is_file():
        return 0
    rows = [json.loads(line) for line in (folder / "documents.jsonl").read_text().splitlines()]
    return len(rows) - len({(row["title"], row["article"]) for row in rows})


CASES = {
    "translation": (_translation, "translation/demo.yaml", ["data.tokenizer.vocab_size=300", "train.eval_beam_size=1"]),
    "abstractive": (
        _abstractive,
        "summarization/aeslc-pointer.yaml",
        ["data.vocab_size=500", "train.eval_beam_size=1"],
    ),
    "classification": (_documents, "classification/bbc-han.yaml", ["data.vocab_size=2000", "data.max_sentences=8"]),
    "captioning": (
        _captioning,
        "captioning/flickr8k-soft.yaml",
        ["train.eval_beam_size=1", "data.min_word_frequency=2"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", CASES)
def test_a_tiny_run_on_own_data(task, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNOPS_CACHE_DIR", str(tmp_path / "cache"))
    write, config_file, tiny = CASES[task]
    write(tmp_path / "mine")
    config = load_config(
        REPO_ROOT / "pipelines/configs" / config_file, [f"data.path={tmp_path / 'mine'}", *TRACKING, *tiny]
    )
    run = tracking.client().get_run(train(config).run_id)
    (logged,) = run.inputs.dataset_inputs
    assert logged.dataset.name == "mine" and logged.dataset.source_type == "local"
    sizes = {tag.key: int(tag.value) for tag in logged.tags if tag.key.startswith("rows.")}
    assert sum(sizes.values()) == RECORDS - _duplicates(tmp_path / "mine") and len(sizes) == 3
    assert run.info.status == "FINISHED"


def test_check_names_each_bad_record_by_file_and_line(tmp_path, capsys):
    folder = tmp_path / "mine"
    _translation(folder)
    train_file = folder / "train.jsonl"
    rows = [json.loads(line) for line in train_file.read_text().splitlines()]
    rows[4]["target"] = "  "  # blank: line 5
    rows[9] = dict(rows[2])  # duplicate of line 3: line 10
    rows.append({"source": "x " * 150, "target": "long"})  # over-long: line 161
    _write(train_file, rows)
    test_rows = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]
    test_rows[6] = dict(rows[0])  # in train too: line 7 of test.jsonl
    _write(folder / "test.jsonl", test_rows)
    config = tmp_path / "mine.yaml"
    config.write_text(f"data:\n  path: {folder}\n")

    assert main(["data", "check", str(config)]) == 2
    out, err = capsys.readouterr()
    assert f"{train_file}:5: blank target" in out
    assert f"{train_file}:10: same source as {train_file}:3" in out
    assert f"{folder / 'test.jsonl'}:7: source also in train at {train_file}:1" in out
    assert f"{train_file}:161: source longer than data.max_tokens=100 words" in out
    assert "  train: 161 records; source words p50/p90/p99/max " in out and "  test: 20 records" in out
    assert err.strip() == f"attnops: error: 3 bad records in {folder} (listed above)"

    _translation(folder)  # clean again
    assert main(["data", "check", str(config)]) == 0
