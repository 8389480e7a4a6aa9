"""The inference log store: one row per served sentence, in PostgreSQL or in local Parquet files.

A store URL ``postgresql://…`` names a database (the table is created on first write); anything else is a
folder of Parquet files, one file per written batch, under ``date=YYYY-MM-DD/`` folders.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq

TABLE = "attnops_inference_log"
COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "time": (pa.timestamp("us", tz="UTC"), "timestamptz"),
    "request_id": (pa.string(), "text"),
    "item": (pa.int32(), "integer"),
    "task": (pa.string(), "text"),
    "deployment": (pa.string(), "text"),
    "model": (pa.string(), "text"),
    "version": (pa.string(), "text"),
    "latency_ms": (pa.float64(), "double precision"),
    "batch_size": (pa.int32(), "integer"),
    "source_tokens": (pa.int32(), "integer"),
    "oov_share": (pa.float64(), "double precision"),
    "target_tokens": (pa.int32(), "integer"),
    "mean_log_prob": (pa.float64(), "double precision"),
    "attention_entropy": (pa.float64(), "double precision"),
    "attention_coverage": (pa.float64(), "double precision"),
    "copy_share": (pa.float64(), "double precision"),
    "text": (pa.string(), "text"),
}
"""Every column: its Arrow type (Parquet) and its PostgreSQL type. ``text`` is the input, kept only when the
operator asks for it; ``item`` is the sentence's place in its request."""
SCHEMA = pa.schema([(name, arrow) for name, (arrow, _) in COLUMNS.items()])
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_S = 2


def default_log_store() -> str:
    """Where inference logs go unless told otherwise: Parquet files in the user's data folder."""
    return str(Path(platformdirs.user_data_dir("attnops")) / "inference-log")


class LogStore(Protocol):
    """Where inference log records go, and where a drift report reads them back."""

    def write(self, records: list[dict[str, Any]]) -> None: ...

    def read(self, model: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """The records of ``model`` logged from ``since`` (default: the first) until ``until`` (default: now)."""
        ...


def open_store(url: str) -> LogStore:
    """The store ``url`` names: a PostgreSQL URL, or a folder for Parquet files (``~`` expanded)."""
    if url.startswith(POSTGRES_SCHEMES):
        return PostgresStore(url)
    return ParquetStore(Path(url).expanduser())


class ParquetStore:
    """Parquet files under ``folder``: ``date=YYYY-MM-DD/part-<ns>-<pid>.parquet``, one per written batch."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, records: list[dict[str, Any]]) -> None:
        table = pa.Table.from_pylist(records, schema=SCHEMA)
        day = self.folder / f"date={records[0]['time']:%Y-%m-%d}"
        day.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns()}-{os.getpid()}.parquet"
        partial = day / f".{name}"
        pq.write_table(table, partial)
        partial.rename(day / name)  # readers never see half a file

    def read(self, model: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        import pyarrow.dataset as ds

        files = sorted(self.folder.glob("date=*/part-*.parquet"))
        if not files:
            return SCHEMA.empty_table().to_pandas()
        condition = ds.field("model") == model
        moment = SCHEMA.field("time").type
        if since is not None:
            condition &= ds.field("time") >= pa.scalar(since, type=moment)
        if until is not None:
            condition &= ds.field("time") < pa.scalar(until, type=moment)
        table = ds.dataset([str(f) for f in files], schema=SCHEMA, format="parquet").to_table(filter=condition)
        return table.to_pandas()


class PostgresStore:
    """The table :data:`TABLE` of a PostgreSQL database, created on first write."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: Any = None

    def _connect(self) -> Any:
        import psycopg

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
            columns = ", ".join(f"{name} {sql}" for name, (_, sql) in COLUMNS.items())
            self._connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})")
            self._connection.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_model_time ON {TABLE} (model, time)")
        return self._connection

    def write(self, records: list[dict[str, Any]]) -> None:
        try:
            connection = self._connect()
            with connection.cursor().copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for record in records:
                    copy.write_row([record.get(name) for name in COLUMNS])
        except Exception:
            self.close()  # the next batch connects again
            raise

    def read(self, model: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        connection = self._connect()
        since = since or datetime.fromtimestamp(0, UTC)
        until = until or datetime.now(UTC)
        rows = connection.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE model = %s AND time >= %s AND time < %s ORDER BY time",
            (model, since, until),
        ).fetchall()
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
