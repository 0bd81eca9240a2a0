"""Substring matching of texts against metadata (ALGORITHM.md §3, §6), pure Python.

`Matcher` holds one Aho-Corasick automaton over the keys of one language's entries, v1
(English: every key padded by spaces) or v2 (worldwide: no padding next to a character
of a language written without spaces, or punctuation). `match_batches` is the stage's
core: each text gets its language (identified, or assumed), the distinct texts of a
batch are matched once each with their language's matcher, and the rows without a match
leave, counted by language and reason. v1 keys are matched by `BatchMatcher`, all the
distinct texts of a language in one call (`match_many`); v2 keys text by text. On Spark,
`worker_matcher` builds a language's matcher once per Python worker, on first use, and
reuses it across batches and tasks.
"""
from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Iterable, Iterator, Sequence

import ahocorasick
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate import schemas
from curate.core.metadata import MetadataSet

WRAPPED_PUNCTUATION = (",", ".", ";", ":", "?", "!", "`")
SPACED_CHARACTERS = ("\t", "\n", "\r")
_SPACED = re.compile("[" + re.escape("".join(WRAPPED_PUNCTUATION + SPACED_CHARACTERS)) + "]")
# v2-reference: v2 keys by the rule of MetaCLIP's published code (see reference_unspaced).
KEY_VERSIONS = ("v1", "v2", "v2-reference")
ALL_LANGUAGES = "all"
OTHER = "other"   # the language of a text whose identified language has no metadata

# Scripts written without spaces between words (ALGORITHM.md §6: bo, dz, ja, km, lo, my,
# ryu, th, zh): Tibetan (bo, dz), Thai, Lao, Myanmar, Khmer, Han, kana and Bopomofo.
_UNSPACED_RANGES = (
    (0x0E00, 0x0E7F),    # Thai
    (0x0E80, 0x0EFF),    # Lao
    (0x0F00, 0x0FFF),    # Tibetan
    (0x1000, 0x109F),    # Myanmar
    (0x1780, 0x17FF),    # Khmer
    (0x19E0, 0x19FF),    # Khmer symbols
    (0x2E80, 0x2FDF),    # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),    # CJK symbols and punctuation
    (0x3040, 0x30FF),    # Hiragana, Katakana
    (0x3100, 0x312F),    # Bopomofo
    (0x31A0, 0x31FF),    # Bopomofo extended, CJK strokes, Katakana phonetic extensions
    (0x3400, 0x4DBF),    # CJK extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xA9E0, 0xA9FF),    # Myanmar extended-B
    (0xAA60, 0xAA7F),    # Myanmar extended-A
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0xFF65, 0xFF9F),    # halfwidth Katakana
    (0x1AFF0, 0x1AFFF),  # Kana extended-B
    (0x1B000, 0x1B16F),  # Kana supplement, extended-A, small Kana extension
    (0x20000, 0x323AF),  # CJK extensions B-H, compatibility supplement
)


def spacing(text: str) -> str:
    """MetaCLIP's normalisation: pad the text, wrap punctuation in spaces, whitespace to space."""
    if _SPACED.search(text) is None:   # one scan instead of ten replaces (half of captions)
        return f" {text} "
    spaced = f" {text} "
    for punct in WRAPPED_PUNCTUATION:
        spaced = spaced.replace(punct, f" {punct} ")
    for char in SPACED_CHARACTERS:
        spaced = spaced.replace(char, " ")
    return spaced


def unspaced(char: str) -> bool:
    """A character next to which a v2 key has no space: of a script written without
    spaces, or punctuation (Unicode category P*)."""
    code = ord(char)
    for low, high in _UNSPACED_RANGES:
        if low <= code <= high:
            return True
    return unicodedata.category(char).startswith("P")


# MetaCLIP's published code (metaclip/curation/substr_matching.py, `is_cjk_or_similar`):
# Han (unified ideographs, extensions A-F, compatibility ideographs, radicals, ideographic
# description characters), Thai, Lao, Myanmar, Khmer and Tibetan; no kana, no Bopomofo,
# no Khmer symbols or Myanmar extensions, no CJK extensions G and H.
_REFERENCE_RANGES = (
    (0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x0F00, 0x0FFF), (0x1000, 0x109F),
    (0x1780, 0x17FF), (0x2E80, 0x2EFF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF),
)
# Its punctuation: ASCII `string.punctuation` (symbols such as + < = > | ~ included) and
# these full-width marks; no other Unicode punctuation (« » ¿ ・ … are letters to it).
_REFERENCE_PUNCTUATION = frozenset(string.punctuation + "，。、；：？！“”‘’（）【】《》〈〉「」『』～—")


