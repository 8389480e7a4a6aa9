"""Credentials kept out of logs, MLflow and API answers: URL passwords and secret environment values."""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from types import TracebackType

MASK = "***"
SECRET_ENV = (
    "ATTNOPS_API_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "PGPASSWORD",
    "POSTGRES_PASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "RAY_AUTH_TOKEN",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
)
"""Environment variables whose values never appear in output."""
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def redact(text: str) -> str:
    """``text`` with every URL's user:password and every secret environment value masked."""
    text = _USERINFO.sub(lambda match: f"{match['scheme']}{MASK}@", text)
    for name in SECRET_ENV:
        value = os.environ.get(name)
        if value:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that masks credentials in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def redact_logs() -> None:
    """Mask credentials in everything the root logger's handlers write."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def _redacting_hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))


def redact_uncaught() -> None:
    """Mask credentials in the traceback of an exception nobody caught (which Python prints to stderr)."""
    sys.excepthook = _redacting_hook
