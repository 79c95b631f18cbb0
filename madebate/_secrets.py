"""Secrets that ride along in settings: a key in a URL (`http://user:KEY@host/v1`,
`?api-key=KEY`) and credentials in provider options (an Authorization header).

A URL's key is masked (`***`) wherever a URL is written or printed (the run directory, the
report, command output, error messages, logs): `mask_text` for free text, `mask_secrets` for
settings. The real URL is only ever handed to the HTTP client. Credentials in options are
refused (`secret_option_fields`): a spec is written to the run directory as it is."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus, urlsplit

MASK = "***"

# Parts of a query parameter's or an option's name (split at '-', '_', '.', case folded) that
# mark its value as a credential: api-key, api_key, apikey, key, token, access_token, sig,
# X-Amz-Signature, client_secret, password, Authorization, ...
_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "pass",
        "passwd",
        "pwd",
        "sig",
        "signature",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "cookie",
    }
)
# A URL in free text: a scheme, '://', then everything up to a space, quote or bracket.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
# Credentials written as a header value: "Bearer sk-...", "Basic dXNlcjpw..."
_AUTH_VALUE = re.compile(r"^\s*(bearer|basic|token)\s+\S{8,}", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a parameter or option of this name holds a credential."""
    folded = name.lower()
    # camelCase words apart too (accessKey, authToken); an all-capitals name stays whole.
    split = re.split(r"[-_.\s]+", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower())
    if split[-1] == "env":  # api_key_env: the name of the variable that holds it
        return False
    parts = set(split)
    return bool(parts & _SECRET_WORDS) or folded.replace("-", "").replace("_", "") in {
        "apikey",
        "accesstoken",
        "xapikey",
    }


def url_secrets(url: str) -> list[str]:
    """The secret parts of a URL as written in it: the userinfo's password (or a user name
    alone, which is how a key is put there), and the values of secret query parameters."""
    try:
        parts = urlsplit(url)
        password = parts.password
        username = parts.username
    except ValueError:  # an unparsable port, a bad IPv6 host: nothing can be said
        return []
    found: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        user, _, raw_password = userinfo.partition(":")
        if password:
            found.append(raw_password)
        elif username:
            found.append(user)
    # The fragment too: `#access_token=KEY` (OAuth's implicit flow puts a token there).
    for pair in re.split(r"[&;]", f"{parts.query}&{parts.fragment}"):
        name, sep, value = pair.partition("=")
        if sep and value and is_secret_name(unquote_plus(name)):
            found.append(value)  # as written (percent-encoded), as it is masked
    return [s for s in dict.fromkeys(found) if s]


def mask_url(url: str) -> str:
    """The URL with its secret parts (see `url_secrets`) replaced by ***."""
    secrets = url_secrets(url)
    if not secrets:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = _split_authority(rest)
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user, colon, password = userinfo.partition(":")
        userinfo = f"{user}:{MASK}" if colon and password else MASK
        authority = f"{userinfo}@{host}"
    for secret in sorted(secrets, key=len, reverse=True):
        tail = re.sub(rf"(?<==){re.escape(secret)}(?=$|[&;#])", MASK, tail)
    return f"{scheme}{sep}{authority}{slash}{tail}"


def _split_authority(rest: str) -> tuple[str, str, str]:
    """'user:pw@host:1/v1?q' -> ('user:pw@host:1', '/', 'v1?q'), also with ? or # first."""
    match = re.search(r"[/?#]", rest.rpartition("@")[2])
    if match is None:
        return rest, "", ""
    at = rest.rfind("@") + 1 if "@" in rest else 0
    cut = at + match.start()
    return rest[:cut], rest[cut], rest[cut + 1 :]


def mask_text(text: str) -> str:
    """Every URL in the text with its secret parts masked; the rest as it is."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: mask_url(m.group(0)), text)


def mask_secrets(value: Any) -> Any:
    """Settings (mappings, lists, strings, as read from YAML or JSON) with every URL's secret
    parts masked; what holds no URL is returned as it is."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


def mask_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`mask_secrets` of a mapping of settings, as a dict."""
    return {str(k): mask_secrets(v) for k, v in settings.items()}


def masked_fields(value: Any, path: str = "") -> list[str]:
    """Paths of the URLs in settings that `mask_secrets` masked (a spec read back from a run
    directory): their keys are not there to use."""
    if isinstance(value, str):
        return [path or "value"] if any(MASK in url for url in _URL.findall(value)) else []
    if isinstance(value, Mapping):
        return [
            p for k, v in value.items() for p in masked_fields(v, f"{path}.{k}" if path else str(k))
        ]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in masked_fields(v, f"{path}[{i}]")]
    return []


def secret_option_fields(options: Mapping[str, Any], path: str = "") -> list[str]:
    """Paths of the credentials in provider options: a key whose name says it holds one
    (api_key, default_headers.Authorization, X-Api-Key, ...), or a value that reads as a
    credential ("Bearer sk-..."), at any depth."""
    found: list[str] = []
    for key, value in options.items():
        here = f"{path}.{key}" if path else str(key)
        if is_secret_name(str(key)) and _credential_like(value):
            found.append(here)
        elif isinstance(value, Mapping):
            found += secret_option_fields(value, here)
        elif isinstance(value, list | tuple):
            found += _secret_items(value, here)
        elif isinstance(value, str) and _AUTH_VALUE.match(value):
            found.append(here)
    return found


def _secret_items(items: list[Any] | tuple[Any, ...], path: str) -> list[str]:
    """`secret_option_fields` inside a list: mappings, headers given as [name, value] pairs
    (as httpx takes them), and "Bearer ..." values."""
    found: list[str] = []
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        if isinstance(item, Mapping):
            found += secret_option_fields(item, here)
        elif (
            isinstance(item, list | tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and is_secret_name(item[0])
            and _credential_like(item[1])
        ):
            found.append(f"{here} ({item[0]})")
        elif isinstance(item, list | tuple):
            found += _secret_items(item, here)
        elif isinstance(item, str) and _AUTH_VALUE.match(item):
            found.append(here)
    return found


def _credential_like(value: object) -> bool:
    """A value that can be a credential: text or a number (not a flag such as
    `add_bos_token: true`, nor an empty one), or a list holding one (`auth: [user, pw]`)."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, list | tuple):
        return any(_credential_like(v) for v in value)
    return isinstance(value, int | float) or (isinstance(value, str) and value.strip() != "")


# The loggers of the HTTP stack, which log each request's URL (at INFO, with its query).
_HTTP_LOGGERS = ("httpx", "httpx2", "httpcore", "openai", "urllib3")


class _MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_MASKING = _MaskingFilter()


def mask_logs() -> None:
    """Keys in URLs masked in what the HTTP stack logs; once per process, idempotent."""
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _MASKING not in logger.filters:
            logger.addFilter(_MASKING)
