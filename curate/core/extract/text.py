"""Small pure functions shared by the HTML and WAT extractors (ALGORITHM.md §1)."""
from __future__ import annotations

import hashlib
import re
from hashlib import sha224
from urllib.parse import urljoin, urlsplit

_HTTP_SCHEMES = ("http", "https")


def clean_text(s: str) -> str:
    """Newlines and carriage returns become spaces, then strip: exactly §1, nothing more.

    Tabs and inner runs of spaces are kept: §1 changes only \n and \r, and the
    later stages (dedup, matching) must see the text exactly as §1 defines it.
    """
    return s.replace("\n", " ").replace("\r", " ").strip()


# Characters a browser never sends as they are, somewhere in a URL (WHATWG URL standard:
# controls, space, non-ASCII, and the few ASCII ones its percent-encode sets name); a URL
# free of them is sent exactly as written, so most URLs skip the serialisation below.
_NEEDS_SERIALISING = re.compile(r"[^\x21-\x7e]|[\"'<>`{}\\]")
# The ASCII bytes of a URL that is sent as written: \x21-\x7e but those the class above names.
_SENT_AS_WRITTEN = bytes(c for c in range(0x21, 0x7f) if chr(c) not in "\"'<>`{}\\")


def _needs_serialising(text: str) -> bool:
    """Whether _NEEDS_SERIALISING finds a character in text: the same answer, several times
    faster than the regex on URLs (one C pass deleting the bytes sent as written)."""
    return not text.isascii() or bool(text.encode("ascii").translate(None, _SENT_AS_WRITTEN))


# WHATWG's percent-encode sets beyond the C0 controls (and non-ASCII, always encoded).
_PATH_SET = frozenset(' "#<>?`{}')
_QUERY_SET = frozenset(' "#<>\'')          # special schemes (http, https) add '
_FRAGMENT_SET = frozenset(' "<>`')
_USERINFO_SET = frozenset(' "#<>?`{}/:;=@[\\]^|')


def browser_url(url: str) -> str:
    """The URL as a browser sends it (WHATWG URL serialisation of an http(s) URL): tabs and
    newlines removed, leading and trailing controls and spaces stripped, `\\` in the path
    read as `/`, the host's non-ASCII labels in IDNA, and every other space, control,
    non-ASCII or set character of the path, query and fragment percent-encoded as UTF-8
    (an existing `%XX` is kept). A downloader (img2dataset, urllib) refuses the URL as it
    is written in a page; this one it fetches. image_uuid stays on the written URL (§1)."""
    if not _needs_serialising(url):
        return url
    if "\t" in url or "\n" in url or "\r" in url:
        # (three replaces: str.translate takes a step per character on such URLs)
        url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    url = url.strip(_C0_AND_SPACE)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme, netloc, path, query, fragment = parts
    netloc = _ascii_netloc(netloc)
    path = _percent_encode(path.replace("\\", "/"), _PATH_SET)
    out = f"{scheme}://{netloc}{path}"
    if query or "?" in url.split("#", 1)[0]:
        out += "?" + _percent_encode(query, _QUERY_SET)
    if fragment or "#" in url:
        out += "#" + _percent_encode(fragment, _FRAGMENT_SET)
    return out


_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def _percent_encode(part: str, extra: frozenset) -> str:
    """part with every character but \x21-\x7e outside `extra` as %XX of its UTF-8 bytes."""
    if not _needs_serialising(part):
        return part
    return _encode_runs(part, extra)


def _encode_runs(part: str, extra: frozenset) -> str:
    """_percent_encode's encoding without its shortcut for parts sent as written."""
    # one call per run of such characters, not a step per character (such URLs run long)
    return _ENCODED_RUNS[extra].sub(_percent_run, part)


def _percent_run(run: re.Match) -> str:
    return "".join([_ESCAPES[char] for char in run.group()])