def reference_unspaced(char: str) -> bool:
    """`unspaced` as MetaCLIP's published code decides it (the `reference` rules)."""
    if char in _REFERENCE_PUNCTUATION:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _REFERENCE_RANGES)


def entry_key(entry: str, version: str = "v1") -> str:
    """The string whose occurrence in spacing(text) makes a match.

    v1: the entry between two spaces, so only whole words match. v2: a leading space only
    when the entry's first character is not `unspaced`, a trailing one likewise, so CJK
    and Thai entries match inside unspaced text and English ones still as whole words.
    v2-reference: the same with `reference_unspaced` (kana entries keep their spaces).
    """
    if version == "v1" or not entry:
        return f" {entry} "
    test = reference_unspaced if version == "v2-reference" else unspaced
    lead = "" if test(entry[0]) else " "
    trail = "" if test(entry[-1]) else " "
    return f"{lead}{entry}{trail}"


class Matcher:
    """One language's automaton: `match(text)` is the sorted ids of the entries whose key
    occurs in spacing(text)."""

    def __init__(self, entries: Sequence[str], key_version: str = "v1"):
        if key_version not in KEY_VERSIONS:
            raise ValueError(f"key_version must be one of {KEY_VERSIONS}, not {key_version!r}")
        self.key_version = key_version
        # keys made one at a time: no list of 500k keys beside the automaton while it builds
        automaton, self._duplicates = _build_automaton(
            entry_key(entry, key_version) for entry in entries)
        self._duplicated = frozenset(self._duplicates)
        self._iter = automaton.iter

    def match(self, text: str) -> list[int]:
        # Each key's value is one entry id, so the set is built in C: no Python step per
        # match (a caption matches about ten keys).
        found = set(map(_VALUE, self._iter(spacing(text))))
        if self._duplicated and not self._duplicated.isdisjoint(found):
            for entry_id in self._duplicated.intersection(found):
                found.update(self._duplicates[entry_id])
        return sorted(found)

    def match_many(self, texts: Sequence[str]) -> pa.ListArray:
        """`match` of each text, as one list<int32> array (BatchMatcher's interface)."""
        return _lists(list(map(self.match, texts)))


_VALUE = itemgetter(1)   # of automaton.iter's (end index, value)


def _build_automaton(keys: Iterable[str | None], in_key_order: bool = False
                     ) -> tuple[ahocorasick.Automaton, dict[int, tuple[int, ...]]]:
    """The automaton over the distinct keys (one per entry, in entry order; None: the
    entry is left out), each valued with its first entry's id, and {first id: the other
    ids} of keys that several (duplicate) entries share: ids are positions, so each
    duplicate keeps its own.
    in_key_order: add the keys sorted (a node's children are scanned in the order they
    were added, so smaller symbols are found sooner); the matches do not change."""
    automaton = ahocorasick.Automaton()
    first, duplicates = _first_ids((i, key) for i, key in enumerate(keys) if key is not None)
    for key in sorted(first) if in_key_order else first:
        automaton.add_word(key, first[key])
    automaton.make_automaton()
    return automaton, duplicates


def _first_ids(keyed: Iterable[tuple[int, str]]
               ) -> tuple[dict[str, int], dict[int, tuple[int, ...]]]:
    """{key: its first entry's id}, {first id: the ids of the other entries of its key}."""
    first: dict[str, int] = {}
    duplicates: dict[int, list[int]] = {}
    for entry_id, key in keyed:
        if key in first:
            duplicates.setdefault(first[key], []).append(entry_id)
        else:
            first[key] = entry_id
    return first, {k: tuple(v) for k, v in duplicates.items()}


@dataclass(frozen=True)
class MatchPlan:
    """What the match stage does with each text (small: it travels to every task).

    languages: the metadata languages matched, or None for all of them (worldwide);
    texts of any other language leave. assume_lang: every text is of this language
    and no identification runs. key_version: "v1", "v2" or "v2-reference" (see entry_key).
    """
    languages: frozenset[str] | None
    assume_lang: str | None
    key_version: str

    def selects(self, lang: str) -> bool:
        return lang != OTHER and (self.languages is None or lang in self.languages)


