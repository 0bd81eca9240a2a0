"""The C walk of WAT records (curate/core/extract/_watlinks.c) against the Python walks.

`_watlinks.page(payload)` must give what `_Tree.raw_page` gives on the same document, by
simdjson's objects and by the stdlib's: on every record of the real WATs, on documents
laid out every way JSON allows (key orders, repeated keys, whitespace, escapes, values of
every type where objects are expected) and on random ones. Where it hands a document back
(NotImplemented), wat_page must still give the Python route's answer.
"""
from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest
import simdjson
from warcio.archiveiterator import ArchiveIterator

from curate.core.extract import _watlinks, wat

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "commoncrawl"
REAL_WATS = ["CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc.wat",
             "CC-MAIN-2024-22-whirlwind.warc.wat.gz"]
BENCH = Path(__file__).resolve().parents[2] / "bench"
PARSER = simdjson.Parser()


def by_simdjson(payload: bytes):
    doc = PARSER.parse(payload)
    try:
        return wat._SIMDJSON.raw_page(doc)
    finally:
        del doc


def by_stdlib(payload: bytes):
    return wat._STDLIB.raw_page(wat.loads(payload))


def walked(payload: bytes):
    """The C walk's answer, checked against both Python walks."""
    found = _watlinks.page(payload)
    assert found is NotImplemented or found == by_simdjson(payload) == by_stdlib(payload)
    return found


def wat_payloads(path: Path):
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "metadata":
                yield record.content_stream().read()