class _Escapes(dict):
    """{character: %XX of each of its UTF-8 bytes}, each worked out on first use (a few
    thousand kept: a URL's characters to encode are few and repeat)."""

    def __missing__(self, char: str) -> str:
        escaped = "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
        if len(self) < 4096:
            self[char] = escaped
        return escaped


_ESCAPES = _Escapes()


# For each set: runs of the characters _percent_encode encodes.
_ENCODED_RUNS = {extra: re.compile("[^" + "".join(re.escape(chr(c)) for c in range(0x21, 0x7f)
                                                  if chr(c) not in extra) + "]+")
                 for extra in (_PATH_SET, _QUERY_SET, _FRAGMENT_SET, _USERINFO_SET)}


def _ascii_netloc(netloc: str) -> str:
    """userinfo@host:port with the host lowercased and its non-ASCII labels in IDNA (a
    label IDNA refuses is kept as written)."""
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.partition(":") if not hostport.startswith("[") else (
        hostport, "", "")
    if not host.isascii():
        labels = []
        for label in host.split("."):
            try:
                labels.append(label.encode("idna").decode("ascii") if not label.isascii()
                              else label)
            except UnicodeError:
                labels.append(label)
        host = ".".join(labels)
    host = host.lower()
    if at:
        userinfo = _credentials(userinfo)
        at = "@" if userinfo else ""
    return f"{userinfo}{at}{host}{colon}{port}"


def _credentials(userinfo: str) -> str:
    """WHATWG's username[:password] of a userinfo: split at its first `:` (a later one is
    the password's), each part encoded in the userinfo set even where nothing else in it
    would be (its set holds printable characters: `;`, `=`, `|`, `:`, ...), the `:` only
    before a password that is not empty."""
    username, _, password = userinfo.partition(":")
    username = _encode_runs(username, _USERINFO_SET)
    password = _encode_runs(password, _USERINFO_SET)
    return f"{username}:{password}" if password else username


def image_uuid(url: str) -> str:
    """The 96-bit image id of §1: tabs and spaces are removed before hashing."""
    key = url.replace("\t", "").replace(" ", "")
    return hashlib.sha224(key.encode("utf-8")).hexdigest()[:24]


# Image sources whose urljoin is plain string work (see PageImages). The quantifiers are
# possessive (no backtracking: twice as fast): each class excludes the character that
# ends its part, so giving characters back could never make a match. `//host...`
# with a non-empty ASCII host free of brackets, no tab / CR / LF, no `;` before the
# query (urlparse's params), a non-empty query / fragment when there is a `?` / `#`.
_NET_PATH = re.compile(r"//[^/?#\[\];\t\r\n\x80-\U0010ffff]++(?:/[^?#;\t\r\n]*+)?"
                       r"(?:\?[^#\t\r\n]++)?(?:#[^\t\r\n]++)?\Z")
# `/path...` under the same rules; the path must also have no empty, `.` or `..`
# segment (urljoin would remove them), checked apart.
_ROOT_PATH = re.compile(r"(/[^?#;\t\r\n]*+)(?:\?[^#\t\r\n]++)?(?:#[^\t\r\n]++)?\Z")
# `dir/file...`: no scheme (no `:`), not starting with `/`, `.`, `?`, `#`, a space or a
# control character (urlsplit strips those, leaving the base itself); the same
# rules for the rest, and the same check of its segments.
_RELATIVE_PATH = re.compile(r"([^\x00-\x20/.?#;:][^?#;:\t\r\n]*+)(?:\?[^#\t\r\n]++)?"
                            r"(?:#[^\t\r\n]++)?\Z")
# A base whose urlsplit is plain string work (most page URLs): lowercase http(s), then a
# host free of brackets, then a path (or none) ending the string or at `?` / `#`, both
# free of spaces, control and non-ASCII characters. urlsplit removes or refuses only
# such characters (and lowercases the scheme), so it gives these very (scheme, netloc,
# path); _parse_base takes them by one match (a fifth of urlsplit's time).
_PLAIN_BASE = re.compile(r"(https?)://([^/?#\[\]\x00-\x20\x7f-\U0010ffff]*+)"
                         r"(/[^?#\x00-\x20\x7f-\U0010ffff]*+|)(?=[?#]|\Z)")
