"""Signals, drift figures and the inference log store, on real data, real Parquet and real PostgreSQL."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import torch

from attnops.pipelines.abstractive.config import SummaryDataConfig
from attnops.pipelines.abstractive.data import load_corpus as load_summaries
from attnops.pipelines.monitor.drift import DRIFT_PSI, SHIFT_PSI, compare, psi, unusual
from attnops.pipelines.monitor.features import attention_signals, oov_share
from attnops.pipelines.monitor.store import ParquetStore, PostgresStore
from attnops.pipelines.translation.config import DataConfig
from attnops.pipelines.translation.data import load_corpus
from attnops.serving.observability.inference_log import InferenceLog
from attnops.serving.server import free_port


def _record(model: str, minutes_ago: float = 0, **values) -> dict:
    return {
        "time": datetime.now(UTC) - timedelta(minutes=minutes_ago),
        "request_id": uuid.uuid4().hex,
        "item": 0,
        "task": "translation",
        "deployment": "Translator",
        "model": model,
        "version": "1",
        "latency_ms": 12.5,
        "batch_size": 3,
        "source_tokens": 9,
        "oov_share": 0.1,
        **values,
    }


def test_oov_share_counts_words_split_into_pieces_or_holding_the_unknown_token():
    assert oov_share(["▁Ein", "▁Hund", "▁läuft", "."]) == 0.0
    assert oov_share(["▁Ein", "▁Hund", "▁läu", "ft", "."]) == pytest.approx(1 / 3)
    assert oov_share(["▁Ein", "▁Hund", "<unk>"]) == 0.5 and oov_share([]) == 0.0


def test_attention_signals_range_from_sharp_to_spread():
    sharp = torch.eye(4)  # (T, S): each step on its own token, every token covered
    spread = torch.full((4, 4), 0.25)
    assert attention_signals(sharp) == pytest.approx((0.0, 1.0), abs=1e-6)
    entropy, coverage = attention_signals(spread)
    assert entropy == pytest.approx(1.0) and coverage == 1.0
    on_first = torch.zeros(3, 5)
    on_first[:, 0] = 1
    assert attention_signals(on_first)[1] == pytest.approx(0.2)


def test_psi_separates_in_domain_from_out_of_domain_sentence_lengths():
    corpus = load_corpus(DataConfig())
    validation = np.array([len(s.split()) for s in corpus["val"].sources], dtype=float)
    in_domain = np.array([len(s.split()) for s in corpus["test_2016_flickr"].sources], dtype=float)
    emails = load_summaries(SummaryDataConfig(dataset="aeslc", max_val_examples=200))["val"].sentences
    out_of_domain = np.array([len(s.split()) for email in emails for s in email], dtype=float)
    assert psi(validation, in_domain) < SHIFT_PSI < DRIFT_PSI < psi(validation, out_of_domain)


def test_compare_and_unusual_rank_the_outliers_first():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"mean_log_prob": rng.normal(-0.5, 0.2, 500)})
    traffic = pd.DataFrame({"mean_log_prob": np.r_[rng.normal(-0.5, 0.2, 200), [-4.0, -3.5]]})
    (drift,) = compare(reference, traffic, ["mean_log_prob"])
    assert drift.verdict == "stable" and drift.ks_p_value > 0.01
    assert set(unusual(reference, traffic, ["mean_log_prob"], top=2).index) == {200, 201}


def test_parquet_store_reads_back_one_model_since_a_time(tmp_path):
    store = ParquetStore(tmp_path / "log")
    store.write([_record("a", minutes_ago=90), _record("a"), _record("b")])
    store.write([_record("a", mean_log_prob=-0.3)])
    assert len(store.read("a")) == 3 and len(store.read("b")) == 1
    recent = store.read("a", since=datetime.now(UTC) - timedelta(minutes=30))
    assert len(recent) == 2 and recent["mean_log_prob"].notna().sum() == 1
    assert len(store.read("a", until=datetime.now(UTC) - timedelta(minutes=30))) == 1
    assert ParquetStore(tmp_path / "empty").read("a").empty


def test_postgres_store_creates_its_table_and_reads_back():
    from attnops.infra.stack import DEFAULT_POSTGRES, POSTGRES_ENV, create_database, drop_database

    admin = os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES
    database = f"attnops_test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(create_database(admin, database))
    try:
        store.write([_record("m", text="Ein Hund."), _record("m"), _record("other")])
        read = store.read("m")
        assert len(read) == 2 and sorted(read["text"].dropna()) == ["Ein Hund."]
        assert store.read("m", until=datetime.now(UTC) - timedelta(hours=1)).empty
    finally:
        store.close()
        drop_database(admin, database)


def test_a_store_that_is_down_drops_and_counts_every_record():
    dropped: list[tuple[int, str]] = []
    closed_port = free_port()
    log = InferenceLog(
        PostgresStore(f"postgresql://127.0.0.1:{closed_port}/none"),
        flush_interval_s=0.05,
        on_dropped=lambda n, reason: dropped.append((n, reason)),
    )
    log.put([_record("m") for _ in range(7)])
    log.close()
    assert log.written == 0 and log.dropped == 7 and {reason for _, reason in dropped} == {"store error"}


class _HeldStore(ParquetStore):
    """A Parquet store whose writes wait until released: the writer stays busy while requests keep coming."""

    def __init__(self, folder):
        super().__init__(folder)
        self.release = threading.Event()

    def write(self, records):
        self.release.wait()
        super().write(records)


def test_a_full_queue_drops_records_instead_of_waiting(tmp_path):
    store = _HeldStore(tmp_path / "log")
    log = InferenceLog(store, queue_size=5, batch_size=1, flush_interval_s=0.01)
    log.put([_record("m")])  # the writer takes this one and waits in write()
    while log._queue.qsize():
        pass
    log.put([_record("m") for _ in range(8)])  # five fit in the queue
    assert log.dropped == 3
    store.release.set()
    log.close()
    assert log.written == 6 and len(store.read("m")) == 6
