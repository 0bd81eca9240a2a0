"""Word lists of the `wordfreq` package, read without wordfreq or msgpack.

What: wordfreq (PyPI, Robyn Speer; data CC BY-SA 4.0) ships, for about 40 languages,
``wordfreq/data/large_XX.msgpack.gz`` (words down to frequency 1e-8) and/or
``small_XX.msgpack.gz`` (down to 1e-6). Meta CLIP 2 needs one metadata list per language
(ALGORITHM.md §6); these frequency lists are the registry source the project approximates
them from (curate/data/metadata_worldwide/, built by scripts/build_worldwide_metadata.py).

Why a reader of our own: importing wordfreq pulls in regex, ftfy, langcodes and msgpack,
and only the data files are needed. Their layout is wordfreq's "cBpack" (``read_cBpack`` in
wordfreq/__init__.py, 3.1.1): a gzipped msgpack array whose first element is the header map
``{"format": "cB", "version": 1}`` and whose element ``1 + i`` is the array of words (strings,
alphabetical) of frequency ``10 ** (-i / 100)`` (bucket i = -i centibels). The files use only
a handful of msgpack types (in wordfreq 3.1.1, all 66 lists: fixarray, array 16, fixmap,
positive fixint, fixstr, str 8), so :class:`_Reader` decodes exactly those, plus the longer
forms of the same families (str 16/32, array 32), and refuses anything else, which keeps
msgpack out of the dependencies (checked when written: all 66 lists of wordfreq 3.1.1
decode exactly as with msgpack 1.2.4). The words come out as wordfreq stores them:
case-folded, tokenized by wordfreq, and with every multi-digit number replaced by its
"shape" (``1984`` -> ``0000``, see wordfreq/numbers.py); :func:`is_number_shape` tells
those placeholders apart.
"""
from __future__ import annotations

import gzip
import os
import re
import string
import unicodedata

__all__ = ["wordfreq_words", "wordfreq_languages", "read_cbpack", "is_number_shape",
           "is_dropped", "is_single_kana", "capitalised", "metadata_codes",
           "worldwide_entries", "MIN_FREQUENCY", "MAX_WORDS"]

# The shipped worldwide lists' rule (curate/data/metadata_worldwide/README.md).
MIN_FREQUENCY = 1e-6  # Zipf 3, once per million words: the floor of wordfreq's small lists
MAX_WORDS = 50_000  # per language, cut between frequency buckets

# wordfreq code -> the metadata file codes its list is written under. lid.176 says `tl`
# for Tagalog (wordfreq: `fil`), and wordfreq serves its one Serbo-Croatian list (`sh`,
# Latin script) for bs, hr, sr and sh alike, all four of them lid.176 labels.
_METADATA_CODES = {"fil": ("tl",), "sh": ("bs", "hr", "sh", "sr")}

# wordfreq.numbers.MULTI_DIGIT_RE: a digit followed by digits, "." or ",". wordfreq replaces
# every digit of such a run with "0" before counting, so a stored word containing one is a
# placeholder for many numbers, never a literal string (``str`` patterns: \d is Unicode).
_MULTI_DIGIT = re.compile(r"\d[\d.,]+")
_LIST_FILE = re.compile(r"(large|small)_([a-z]{2,3}(?:_[a-z]+)?)\.msgpack\.gz")


def is_number_shape(word: str) -> bool:
    """True for wordfreq's aggregated number entries ("00", "0.0", "mp0000"...)."""
    return _MULTI_DIGIT.search(word) is not None


