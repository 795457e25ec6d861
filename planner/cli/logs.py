"""Logging for the long commands (`collect`, `execute`): the standard `logging` module.

- `--log-file FILE` appends JSON lines, one per record: `ts` (ISO 8601 with the local
  time zone offset, milliseconds), `level`, `logger`, `message`, and the record's
  `extra` fields (`pool`, `migration`, `attempt`, ...);
- warnings also go to stderr: through rich's handler (time stamped) on a terminal, as
  `planner: warning: ...` lines elsewhere. Errors go to the file only: the command
  prints its error as one line anyway.

No secret reaches a log: the commands never pass a password to a logger, and a filter
replaces the run's password wherever it might appear (an error text echoing a request,
say) with `***` before any handler sees the record.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = "planner"
FILE_ONLY = "file_only"  # `extra={FILE_ONLY: True}`: the record goes to --log-file only
# attributes every LogRecord has; anything else came through `extra=`
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def iso_time(created: float) -> str:
    """`record.created` as ISO 8601 in the local zone, e.g. 2026-12-01T11:20:03.512+00:00."""
    return datetime.fromtimestamp(created, tz=UTC).astimezone().isoformat(timespec="milliseconds")


class JsonLines(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and not k.startswith("_") and k != FILE_ONLY:
                doc[k] = v if isinstance(v, str | int | float | bool | None) else str(v)
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(doc, ensure_ascii=False)


class Redact(logging.Filter):
    """Replaces each secret in a record's message and fields with `***`."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        text = record.getMessage()
        for s in self.secrets:
            text = text.replace(s, "***")
        record.msg, record.args = text, None
        for k, v in list(vars(record).items()):
            if k not in _STANDARD and isinstance(v, str):
                for s in self.secrets:
                    v = v.replace(s, "***")
                setattr(record, k, v)
        return True


class _Plain(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"planner: {record.levelname.lower()}: {record.getMessage()}"


def configure(
    log_file: Path | None = None, *, secrets: list[str] | None = None, tty: bool | None = None
) -> logging.Logger:
    """Set up the `planner` logger for one command run (replacing earlier handlers)."""
    log = logging.getLogger(ROOT)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    for f in list(log.filters):
        log.removeFilter(f)
    log.setLevel(logging.INFO)
    log.propagate = False
    redact = Redact(list(secrets or []))
    if tty if tty is not None else sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        console: logging.Handler = RichHandler(
            console=Console(stderr=True), show_path=False, log_time_format="%Y-%m-%d %H:%M:%S%z"
        )
    else:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(_Plain())
    console.setLevel(logging.WARNING)
    # errors end the command, which prints them as its one `planner: ...` line; records
    # marked file_only (execute's events) are on the terminal already, as its own lines
    console.addFilter(lambda r: r.levelno < logging.ERROR and not getattr(r, FILE_ONLY, False))
    console.addFilter(redact)
    log.addHandler(console)
    if log_file is not None:
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(JsonLines())
        fh.addFilter(redact)
        log.addHandler(fh)
    return log


def close() -> None:
    """Flush and detach the handlers `configure` added (the file is closed)."""
    log = logging.getLogger(ROOT)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