# An absolute http(s) source that resolve_new gives back as it is, with no step able to
# change it: _NET_PATH's parts (so urljoin returns it whole) made only of the characters
# a browser sends as written (_SENT_AS_WRITTEN: ASCII, no space, so strip and
# browser_url leave it alone). An empty fragment (`#` at the end) is not matched: urljoin
# drops it.
_AS_WRITTEN = frozenset(map(chr, _SENT_AS_WRITTEN))


def _class(allowed) -> str:
    # (a class of what is allowed matches about twice as fast as a negated one)
    return "[" + "".join(re.escape(c) for c in sorted(allowed)) + "]"


_PLAIN_ABSOLUTE = re.compile("https?://" + _class(_AS_WRITTEN - set("/?#[];")) + "++"
                             "(?:/" + _class(_AS_WRITTEN - set("?#;")) + "*+)?"
                             r"(?:\?" + _class(_AS_WRITTEN - {"#"}) + "++)?"
                             "(?:#" + _class(_AS_WRITTEN) + r"++)?\Z")
# A source with a scheme, as urlsplit finds one (`data:`, `javascript:`, `HTTP:` ...).
# urljoin keeps a source's own scheme (it returns the source as it is, or joins it to
# a base of the same scheme), so one that is not http(s) never gives an image URL.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


_MISSING = object()
_UNPARSED = "unparsed"