class _Reader:
    """Sequential msgpack decoder for the types cBpack files use (msgpack spec 2.0)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ValueError(f"msgpack data truncated at byte {self.pos}")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def _uint(self, n: int) -> int:
        return int.from_bytes(self._take(n), "big")

    def array_header(self) -> int:
        """The length of the array that starts here."""
        t = self._uint(1)
        if 0x90 <= t <= 0x9F:  # fixarray
            return t & 0x0F
        if t == 0xDC:  # array 16
            return self._uint(2)
        if t == 0xDD:  # array 32
            return self._uint(4)
        raise ValueError(f"expected a msgpack array at byte {self.pos - 1}, type 0x{t:02x}")

    def str(self) -> str:
        """A string; fixstr is inlined as it is almost every word."""
        data, pos = self.data, self.pos
        t = data[pos] if pos < len(data) else -1
        if 0xA0 <= t <= 0xBF:
            end = pos + 1 + (t & 0x1F)
            if end > len(data):
                raise ValueError(f"msgpack data truncated at byte {pos}")
            self.pos = end
            return data[pos + 1:end].decode("utf-8")
        value = self.value()
        if not isinstance(value, str):
            raise ValueError(f"expected a msgpack string at byte {pos}, got {value!r}")
        return value

    def value(self):
        start = self.pos
        t = self._uint(1)
        if t <= 0x7F:  # positive fixint (the header's version)
            return t
        if 0xA0 <= t <= 0xBF:  # fixstr
            return self._take(t & 0x1F).decode("utf-8")
        if t in (0xD9, 0xDA, 0xDB):  # str 8 / 16 / 32
            return self._take(self._uint(1 << (t - 0xD9))).decode("utf-8")
        if 0x90 <= t <= 0x9F or t in (0xDC, 0xDD):  # fixarray / array 16 / array 32
            self.pos = start
            return [self.value() for _ in range(self.array_header())]
        if 0x80 <= t <= 0x8F:  # fixmap (the header)
            return {self.value(): self.value() for _ in range(t & 0x0F)}
        raise ValueError(f"msgpack type 0x{t:02x} at byte {start} is not used by wordfreq "
                         "lists and not supported")


def _open_buckets(path: str | os.PathLike) -> tuple[_Reader, int]:
    """A reader positioned on the first bucket, and the number of buckets."""
    with gzip.open(path, "rb") as f:
        reader = _Reader(f.read())
    n = reader.array_header()
    header = reader.value() if n else None
    if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
        raise ValueError(f"{os.fspath(path)}: not a wordfreq cBpack list (header {header!r})")
    return reader, n - 1


def read_cbpack(path: str | os.PathLike) -> list[list[str]]:
    """All buckets of a list, as wordfreq's ``read_cBpack``: element i holds the words of
    frequency 10 ** (-i / 100), alphabetically."""
    reader, buckets = _open_buckets(path)
    return [[reader.str() for _ in range(reader.array_header())] for _ in range(buckets)]


def wordfreq_words(path: str | os.PathLike, limit: int | None = None,
                   min_frequency: float = 0.0) -> list[tuple[str, float]]:
    """(word, frequency) in the file's order, most frequent first (alphabetical within a
    bucket), stopping after `limit` words or at the first word below `min_frequency`.
    Nothing is filtered: number shapes and punctuation come out as stored."""
    out: list[tuple[str, float]] = []
    if limit is not None and limit <= 0:
        return out
    reader, buckets = _open_buckets(path)
    for i in range(buckets):
        freq = 10 ** (-i / 100)  # wordfreq.cB_to_freq(-i), bit for bit
        if freq < min_frequency:
            break
        for _ in range(reader.array_header()):
            out.append((reader.str(), freq))
            if limit is not None and len(out) >= limit:
                return out
    return out


def wordfreq_languages(data_dir: str | os.PathLike) -> dict[str, str]:
    """wordfreq's language code (as in its file names: "en", "zh", "fil", "sh") -> path of
    the language's best list in `data_dir` (``large_`` if there is one, else ``small_``),
    sorted by code. `data_dir` is wordfreq's ``data`` folder (or any folder of such files)."""
    best: dict[str, tuple[str, str]] = {}
    for name in sorted(os.listdir(data_dir)):
        match = _LIST_FILE.fullmatch(name)
        if match:
            size, code = match.groups()
            if code not in best or size == "large":
                best[code] = (size, os.path.join(data_dir, name))
    return {code: best[code][1] for code in sorted(best)}


