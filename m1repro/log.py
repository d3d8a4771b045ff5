"""Structured logging for rule scripts: one JSON object per line in the rule's ``log:`` file; and :func:`redact`,
which every stored error, log line and report passes through so that no API key reaches a file."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: What a credential looks like in text: OpenAI-style keys (``sk-...``, ``sk-proj-...``), a bearer token, and a
#: ``key=``/``"api_key": "..."`` assignment. Providers echo keys in error bodies; users paste them into configs.
KEY_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{6,}=*"),
    re.compile(r"(?i)(\bapi[_-]?key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{8,}"),
)
REDACTED = "[REDACTED]"
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


def register_secret(value: str | None) -> None:
    """Redact ``value`` (an API key read from the environment) wherever :func:`redact` runs, whatever its shape."""
    if value and len(value) >= 4:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def looks_like_key(text: str) -> bool:
    """True when ``text`` holds something key-shaped (see :data:`KEY_PATTERNS`) or a registered secret."""
    return redact(text) != text


def redact(text: str) -> str:
    """``text`` with every registered secret and every key-shaped string replaced by ``[REDACTED]``."""
    if not isinstance(text, str) or not text:
        return text
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for s in secrets:
        text = text.replace(s, REDACTED)
    text = KEY_PATTERNS[0].sub(REDACTED, text)
    text = KEY_PATTERNS[1].sub("Bearer " + REDACTED, text)
    return KEY_PATTERNS[2].sub(lambda m: m.group(1) + REDACTED, text)


def redact_obj(obj: Any) -> Any:
    """:func:`redact` over every string of a JSON-like value (dict keys included)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj


class RedactingFormatter(logging.Formatter):
    """The plain stderr line, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "data", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(redact_obj(out), ensure_ascii=False, default=str))


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Route the package's logs to ``log_path`` (JSON lines) and a short human line to stderr."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_path, mode="w", encoding="utf-8")
        fh.setFormatter(JsonFormatter())
        root.addHandler(fh)
    sh = logging.StreamHandler(sys.stderr)
    sh.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(sh)
    for noisy in ("httpx", "httpx2", "openai", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger("m1repro")


def log_event(logger: logging.Logger, msg: str, **data: Any) -> None:
    """Log ``msg`` with structured fields that land as keys of the JSON line."""
    logger.info(msg, extra={"data": data})
