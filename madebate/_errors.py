"""Exceptions that users see. Each names what was wrong and what would be valid."""

from __future__ import annotations

from typing import Any


class MadebateError(Exception):
    """Base class of every error madebate raises on purpose."""


class ConfigError(MadebateError, ValueError):
    """A bad spec, file or option. `source` is the file (or 'python'), `field` the path in it."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        where = ", ".join(p for p in (source, f"field '{field}'" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class MissingResource(ConfigError):
    """An optional library, data set or model weights that a feature needs is not installed;
    the message names it and the command that fetches it."""


class ModelCallError(MadebateError):
    """A model call failed. `retryable` says whether trying again may help (429, 5xx, timeouts)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
    ):
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s  # the server's Retry-After, honoured by the wrapper
        self.record: Any = None  # the CallRecord of the failed call, set by the model wrapper
        super().__init__(message)


class BudgetExceeded(MadebateError):
    """A discussion hit its call or token limit."""


class ContextOverflow(BudgetExceeded):
    """A prompt plus its reply would not fit the model's context: the call is never sent (a
    server would refuse it, or silently cut the prompt)."""

    def __init__(self, needed: int, window: int, model: str):
        self.needed = needed
        self.window = window
        super().__init__(
            f"prompt needs about {needed} tokens with its reply, over the context window of "
            f"{window} of {model}"
        )