def text_languages(texts: list[str], plan: MatchPlan, available: frozenset[str]
                   ) -> tuple[list[str], list[str]]:
    """(metadata language or OTHER, identified code) per text."""
    if plan.assume_lang is not None:
        codes = [plan.assume_lang] * len(texts)
        return codes, codes
    from curate.core import lid   # the fastText model loads on first use, once per worker
    codes = lid.identify(texts)
    # a batch holds a few distinct codes: map each once
    language = {code: lid.metadata_language(code, available) for code in set(codes)}
    normal = {code: lid.normalize_code(code) for code in language}
    return [language[code] for code in codes], [normal[code] for code in codes]


def match_batches(batches: Iterator[pa.RecordBatch], metadata: MetadataSet, plan: MatchPlan,
                  counters: Counter) -> Iterator[pa.RecordBatch]:
    """Dedup-schema batches in, matched-schema batches out (with `lang`); rows without a
    match leave. `counters` gets, per row, `matched:<lang>` or a drop reason:
    `no_match:<lang>`, `language_not_selected:<lang>`, `no_metadata:<identified code>`."""
    available = frozenset(metadata.languages)
    for batch in batches:
        # Web texts repeat heavily ("image", "logo"): each distinct text of the batch is
        # identified and matched once; Arrow's dictionary encoding (in C++, first occurrence
        # first) gives the distinct texts and each row's slot among them.
        encoded = pc.dictionary_encode(batch.column("text"))
        texts, rows = encoded.dictionary.to_pylist(), encoded.indices
        langs, codes = text_languages(texts, plan, available)
        ids, outcomes = _match_distinct(texts, langs, codes, metadata, plan)
        for outcome, n in zip(outcomes, np.bincount(rows.to_numpy(), minlength=len(texts))
                              .tolist()):
            counters[outcome] += n
        row_ids = ids.take(rows)
        keep = pc.greater(pc.list_value_length(row_ids), 0)
        columns = [batch.column(name) for name in schemas.DEDUP.names]
        columns[schemas.DEDUP.names.index("lang")] = pa.array(langs, pa.string()).take(rows)
        columns.append(row_ids)
        matched = pa.RecordBatch.from_arrays(columns, schema=schemas.MATCHED).filter(keep)
        if matched.num_rows:
            yield matched


def _match_distinct(texts: list[str], langs: list[str], codes: list[str],
                    metadata: MetadataSet, plan: MatchPlan) -> tuple[pa.ListArray, list[str]]:
    """(matched ids of each distinct text as one list<int32> array, counter key of each),
    all the texts of a language matched in one `match_many` call of its matcher."""
    outcomes = [""] * len(texts)
    by_lang: dict[str, list[int]] = {}
    for i, lang in enumerate(langs):
        by_lang.setdefault(lang, []).append(i)
    pieces = []
    order = np.empty(len(texts), np.int64)   # each text's position in the pieces joined
    done = 0
    for lang, rows in by_lang.items():
        if plan.selects(lang):
            found = worker_matcher(metadata, lang, plan.key_version).match_many(
                [texts[i] for i in rows])
            hits = np.diff(found.offsets.to_numpy()) > 0
            labels = (f"no_match:{lang}", f"matched:{lang}")   # made once, not per text
            for i, hit in zip(rows, hits.tolist()):
                outcomes[i] = labels[hit]
        else:
            found = _lists([[]] * len(rows))
            for i in rows:
                outcomes[i] = (f"no_metadata:{codes[i]}" if lang == OTHER
                               else f"language_not_selected:{lang}")
        pieces.append(found)
        order[rows] = np.arange(done, done + len(rows))
        done += len(rows)
    if not pieces:
        return _lists([]), outcomes
    joined = pa.concat_arrays(pieces)
    return joined.take(pa.array(order)), outcomes


_WORKER_MATCHERS: dict[tuple[str, str, str], "Matcher | BatchMatcher"] = {}


