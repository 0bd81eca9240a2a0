"""Every curated URL can be fetched by a downloader's HTTP client: pages whose images have
names with spaces and non-ASCII characters, served over HTTP on loopback, go through
`curate run`, and each curated row's `url` is requested with urllib (the client
img2dataset uses) and answered with the image's bytes."""
from __future__ import annotations

import io
import urllib.request

import pandas as pd
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from cli_helpers import run_cli
from curate.core.extract.text import image_uuid

# (name as written in the page, alt text): English alts that match the shipped list.
IMAGES = [("my photo 0.jpg", "a photo of a cat on a sofa"),
          ("café.jpg", "a dog running on the beach at sunset"),
          ("日本 map.png", "an old map of the city and the river"),
          ("plain.jpg", "a red car parked in the street")]


def write_page(path, page_url: str) -> None:
    body = "".join(f'<p><img src="img/{name}" alt="{alt}"></p>' for name, alt in IMAGES)
    html = f"<html><head><title>t</title></head><body>{body}</body></html>".encode("utf-8")
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                               protocol="HTTP/1.1")
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warc_record(page_url, "response",
                                                      payload=io.BytesIO(html),
                                                      http_headers=headers))


def test_every_curated_url_downloads(spark, data_server, tmp_path):
    served = {}
    for k, (name, _alt) in enumerate(IMAGES):
        image = tmp_path / f"image{k}.bin"
        image.write_bytes(f"image {k} bytes".encode())
        data_server.aliases[f"/site/img/{name}"] = image
        served[name] = image.read_bytes()
    page_url = f"{data_server.url}/site/page.html"
    warc = tmp_path / "page.warc.gz"
    write_page(warc, page_url)
    assert run_cli("run", str(warc), "-o", str(tmp_path / "work")) == 0
    curated = pd.read_parquet(tmp_path / "work" / "curated")
    assert len(curated) == len(IMAGES)
    by_text = dict(zip(curated.text, zip(curated.url, curated.image_uuid)))
    for name, alt in IMAGES:
        url, uuid = by_text[alt]
        assert url.isascii() and " " not in url
        # the id is the written URL's (ALGORITHM.md §1)
        assert uuid == image_uuid(f"{data_server.url}/site/img/{name}")
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200 and response.read() == served[name]