def bench_wat(tmp_path: Path) -> Path:
    """bench/extract.py's WAT of the 181 real news pages (their real links, as CommonCrawl's
    writer lays them out), one record each: the real WATs here hold one HTML page between them."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_extract", BENCH / "extract.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        path = tmp_path / "pages.warc.wat.gz"
        module.build_wat(path, 3 * 181)
        return path
    finally:
        sys.path.remove(str(BENCH))


def test_real_pages_give_the_python_walks_answer(tmp_path):
    files = [DATA / name for name in REAL_WATS] + [bench_wat(tmp_path)]
    answers = [walked(payload) for path in files for payload in wat_payloads(path)]
    assert NotImplemented not in answers   # CommonCrawl's writer: nothing to hand back
    pages = [found for found in answers if found is not None]
    assert len(pages) == 1 + 181
    # the 2014 WAT's page has 4 image links; the builder writes 3,333 for the 181 pages
    assert sum(len(found[2]) for found in pages) == 4 + 3333


def doc(envelope: str, root_extra: str = "") -> bytes:
    return ('{"Container":{"Filename":"x.warc.gz"},"Envelope":' + envelope + root_extra
            + '}').encode()


HEADERS = '"WARC-Header-Metadata":{"WARC-Type":"response","WARC-Target-URI":"http://h.org/p"}'


def meta(inner: str) -> str:
    return '"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":' + inner + '}}'


LINKS = ('[{"path":"A@/href","url":"a.html","text":"x"},'
         '{"path":"IMG@/src","url":"a.jpg","alt":"A","title":"T"},'
         '{"path":"IMG@/src","url":"b.jpg"}]')
IMG_LINKS = [("a.jpg", "A", "T"), ("b.jpg", None, None)]


@pytest.mark.parametrize("payload, expected", [
    # the usual order, and every other order of the members the walk looks for
    (doc("{" + HEADERS + "," + meta('{"Head":{"Base":"/b/"},"Links":' + LINKS + '}') + "}"),
     ("http://h.org/p", "/b/", IMG_LINKS)),
    (doc("{" + meta('{"Links":' + LINKS + ',"Head":{"Base":"/b/"}}') + "," + HEADERS + "}"),
     ("http://h.org/p", "/b/", IMG_LINKS)),
    # no Head, no Base, no Links, no target, no headers
    (doc("{" + HEADERS + "," + meta('{"Links":' + LINKS + '}') + "}"),
     ("http://h.org/p", None, IMG_LINKS)),
    (doc("{" + HEADERS + "," + meta('{"Head":{"Title":"t"}}') + "}"), ("http://h.org/p", None, [])),
    (doc("{" + meta('{"Links":[]}') + "}"), (None, None, [])),
    (doc('{"WARC-Header-Metadata":{"WARC-Type":"response"},' + meta("{}") + "}"),
     (None, None, [])),
    # the first of a repeated member wins, at every level
    (doc("{" + HEADERS + ',"WARC-Header-Metadata":{"WARC-Target-URI":"http://second/"},'
         + meta('{"Links":' + LINKS + ',"Links":[{"path":"IMG@/src","url":"no.jpg"}],'
                '"Head":{"Base":"/1/","Base":"/2/"},"Head":{"Base":"/3/"}}') + "}"),
     ("http://h.org/p", "/1/", IMG_LINKS)),
    (doc("{" + HEADERS + "," + meta('{"Links":' + LINKS + '}') + "}",
         ',"Envelope":{' + meta('{"Links":[]}') + '}'), ("http://h.org/p", None, IMG_LINKS)),
    (doc('{"Payload-Metadata":{},' + meta('{"Links":' + LINKS + '}') + "}"), None),
    (doc('{"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":1,"HTML-Metadata":{}}}}'),
     None),
    # a level that is not an object
    (doc("[]"), None),
    (doc('{"Payload-Metadata":["HTTP-Response-Metadata"]}'), None),
    (doc('{"Payload-Metadata":{"HTTP-Response-Metadata":"x"}}'), None),
    (doc("{" + meta("null") + "}"), None),
    (b'["Envelope"]', None),
    (b'"Envelope"', None),
    (b"{}", None),
    (doc('{"WARC-Header-Metadata":[1],' + meta('{"Head":[],"Links":{}}') + "}"), (None, None, [])),
    (doc('{"WARC-Header-Metadata":{"WARC-Target-URI":7},' + meta('{"Head":{"Base":{}}}') + "}"),
     (None, None, [])),
    # elements and fields that are not what links hold
    (doc("{" + meta('{"Links":[1,"IMG@/src",null,[{"path":"IMG@/src"}],true,-2.5e3,'
                    '{"url":"c.jpg"},{"path":["IMG@/src"],"url":"d.jpg"},'
                    '{"path":"IMG@/src","url":["e.jpg"],"alt":{"a":"b"},"title":false},'
                    '{"path":"IMG@/src","extra":{"url":"no.jpg","nested":[[{}]]},"url":"f.jpg"}]}')
         + "}"),
     (None, None, [(None, None, None), ("f.jpg", None, None)])),
    # escapes in values, an escaped path, strings ending in backslashes, long strings
    (doc("{" + meta('{"Links":[{"path":"IMG@\\/src","url":"\\u0068ttp:\\/\\/x\\/\\u00e9.jpg",'
                    '"alt":"q\\"uote\\\\ back\\\\\\\\","title":"\\ud83d\\ude00 \\n\\t\\r\\b\\f\\u0000"},'
                    '{"path":"IMG@/src","url":"' + "x" * 40 + '\\\\","alt":"' + "é" * 30 + '"}]}')
         + "}"),
     (None, None, [("http://x/é.jpg", 'q"uote\\ back\\\\', "\U0001F600 \n\t\r\b\f\x00"),
                   ("x" * 40 + "\\", "é" * 30, None)])),
    # a UTF-8 byte order mark
    (b"\xef\xbb\xbf" + doc("{" + meta('{"Links":' + LINKS + '}') + "}"), (None, None, IMG_LINKS)),
    # whitespace wherever JSON allows it
    (b' \n{ "Envelope" :\t{ "WARC-Header-Metadata" : { "WARC-Target-URI" : "u" } ,\r\n'
     b' "Payload-Metadata" : { "HTTP-Response-Metadata" : { "HTML-Metadata" : { "Head" : '
     b'{ "Base" : "b" } , "Links" : [ { "path" : "IMG@/src" , "url" : "g.jpg" } , 3 ] } } } } }\n',
     ("u", "b", [("g.jpg", None, None)])),
])
def test_documents_laid_out_every_way(payload, expected):
    assert walked(payload) == expected


@pytest.mark.parametrize("payload", [
    # a key written with an escape may spell any name: handed back
    doc('{"Payload-Metadata":{"HTTP-Response-\\u004detadata":{"HTML-Metadata":{"Links":[]}}}}'),
    doc("{" + meta('{"Links":[{"p\\u0061th":"IMG@/src","url":"a.jpg"}]}') + "}"),
    doc('{"Unrelated\\n":1,' + meta('{"Links":[]}') + "}"),
])
def test_escaped_keys_are_handed_back(payload):
    assert _watlinks.page(payload) is NotImplemented
    assert wat.wat_page(payload) == wat._joined(*by_stdlib(payload))


def test_a_lone_surrogate_is_handed_back():
    # simdjson refuses such a document before the walk; the walk refuses it on its own too
    payload = doc("{" + meta('{"Links":[{"path":"IMG@/src","url":"a.jpg","alt":"\\ud800x"}]}') + "}")
    assert _watlinks.page(payload) is NotImplemented
    payload = doc("{" + meta('{"Links":[{"path":"IMG@/src","url":"a.jpg","alt":"\\udc00"}]}') + "}")
    assert _watlinks.page(payload) is NotImplemented


def test_bytes_that_are_not_json_never_read_past_the_end():
    # The walk trusts simdjson's verdict but checks every step: every prefix of a document
    # (and a few corruptions) is answered without reading past the payload.
    whole = doc("{" + HEADERS + "," + meta('{"Head":{"Base":"/b/"},"Links":' + LINKS + '}') + "}")
    answers = {type(_watlinks.page(whole[:cut])).__name__ for cut in range(len(whole))}
    # (a cut document is handed back: the walk reads every object to its end)
    assert answers <= {"NotImplementedType", "NoneType", "tuple"}
    assert "NotImplementedType" in answers
    for junk in (b'{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":'
                 b'{"Links":[{"path":"IMG@/src","url":"a\\', b'{"Envelope"', b'{"Envelope":',
                 b'{"Envelope" 1}', b'{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata"'
                 b':{"HTML-Metadata":{"Links":[{"path":"IMG@/src"}}}}}}'):
        assert _watlinks.page(junk) is NotImplemented


def test_memoryview_and_bytearray_payloads():
    payload = doc("{" + HEADERS + "," + meta('{"Links":' + LINKS + '}') + "}")
    assert _watlinks.page(bytearray(payload)) == _watlinks.page(memoryview(payload)) == (
        "http://h.org/p", None, IMG_LINKS)
    with pytest.raises(TypeError):
        _watlinks.page("a str")


# --- random documents ----------------------------------------------------------------------

TEXTS = ["", "a", "IMG@/src", "A@/href", "x" * 15, "y" * 16, "z" * 17, 'q"', "b\\", "\\\\",
         "é", "日本語テキスト", "\U0001F600", "tab\tnl\n", "\x00\x1f", "a/b", '"}]', "{[,:"]
NAMES = ["Envelope", "WARC-Header-Metadata", "WARC-Target-URI", "Payload-Metadata",
         "HTTP-Response-Metadata", "HTML-Metadata", "Head", "Base", "Links", "path", "url",
         "alt", "title", "text", "other"]


def random_value(rng: random.Random, depth: int):
    kind = rng.random()
    if depth > 3 or kind < 0.35:
        return rng.choice([rng.choice(TEXTS), rng.randint(-10**6, 10**6), rng.random(), True,
                           False, None])
    if kind < 0.5:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return random_object(rng, depth + 1)


def random_object(rng: random.Random, depth: int) -> list[tuple]:
    """An object as a list of pairs (so that keys may repeat)."""
    return [(rng.choice(NAMES), random_value(rng, depth)) for _ in range(rng.randint(0, 4))]


def random_link(rng: random.Random) -> list[tuple]:
    fields = [("path", rng.choice(["IMG@/src"] * 4 + ["A@/href", 1, None]))]
    fields += [(name, rng.choice(TEXTS + [None, 3, ["u"]])) for name in ("url", "alt", "title")
               if rng.random() < 0.7]
    fields += random_object(rng, 3) if rng.random() < 0.3 else []
    rng.shuffle(fields)
    return fields


def random_page(rng: random.Random) -> list[tuple]:
    def maybe(value):
        return value if rng.random() < 0.9 else random_value(rng, 2)
    links = [random_link(rng) if rng.random() < 0.8 else random_value(rng, 3)
             for _ in range(rng.randint(0, 8))]
    html_meta = [("Head", maybe([("Base", maybe(rng.choice(TEXTS)))] + random_object(rng, 3))),
                 ("Links", maybe(links))] + random_object(rng, 3)
    rng.shuffle(html_meta)
    payload_meta = [("HTTP-Response-Metadata", maybe([("HTML-Metadata", maybe(html_meta))]
                                                     + random_object(rng, 2)))]
    envelope = [("WARC-Header-Metadata", maybe([("WARC-Target-URI", maybe(rng.choice(TEXTS)))])),
                ("Payload-Metadata", maybe(payload_meta))] + random_object(rng, 1)
    rng.shuffle(envelope)
    root = [("Container", {}), ("Envelope", maybe(envelope))]
    if rng.random() < 0.2:   # a repeated member somewhere up the path
        root.append(("Envelope", random_value(rng, 1)))
    return root


def dumps(value, rng: random.Random, ascii_only: bool, indent) -> str:
    """JSON of value, objects given as lists of pairs (keys may repeat)."""
    def enc(v, level):
        pad = "" if indent is None else "\n" + " " * (indent * level)
        inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
        if isinstance(v, list) and v and all(isinstance(p, tuple) for p in v):
            body = ("," + inner).join(json.dumps(k, ensure_ascii=ascii_only) + rng.choice(
                [":", " : ", ":\t"]) + enc(item, level + 1) for k, item in v)
            return "{" + inner + body + pad + "}"
        if isinstance(v, list):
            return "[" + inner + ("," + inner).join(enc(item, level + 1) for item in v) + pad + "]"
        if isinstance(v, dict):
            return "{}"
        return json.dumps(v, ensure_ascii=ascii_only)
    return enc(value, 0)


def test_random_documents_give_the_python_walks_answer():
    rng = random.Random(20261206)
    answered = handed_back = 0
    for _ in range(3000):
        text = dumps(random_page(rng), rng, ascii_only=rng.random() < 0.5,
                     indent=rng.choice([None, None, 1, 2]))
        payload = text.encode("utf-8")
        if walked(payload) is NotImplemented:
            handed_back += 1
        else:
            answered += 1
    # keys are plain ASCII names here, and strings hold no lone surrogates: all answered
    assert (answered, handed_back) == (3000, 0)


def test_wat_page_takes_the_c_walk_and_falls_back(monkeypatch):
    payload = doc("{" + HEADERS + "," + meta('{"Head":{"Base":"/b/"},"Links":' + LINKS + '}') + "}")
    calls = []

    def spy(data):
        calls.append(data)
        return _watlinks.page(data)

    monkeypatch.setattr(wat, "_walk_page", spy)
    assert wat.wat_page(payload) == ("http://h.org/p", "http://h.org/b/", IMG_LINKS)
    assert calls == [payload]
    monkeypatch.setattr(wat, "_walk_page", lambda data: NotImplemented)
    assert wat.wat_page(payload) == ("http://h.org/p", "http://h.org/b/", IMG_LINKS)
    # a document simdjson refuses never reaches the walk
    calls.clear()
    monkeypatch.setattr(wat, "_walk_page", spy)
    assert wat.wat_page(payload[:-1] + b',"x":NaN}') == ("http://h.org/p", "http://h.org/b/",
                                                         IMG_LINKS)
    assert calls == []