def worker_matcher(metadata: MetadataSet, lang: str, key_version: str
                   ) -> "Matcher | BatchMatcher":
    """This Python worker's matcher for one language of that metadata, built on first use
    and kept (an automaton of 500k keys takes seconds to build): a BatchMatcher for v1
    keys (the same ids as Matcher's, a batch in one walk, and smaller), a Matcher for v2
    and v2-reference (BatchMatcher only knows v1 keys). Both have `match` and
    `match_many`."""
    key = (metadata.lists[lang].fingerprint, lang, key_version)
    matcher = _WORKER_MATCHERS.get(key)
    if matcher is None:
        entries = metadata.lists[lang].entries
        matcher = _WORKER_MATCHERS[key] = (BatchMatcher(entries) if key_version == "v1"
                                           else Matcher(entries, key_version))
    return matcher


# --- v1 over a whole batch (match_batches' matcher for v1 keys: see worker_matcher) ------

_DIGITS = 128            # symbols per position of a token's code
_UNKNOWN_SYMBOL = 0      # the code of a text token in no entry of two tokens or more
_SEPARATOR_SYMBOL = 1    # between two texts of a batch; token codes use symbols from 2 up
_SEPARATOR_TOKEN = "\x00"
_SEPARATOR_ID = -2       # the separator token's "entry id" in the one-token lookup
_PAD = 0xFFFFFFFF        # no symbol: fills the rows of codes shorter than width