def metadata_codes(code: str) -> tuple[str, ...]:
    """The metadata language codes a wordfreq list is written under (usually just `code`)."""
    return _METADATA_CODES.get(code, (code,))


def is_dropped(word: str) -> bool:
    """Not a metadata entry: empty, one punctuation character (ALGORITHM.md §3, the rule of
    scripts/build_default_metadata.py), nothing visible (only combining marks, format
    characters such as ZWNJ, or separators: Unicode M*, C*, Z*), or a number shape."""
    if len(word) == 1:
        category = unicodedata.category(word)
        return category[0] in "PMCZ" or word in string.punctuation
    if not word or (unicodedata.category(word[0])[0] in "MCZ"
                    and all(unicodedata.category(c)[0] in "MCZ" for c in word)):
        return True
    return is_number_shape(word)


# Hiragana, Katakana (with the prolonged sound mark), Katakana phonetic extensions and
# halfwidth Katakana.
_KANA = ((0x3041, 0x30FF), (0x31F0, 0x31FF), (0xFF65, 0xFF9F))


def is_single_kana(word: str) -> bool:
    """One kana character: a syllable, not a word. Japanese words of one kana are
    particles and auxiliaries (の に て は が を); with keys unpadded next to kana
    (ALGORITHM.md §6) such an entry matches that syllable inside any word, so nearly every
    Japanese text, and names no concept. Single kanji stay (猫 cat, 山 mountain)."""
    return len(word) == 1 and any(low <= ord(word) <= high for low, high in _KANA)


def capitalised(word: str, code: str) -> str:
    """The word with its first letter in title case ('haus' -> 'Haus'; Turkish 'istanbul'
    -> 'İstanbul'); the word itself when its first character has no case. wordfreq stores
    words case-folded and matching is case-sensitive, so without this form a German noun
    or a caption's first word could never match."""
    first = word[:1]
    if code == "tr" and first == "i":   # Turkish dotted capital I
        return "İ" + word[1:]
    title = first.title()
    # (a first letter whose title case is two letters, 'ß' -> 'Ss', is left alone)
    return title + word[1:] if len(title) == 1 else word


def _unfold_final_sigma(word: str) -> str:
    # wordfreq case-folds Greek, which turns a final ς into σ ('λέξις' -> 'λέξισ'); real
    # text ends words with ς, and matching is case- and form-sensitive.
    # Only after a letter or a combining mark ('τῆσ' may be decomposed); 'δ.σ' keeps σ.
    if len(word) > 1 and word[-1] == "σ" and unicodedata.category(word[-2])[0] in "LM":
        return word[:-1] + "ς"
    return word


def worldwide_entries(path: str | os.PathLike, code: str, min_frequency: float = MIN_FREQUENCY,
                      max_words: int = MAX_WORDS) -> list[str]:
    """One language's metadata list from its wordfreq list: the words of frequency >=
    `min_frequency`, most frequent first, without :func:`is_dropped` words and single kana
    (:func:`is_single_kana`), cut to at most `max_words` at a bucket boundary (a bucket is
    alphabetical, so cutting inside one would keep a-words and drop z-words of the same
    frequency); each word followed by its :func:`capitalised` form where that differs; then
    "0" ... "99"; each string once (at its first place). Greek (`el`) gets its final sigmas
    back."""
    words: list[str] = []
    bucket: list[str] = []
    bucket_freq = None
    for word, freq in wordfreq_words(path, min_frequency=min_frequency):
        if freq != bucket_freq:
            if len(words) + len(bucket) > max_words:
                bucket = []
                break
            words += bucket
            bucket, bucket_freq = [], freq
        if not is_dropped(word) and not is_single_kana(word):
            bucket.append(_unfold_final_sigma(word) if code == "el" else word)
    if len(words) + len(bucket) <= max_words:
        words += bucket
    cased = [form for word in words for form in (word, capitalised(word, code))]
    return list(dict.fromkeys(cased + [str(i) for i in range(100)]))
