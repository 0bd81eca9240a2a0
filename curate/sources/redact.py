"""Source names as curate writes and prints them: credentials and signed-URL tokens replaced
by `***`.

An input is read with its real name (the reader sends the user information as HTTP basic
authentication and the query as given). Every place that writes or shows a name uses
`redact(name)`: the `source_path` of each row, `pairs/__curate__/inputs.txt` and `errors`,
the stage reports, the terminal, error messages (UserError and RunFailed redact their own
message with `redact_text`) and the log. The rule, for a name with a `scheme://`:

- the user information before the host (`user:pass@`, `token@`) becomes `***@`;
- in the query and the fragment, the value of a parameter becomes `***` when its name (its
  percent-escapes decoded) is secret: split into words at `-`, `_`, `.` and where a lower
  case letter meets an upper case one, its last word is one of SECRET_WORDS (so
  `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, `X-Goog-Signature`,
  `X-Goog-Credential`, Azure SAS `sig`, `token`, `access_token`, `apiKey`, `key`,
  `password`, `client_secret`), or the whole name, lower-cased, is one of SECRET_NAMES
  (`AWSAccessKeyId` of S3's older presigned URLs).

Nothing else changes, byte for byte, and no request is made: the result depends on the name
alone, so rows stay deterministic (dedup keeps the smallest `source_path`), and
redact(redact(x)) == redact(x). A local path (no `://`) is returned as it is.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"
SECRET_WORDS = frozenset({
    "signature", "sig", "credential", "credentials", "token", "secret", "password",
    "passwd", "pwd", "key", "apikey", "auth", "authorization"})
SECRET_NAMES = frozenset({"awsaccesskeyid"})

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# Words of a parameter name: at -, _ and ., and between a lower case letter and an upper one.
_WORD_BREAK = re.compile(r"[-_.]+|(?<=[a-z0-9])(?=[A-Z])")
# A URI inside a message: up to white space or a quote; a final . , : ; ) ] is the
# sentence's, not the URI's.
_URI_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]*[^\s'\"<>.,:;)\]]")


def redact(name: str) -> str:
    """`name` with its user information and secret query/fragment values masked."""
    scheme = _SCHEME.match(name)
    if scheme is None:
        return name
    start = scheme.end()
    end = _first_of(name, "/?#", start)
    authority = name[start:end]
    if "@" in authority:
        authority = f"{MASK}@{authority.rsplit('@', 1)[1]}"
    rest = name[end:]
    path_end = _first_of(rest, "?#", 0)
    path, tail = rest[:path_end], rest[path_end:]
    if tail.startswith("?"):
        query_end = _first_of(tail, "#", 0)
        tail = "?" + _mask_parameters(tail[1:query_end]) + tail[query_end:]
    fragment_at = tail.find("#")
    if fragment_at >= 0:
        tail = tail[:fragment_at + 1] + _mask_parameters(tail[fragment_at + 1:])
    return name[:start] + authority + path + tail


def redact_text(text: str) -> str:
    """`text` with every URI in it redacted (messages that quote a name)."""
    if "://" not in text:
        return text
    return _URI_IN_TEXT.sub(lambda found: redact(found.group()), text)


def is_secret(parameter: str) -> bool:
    """Whether a query parameter of this name holds a secret (the module's rule)."""
    name = unquote(parameter).strip()
    words = [w for w in _WORD_BREAK.split(name) if w]
    return bool(words) and (words[-1].lower() in SECRET_WORDS
                            or name.lower() in SECRET_NAMES)


def split_user_info(url: str) -> tuple[str, str | None]:
    """(the URL without its user information, that information or None)."""
    scheme = _SCHEME.match(url)
    if scheme is None:
        return url, None
    start = scheme.end()
    end = _first_of(url, "/?#", start)
    user, at, host = url[start:end].rpartition("@")
    if not at:
        return url, None
    return url[:start] + host + url[end:], user


def _mask_parameters(query: str) -> str:
    parts = []
    for part in query.split("&"):
        key, eq, _value = part.partition("=")
        parts.append(f"{key}={MASK}" if eq and is_secret(key) else part)
    return "&".join(parts)


def _first_of(text: str, characters: str, start: int) -> int:
    """The first position at or after `start` of any of `characters`, else len(text)."""
    found = [i for i in (text.find(c, start) for c in characters) if i >= 0]
    return min(found) if found else len(text)