class BatchMatcher:
    """v1 matching of a whole batch of texts at once, the same ids as
    Matcher(entries, "v1").match on every text.

    Why it is exact: spacing(text) is " " + inner + " " and the spaces of inner are exactly
    the boundaries of inner.split(" "), so a v1 key " e " occurs in spacing(text) iff
    e.split(" ") is a run of consecutive tokens of inner.split(" "). One-token entries are
    then a lookup per token. For the others, each token of theirs gets a code of
    `width` symbols, position-tagged (the symbol at position p lies in
    [2 + p * 128, 2 + (p + 1) * 128)), any other token one unknown symbol, so a key's code
    matches only at a token start and over whole tokens; the automaton walks those codes
    instead of every character (the walk, memory-bound in a 500k-key trie, was most of a
    text's time). The batch is joined with a separator token and walked once.

    Each token is looked up once, in one dict giving its number in the vocabulary (every
    token of every entry; 0 for the others); its one-token entry and its code are then
    rows of numpy tables taken for all the tokens at once.
    """

    def __init__(self, entries: Sequence[str]):
        tokens = [entry.split(" ") for entry in entries]
        # tokens of longer entries by how many entries hold them: the common ones share
        # their leading symbols, so the walk's busiest nodes have few children to scan
        counts = Counter(token for parts in tokens if len(parts) > 1 for token in parts)
        self.width = -(-max(1, len(counts).bit_length()) // 7)   # 7 bits a symbol
        codes = {token: self._code(i) for i, (token, _) in enumerate(counts.most_common())}
        keys = [parts[0] if len(parts) == 1 else
                "".join(map(codes.__getitem__, parts)) for parts in tokens]
        single = [i for i, parts in enumerate(tokens) if len(parts) == 1]
        singles, single_duplicates = _first_ids((i, keys[i]) for i in single)
        automaton, self._duplicates = _build_automaton(
            [None if len(parts) == 1 else key for parts, key in zip(tokens, keys)],
            in_key_order=True)
        self._duplicates.update(single_duplicates)
        # an entry holding the separator token could match across texts: then no batching
        self._batchable = _SEPARATOR_TOKEN not in singles and _SEPARATOR_TOKEN not in codes
        if self._batchable:
            codes[_SEPARATOR_TOKEN] = chr(_SEPARATOR_SYMBOL)
            singles[_SEPARATOR_TOKEN] = _SEPARATOR_ID
        self._tables(singles, codes)
        # no entry of two tokens or more: an empty trie, which pyahocorasick cannot walk
        self._iter = automaton.iter if len(automaton) else None

    def _code(self, index: int) -> str:
        return "".join(chr(2 + p * _DIGITS + (index >> (7 * (self.width - 1 - p))) % _DIGITS)
                       for p in range(self.width))

    def _tables(self, singles: dict[str, int], codes: dict[str, str]) -> None:
        """_number: {token: its number, from 1}; per number (0: a token of no entry) its
        one-token entry id (-1: none) in _single_of, its code's symbols in _code_of
        (padded to width with _PAD) and their count in _code_length."""
        vocabulary = list(dict.fromkeys(chain(singles, codes)))
        self._number = {token: n for n, token in enumerate(vocabulary, 1)}
        self._single_of = np.array([-1, *map(singles.get, vocabulary, repeat(-1))], np.int64)
        table = np.full((len(vocabulary) + 1, self.width), _PAD, np.uint32)
        table[:, 0] = _UNKNOWN_SYMBOL   # a token without a code: one unknown symbol
        # every code's symbols scattered into its token's row at once (no step per token)
        lengths = np.fromiter(map(len, codes.values()), np.int64, len(codes))
        rows = np.repeat(np.fromiter(map(self._number.__getitem__, codes), np.int64,
                                     len(codes)), lengths)
        columns = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        table[rows, columns] = np.frombuffer("".join(codes.values()).encode("utf-32-le"), "<u4")
        self._code_of = table
        self._code_length = (table != _PAD).sum(axis=1)

    def match_many(self, texts: Sequence[str]) -> pa.ListArray:
        """Each text's sorted matched ids, as one list<int32> array."""
        joined = f" {_SEPARATOR_TOKEN} ".join(texts)
        if not self._batchable or joined.count(_SEPARATOR_TOKEN) != len(texts) - 1:
            return _lists([self.match(text) for text in texts])
        at, ids, singles = self._find(_spaced_inner(joined).split(" "))
        text = np.searchsorted(np.flatnonzero(singles == _SEPARATOR_ID), at)
        return _list_array(*_sorted_groups(self._with_duplicates(ids, text), len(texts)))

    def match(self, text: str) -> list[int]:
        """One text (the fallback when a batch cannot be joined)."""
        ids = set(self._find(_spaced_inner(text).split(" "))[1].tolist())
        for first in list(ids):
            ids.update(self._duplicates.get(first, ()))
        return sorted(ids)

    def _find(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(token index, entry id) of every match in `tokens` (for an entry of two tokens
        or more, the index of its last token), and each token's one-token entry id: the
        tokens numbered in one pass, their codes joined by numpy, one walk whose outputs
        numpy gathers in C."""
        numbers = np.fromiter(map(self._number.get, tokens, repeat(0)), np.int64, len(tokens))
        singles = self._single_of[numbers]
        at = np.flatnonzero(singles >= 0)
        if self._iter is None:
            return at, singles[at], singles
        symbols = self._code_of[numbers].ravel()
        codes = symbols[symbols != _PAD].tobytes().decode("utf-32-le")
        found = np.fromiter(chain.from_iterable(self._iter(codes)), np.int64).reshape(-1, 2)
        # the token whose code holds a match's last symbol
        ends = np.searchsorted(np.cumsum(self._code_length[numbers]), found[:, 0], "right")
        return np.concatenate([at, ends]), np.concatenate([singles[at], found[:, 1]]), singles

    def _with_duplicates(self, ids: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, ...]:
        """(text, id) of every match, with the other entries of a shared key added."""
        if not self._duplicates:
            return text, ids
        extra = [(t, other) for t, first in zip(text.tolist(), ids.tolist())
                 for other in self._duplicates.get(first, ())]
        if not extra:
            return text, ids
        more = np.array(extra, np.int64)
        return np.concatenate([text, more[:, 0]]), np.concatenate([ids, more[:, 1]])


def _spaced_inner(text: str) -> str:
    """spacing(text) without its two padding spaces."""
    return spacing(text)[1:-1]


def _sorted_groups(pairs: tuple[np.ndarray, np.ndarray], count: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of `count` texts from (text, id) pairs: ids sorted, each once."""
    text, ids = pairs
    keys = np.sort((text << 32) | ids)
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    offsets = np.searchsorted(keys >> 32, np.arange(count + 1)).astype(np.int32)
    return offsets, (keys & 0xFFFFFFFF).astype(np.int32)


def _lists(lists: list[list[int]]) -> pa.ListArray:
    """Python id lists as one list<int32> array."""
    offsets = np.zeros(len(lists) + 1, np.int32)
    np.cumsum(np.fromiter(map(len, lists), np.int32, len(lists)), out=offsets[1:])
    return _list_array(offsets, np.fromiter(chain.from_iterable(lists), np.int32,
                                            int(offsets[-1])))


def _list_array(offsets: np.ndarray, values: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(offsets, values,
                                    type=schemas.MATCHED.field("matched_entry_ids").type)
