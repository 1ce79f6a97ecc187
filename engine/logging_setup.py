"""Logging to a rotating file under the user log directory, never to the terminal: the app
owns the terminal, and a stray line would tear its screen."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import platformdirs

from engine.config import APP_NAME

_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"


class _LogFileHandler(logging.handlers.RotatingFileHandler):
    """Ours, so that a second setup replaces it instead of logging every line twice."""


def default_log_file() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME)) / "ktrdr-tui.log"


def setup_logging(log_file: Path | None = None, level: int = logging.INFO) -> Path:
    """Send every log record to `log_file` (rotated at 2 MB, 3 kept). Safe to call twice."""
    log_file = log_file or default_log_file()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _LogFileHandler):
            root.removeHandler(handler)
            handler.close()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = _LogFileHandler(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return log_file
