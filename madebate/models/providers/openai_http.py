"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM's server, llama.cpp's server)."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import os
import time
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from madebate._errors import ConfigError, ModelCallError
from madebate._secrets import mask_logs, mask_url, url_secrets
from madebate.models._model import (
    CallContext,
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    mean_chat_logprob,
)

_RETRYABLE_STATUS = {408, 409, 429}


class OpenAICompatibleModel(ModelAPI):
    """Uses the openai SDK's async client with its own retries off: our wrapper owns the policy."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 120.0,
        structured_output: bool = True,
    ):
        if not model:
            raise ConfigError(
                "give the model name after the prefix, e.g. openai/gpt-4o-mini", field="model"
            )
        self.model = model
        self.model_id = f"openai/{model}"
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        key = api_key or os.environ.get(api_key_env) or None
        if key is None:
            if self.base_url is None:
                raise ConfigError(
                    f"no API key: set the environment variable {api_key_env}, or give base_url "
                    "for a local OpenAI-compatible server",
                    field="model",
                )
            key = "EMPTY"  # local servers (vLLM, llama.cpp) accept any key
        self._api_key = key
        # What `_redact` masks, computed once: the key as sent and as error texts quote it,
        # and a key written into base_url (user:KEY@host, ?api-key=KEY).
        forms = {key, key.strip(), json.dumps(key)[1:-1], repr(key)[1:-1]} - {""}
        if len(key.strip()) < 8:
            forms = set()
        for secret in url_secrets(self.base_url or ""):  # as written, and decoded
            forms |= {f for f in (secret, unquote(secret)) if len(f) >= 4}
            mask_logs()  # the HTTP client logs each request's URL
        basic = _basic_credentials(self.base_url)
        if basic:  # user:KEY@ is sent as "Basic base64(user:KEY)", which a server may echo
            forms.add(basic)
        self._key_forms = sorted(forms, key=len, reverse=True)
        self.timeout_s = timeout_s
        # OpenAI, vLLM's server and llama.cpp's C++ llama-server take response_format
        # json_schema (llama-cpp-python's server does through `python -m
        # madebate.serve_llamacpp`); set structured_output=False for a server that does not:
        # the prompt still asks for JSON and the tolerant parser reads the reply.
        self.structured_output = "json_schema" if structured_output else None
        self.enforces_structured_output = structured_output
        self._client: Any = None
        self._client_loop: Any = None
        # The SDK's first import takes about half a second of blocking CPU. Done lazily inside
        # the first generate(), it ran under ManagedModel's per-call timeout, so with a short
        # `timeout_s` the first call of every run timed out once for no fault of the server.
        import openai  # noqa: F401

    @property
    def cache_identity(self) -> str:
        return f"{self.model_id} at {self.base_url or 'https://api.openai.com/v1'}"

    def __repr__(self) -> str:  # never show the key
        shown = mask_url(self.base_url) if self.base_url else None
        return f"OpenAICompatibleModel(model={self.model!r}, base_url={shown!r})"

    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is not loop:
            self._client = None  # made on a loop that is gone (e.g. a second sync run)
        if self._client is None:
            from openai import AsyncOpenAI

            self._client_loop = loop
            # A query in base_url (?api-key=KEY, Azure's ?api-version=...) goes on every
            # request: the SDK would append the path after it.
            base_url, query = _split_query(self.base_url)
            self._client = AsyncOpenAI(
                api_key=self._api_key,
                base_url=base_url,
                default_query=query or None,
                timeout=self.timeout_s,
                max_retries=0,  # retries belong to ManagedModel, never to both
            )
        return self._client

    async def generate(
        self,
        messages: list[ChatMessage],
        config: GenerateConfig,
        context: CallContext | None = None,
    ) -> ModelOutput:
        import openai

        request: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in messages],
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
        if config.seed is not None:
            request["seed"] = config.seed
        if config.stop:
            request["stop"] = list(config.stop)
        if config.json_schema is not None and self.structured_output:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "reply",
                    "schema": strict_schema(config.json_schema),
                    "strict": True,
                },
            }
        if config.logprobs:
            request["logprobs"] = True
        start = time.perf_counter()
        try:
            # The SDK's typed create() re-walks every message through its TypedDict transform;
            # posting the plain JSON body through the same client (same auth, errors, pooling)
            # and reading the JSON reply costs a fraction of that CPU per call.
            response = await self._get_client().post(
                "/chat/completions", body=request, cast_to=object
            )
        except openai.APITimeoutError as exc:
            raise ModelCallError(f"timed out after {self.timeout_s}s", retryable=True) from exc
        except json.JSONDecodeError as exc:  # a body cut off mid-JSON: worth another try
            message = self._redact(f"malformed JSON from the server: {exc}")
            raise ModelCallError(message, retryable=True) from exc
        except openai.APIConnectionError as exc:
            # The SDK says only "Connection error."; the cause (a reset, a refused connect, a
            # server that closed without answering) is what a failed example's record needs.
            # The cause may quote the request (an illegal header value is the key itself).
            message = self._redact(f"connection error: {_root_cause(exc)}")
            raise ModelCallError(message, retryable=True) from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            retryable = status in _RETRYABLE_STATUS or status >= 500
            # The body is the server's, and a server may echo the key: masked before the message
            # is cut (no half of a key survives the cut), and not chained, so that a traceback
            # does not print the body again.
            message = _short(self._redact(str(exc)))
            raise ModelCallError(
                f"HTTP {status}: {message}",
                retryable=retryable,
                status=status,
                retry_after_s=retry_after(exc.response.headers.get("retry-after")),
            ) from None
        except Exception as exc:  # the client itself failed; its message may quote the request
            message = _short(self._redact(f"{type(exc).__name__}: {exc}"))
            raise ModelCallError(message, retryable=False) from None
        latency = time.perf_counter() - start
        choices = response.get("choices") if isinstance(response, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise ModelCallError("the server returned no choices", retryable=True)
        choice = choices[0]
        usage = response.get("usage") or {}
        finish = choice.get("finish_reason")
        return ModelOutput(
            # Replies go to the run log: one that echoes the key (a hostile server) is masked.
            text=self._redact((choice.get("message") or {}).get("content") or ""),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=self._redact(finish) if isinstance(finish, str) else finish,
            latency_s=latency,
            mean_logprob=mean_chat_logprob(choice),
        )

    def _redact(self, text: str) -> str:
        """The text with the API key, as sent or escaped (JSON, repr), replaced by ***. A key
        shorter than 8 characters ('k', a local server's placeholder) is no secret, and masking
        it would mangle every reply."""
        for form in self._key_forms:
            text = text.replace(form, "***")
        return text

    async def aclose(self) -> None:
        client, loop = self._client, self._client_loop
        self._client = self._client_loop = None
        # A client made on another loop (e.g. by a finished sync run) cannot be closed from
        # this one: its connections belong to that loop ("Event loop is closed"). Drop it.
        if client is not None and loop is asyncio.get_running_loop():
            await client.close()


def _basic_credentials(url: str | None) -> str | None:
    """The HTTP basic credentials the client sends for a user:password@ in the URL, as sent."""
    if not url or "@" not in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.username is None and parts.password is None:
        return None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return base64.b64encode(pair.encode()).decode()


def _split_query(url: str | None) -> tuple[str | None, dict[str, str]]:
    """A base URL without its query, and the query's parameters."""
    if url is None or "?" not in url:
        return url, {}
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(parts._replace(query="")), query


def _root_cause(exc: BaseException) -> str:
    """What went wrong below the SDK's "Connection error.": the socket's own error where there
    is one ('ConnectionResetError: [Errno 104] Connection reset by peer'), else the first
    exception in the chain with something to say."""
    chain: list[BaseException] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and all(cause is not c for c in chain):
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    said = [c for c in chain if str(c) and not isinstance(c, asyncio.CancelledError)]
    found = next((c for c in said if isinstance(c, OSError)), said[0] if said else None)
    return f"{type(found).__name__}: {found}" if found is not None else str(exc)


def _short(exc: Exception | str) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


# Keywords OpenAI's strict structured outputs reject; the client-side parser still checks them.
_UNSUPPORTED_IN_STRICT = {"maxLength", "minLength"}


def strict_schema(schema: Any) -> Any:
    """The schema without the keywords strict mode rejects (bounds meant for grammars)."""
    if isinstance(schema, dict):
        return {k: strict_schema(v) for k, v in schema.items() if k not in _UNSUPPORTED_IN_STRICT}
    if isinstance(schema, list):
        return [strict_schema(v) for v in schema]
    return schema


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
