"""Keep credentials out of everything a datastore prints: URLs, reprs, errors.

Storage options carry credentials under many names (``key``, ``secret``,
``token``, ``client_kwargs={"aws_secret_access_key": ...}``, a SAS token in
a URL's query, ``user:password@`` in a URL). :class:`Redactor` collects every
such value once and replaces it wherever it shows up in a message.

>>> redact = Redactor("s3://AKIA123:hunter22@bucket/runs", {"secret": "s3cr3t-value", "endpoint_url": "http://u:pw12@h"})
>>> redact("denied for AKIA123 with s3cr3t-value at http://u:pw12@h")
'denied for *** with *** at http://***@h'
>>> strip_url("s3://AKIA123:hunter22@bucket/runs?sig=abcd&x=1")
's3://bucket/runs?sig=***&x=1'
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

#: Parts of option names whose values are credentials.
SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "session", "auth", "sig", "sas")
MASK = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# Short values (dummy test credentials like "x") are masked only as whole words, so that masking
# them does not mangle the rest of a message.
_SHORT = 6


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode(errors="replace")
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _strings(item)


def _url_secrets(text: str) -> Iterable[str]:
    """The user info of every URL in ``text`` and its query values with credential-like names."""
    for match in _URL.finditer(text):
        parts = urllib.parse.urlsplit(match.group(0))
        netloc = parts.netloc
        if "@" in netloc:
            userinfo = netloc.rsplit("@", 1)[0]
            yield userinfo
            yield from (part for part in userinfo.split(":") if part)
        for name, value in urllib.parse.parse_qsl(parts.query):
            if _secret_name(name) and value:
                yield value


def collect(root: str, options: Mapping[str, Any]) -> list[str]:
    """Every credential in ``root`` and ``options``, longest first (so overlaps mask fully)."""
    found: set[str] = set(_url_secrets(root))

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, Mapping):
            for name, item in value.items():
                walk(item, secret or _secret_name(str(name)))
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                walk(item, secret)
        elif secret:
            found.update(_strings(value))
        elif isinstance(value, str):
            found.update(_url_secrets(value))

    walk(options, False)
    # Parts of a secret leak on their own too: "Bearer <token>", a SAS token's "sig=<signature>".
    parts = {part for secret in found for part in re.split(r"[\s&]+", secret) if part != secret}
    parts.update(value for secret in found for _, value in urllib.parse.parse_qsl(secret))
    variants = set()
    for secret in found | {part for part in parts if len(part) >= _SHORT}:
        if secret:
            variants.update({secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)})
    return sorted(variants, key=len, reverse=True)


def strip_url(url: str) -> str:
    """``url`` without user info and with credential-like query values masked."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1] if "@" in parts.netloc else parts.netloc
    query = "&".join(
        f"{name}={MASK if _secret_name(name) else value}"
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Redactor:
    """Masks the credentials of one datastore (its root URL and storage options) in any text."""

    def __init__(self, root: str, options: Mapping[str, Any]) -> None:
        self._long = [s for s in collect(root, options) if len(s) >= _SHORT]
        short = [re.escape(s) for s in collect(root, options) if len(s) < _SHORT]
        self._short = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(short) + r")(?![A-Za-z0-9])") if short else None

    def __call__(self, text: str) -> str:
        for secret in self._long:
            text = text.replace(secret, MASK)
        if self._short is not None:
            text = self._short.sub(MASK, text)
        return text