class PageImages:
    """resolve_image_url and image_uuid for the images of one page, remembering answers.

    Results are the functions' own. urljoin is ~30% of an extraction, so the
    common sources skip it where its result is known to be string work:
    `http(s)://host/...` stays as it is, `//host/...` takes the base's scheme,
    `/path` the base's scheme and host, `dir/file` the base's directory (when the
    base's path has no empty, `.` or `..` segment), for sources whose
    urlsplit/urlunsplit round trip is the identity (`_NET_PATH`, `_ROOT_PATH`,
    `_RELATIVE_PATH`); `http(s)://...#` loses the empty fragment as urljoin drops it;
    a source with another scheme (`data:`, `javascript:`) has none. Everything else, and
    every source under a base urljoin would refuse, goes through urljoin, once per
    distinct source of the page.
    """

    __slots__ = ("base", "_cache", "_scheme", "_origin", "_directory", "known")

    def __init__(self, base: str | None) -> None:
        self.base = base
        self._cache: dict[str, tuple[str, str] | None] = {}
        # known(src, default): resolve's answer for a source already resolved, else default
        # (the cache's own get, for callers' inner loops).
        self.known = self._cache.get
        # The base's parts are worked out on the first source that needs them (_parse_base):
        # many pages' image sources are all absolute.
        self._scheme: str | None = _UNPARSED   # the base's http(s) scheme when the shortcuts apply
        self._origin: str | None = None   # "scheme://host" of the base
        self._directory: str | None = None   # "scheme://host/dir/" of a base with a plain path
        if base and (not base.isascii() or "[" in base or "]" in base):
            self._parse_base()   # urlsplit may refuse it (only such a base): know it now

    def _parse_base(self) -> None:
        self._scheme = None
        base = self.base
        if not base:
            return
        plain = _PLAIN_BASE.match(base)
        if plain:
            scheme, netloc, path = plain.groups()
        else:
            try:
                parts = urlsplit(base)
            except ValueError:     # urljoin raises for every source: no shortcut
                self._scheme = "invalid"
                return
            scheme, netloc, path = parts.scheme, parts.netloc, parts.path
        if scheme in _HTTP_SCHEMES:
            self._scheme = scheme
            if netloc:
                self._origin = f"{scheme}://{netloc}"
                if (path.startswith("/") and ";" not in path and "//" not in path
                        and "/./" not in path + "/" and "/../" not in path + "/"):
                    self._directory = self._origin + path[:path.rfind("/") + 1]

    def resolve(self, src: str) -> tuple[str, str] | None:
        """(uuid, absolute http(s) URL) of an image source (a pairs row's first two
        columns), or None."""
        found = self._cache.get(src, _MISSING)
        return self.resolve_new(src) if found is _MISSING else found

    def resolve_new(self, src: str) -> tuple[str, str] | None:
        """resolve for a source known() does not know yet."""
        if _PLAIN_ABSOLUTE.match(src) and self._scheme != "invalid":
            # Most sources: what the steps below give such a source is the source itself,
            # as its URL and as sent (one match in place of five checks and two calls).
            found = self._cache[src] = (sha224(src.encode("ascii")).hexdigest()[:24], src)
            return found
        url = self._shortcut(src.strip())
        if url is None:
            url = resolve_image_url(src, self.base)
        if not url:
            found = None
        elif url.isascii() and "\t" not in url and " " not in url:
            # The common case, its bytes encoded once: image_uuid (inlined) of the written
            # URL, and the URL as a browser sends it (browser_url: as written unless a
            # byte needs serialising).
            data = url.encode("ascii")
            found = (sha224(data).hexdigest()[:24],
                     browser_url(url) if data.translate(None, _SENT_AS_WRITTEN) else url)
        else:   # image_uuid (inlined) of the written URL; the URL as a browser sends it
            key = url.replace("\t", "").replace(" ", "") if ("\t" in url or " " in url) else url
            found = (sha224(key.encode("utf-8")).hexdigest()[:24], browser_url(url))
        self._cache[src] = found
        return found

    def _absolute(self, src: str, scheme: str, start: int) -> str | None:
        if _NET_PATH.match(src, start):
            return src
        if src.endswith("#") and src.find("#") == len(src) - 1 and _NET_PATH.match(src, start,
                                                                                    len(src) - 1):
            # An empty fragment: urljoin drops it when it joins the source to a base of
            # the same scheme (urlunsplit), and keeps the source whole otherwise.
            if self._scheme is _UNPARSED:
                self._parse_base()
            return src[:-1] if scheme == self._scheme else src
        return None

    def _shortcut(self, src: str) -> str | None | bool:
        """The URL urljoin gives, False when it gives none, None when it is not known."""
        if self._scheme == "invalid":   # (a base urlsplit refuses is parsed at once)
            return None
        if src.startswith("http://"):
            return self._absolute(src, "http", 5)
        if src.startswith("https://"):
            return self._absolute(src, "https", 6)
        found = _SCHEME.match(src)
        if found:
            return False if found.group().lower() not in ("http:", "https:") else None
        if self._scheme is _UNPARSED:
            self._parse_base()
        scheme = self._scheme
        if scheme is None:
            return None
        if src.startswith("//"):
            return scheme + ":" + src if _NET_PATH.match(src) else None
        if src.startswith("/"):
            if self._origin is not None:
                match = _ROOT_PATH.match(src)
                if match:
                    path = match.group(1) + "/"
                    if "//" not in path and "/./" not in path and "/../" not in path:
                        return self._origin + src
            return None
        if self._directory is not None:
            match = _RELATIVE_PATH.match(src)
            if match:
                path = "/" + match.group(1) + "/"
                if "//" not in path and "/./" not in path and "/../" not in path:
                    return self._directory + src
        return None


def resolve_image_url(src: str, base: str | None) -> str | None:
    """The absolute http(s) URL of an `<img src>`, or None when there is none.

    `base` is the page's `<base href>` (already absolute) or the page URL.
    """
    src = src.strip()
    if not src:
        return None
    try:
        url = urljoin(base or "", src)
        # urljoin keeps data:, javascript:, relative results (no usable base) as
        # they are; only a fetchable http(s) URL with a host is an image URL.
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket in the host
        return None
    if parts.scheme not in _HTTP_SCHEMES or not parts.netloc:
        return None
    return url
