"""Daemon logging: JSON lines to a size-rotated file, readable lines on stderr.

Under systemd stderr goes to the journal; in the foreground it is the terminal.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from typing import Any

from wzp_supervisor import paths

# Attributes of a LogRecord that are not extra fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key != "fields":
                entry[key] = value
        # ``extra={"fields": {...}}`` sets keys LogRecord reserves (``process``, ``message``…)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "info", max_bytes: int = 10_485_760, backups: int = 3) -> None:
    """Log to stderr and to the rotated JSON-lines file in the state dir."""
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler()
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    log_file = paths.daemon_log()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    rotating = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=max_bytes, backupCount=backups
    )
    rotating.setFormatter(JsonLineFormatter())
    root.addHandler(rotating)
    # circus logs every spawn and reap at info; keep its noise out of ours
    logging.getLogger("circus").setLevel(logging.WARNING)
