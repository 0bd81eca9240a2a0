"""Every curated row can be downloaded by img2dataset and loaded by Hugging Face datasets,
as their users run them: pages whose images have names with spaces and non-ASCII
characters, served over HTTP on loopback, go through `curate run`; img2dataset (in its own
virtualenv, .venv-clients) fetches every curated `url` and gets the image's bytes, and
`load_dataset("parquet", data_dir=curated)` reads exactly the curated rows."""
from __future__ import annotations

import io
import json
import os
import subprocess

import pandas as pd
from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from cli_helpers import assert_verified, run_cli
from curate import schemas
from curate.core.extract.text import image_uuid

# (name as written in the page, alt text): English alts that match the shipped list.
IMAGES = [("my photo 0.jpg", "a photo of a cat on a sofa"),
          ("café.jpg", "a dog running on the beach at sunset"),
          ("日本 map.png", "an old map of the city and the river"),
          ("a+b%20c.jpg", "a bird on a branch in the garden"),
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


def serve_images(data_server, tmp_path) -> dict[str, bytes]:
    """Real images (img2dataset decodes what it gets) under the names the page uses; the
    server answers the percent-decoded path, as a web server on a file system does."""
    served = {}
    for k, (name, alt) in enumerate(IMAGES):
        image = tmp_path / f"image{k}.bin"
        Image.new("RGB", (8 + k, 8), (40 * k, 90, 200)).save(
            image, format="PNG" if name.endswith(".png") else "JPEG")
        data_server.aliases[f"/site/img/{name}"] = image
        served[alt] = image.read_bytes()
    return served


def img2dataset(clients, curated, out) -> None:
    subprocess.run(
        [str(clients / "img2dataset"), f"--url_list={curated}", "--input_format=parquet",
         "--url_col=url", "--caption_col=text", "--output_format=files",
         f"--output_folder={out}", "--processes_count=1", "--thread_count=2",
         "--resize_mode=no", "--disable_all_reencoding=True", "--enable_wandb=False",
         "--retries=0", "--timeout=30"],
        check=True, capture_output=True, timeout=300,
        env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "NO_PROXY": "127.0.0.1"})


def test_img2dataset_downloads_every_curated_row(spark, data_server, clients, tmp_path):
    served = serve_images(data_server, tmp_path)
    warc = tmp_path / "page.warc.gz"
    write_page(warc, f"{data_server.url}/site/page.html")
    assert run_cli("run", str(warc), "-o", str(tmp_path / "work")) == 0
    assert_verified(tmp_path / "work")
    curated = tmp_path / "work" / "curated"
    rows = pd.read_parquet(curated)
    assert sorted(rows.text) == sorted(alt for _name, alt in IMAGES)
    for name, alt in IMAGES:   # the id is the written URL's (ALGORITHM.md §1)
        (uuid,) = rows.image_uuid[rows.text == alt]
        assert uuid == image_uuid(f"{data_server.url}/site/img/{name}")

    img2dataset(clients, curated, tmp_path / "images")
    stats = [json.loads(p.read_text()) for p in (tmp_path / "images").glob("*_stats.json")]
    assert sum(s["count"] for s in stats) == len(IMAGES)
    assert sum(s["successes"] for s in stats) == len(IMAGES), stats
    got = {}
    for caption in (tmp_path / "images").glob("*/*.txt"):
        got[caption.read_text()] = next(p for p in caption.parent.glob(caption.stem + ".*")
                                        if p.suffix in (".jpg", ".png")).read_bytes()
    assert got == served


def test_datasets_loads_the_curated_directory(spark, clients, tmp_path):
    work = tmp_path / "work"
    assert run_cli("run", "-o", str(work)) == 0   # the bundled sample
    assert_verified(work)
    want = pd.read_parquet(work / "curated")
    script = ("import datasets, json, sys\n"
              "d = datasets.load_dataset('parquet', data_dir=sys.argv[1], split='train')\n"
              "print(json.dumps([len(d), d.column_names, sorted(d['image_uuid'])]))\n")
    result = subprocess.run(
        [str(clients / "python"), "-c", script, str(work / "curated")], check=True,
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
             "HF_HOME": str(tmp_path / "hf")})
    n, columns, uuids = json.loads(result.stdout.splitlines()[-1])
    assert n == len(want) > 0 and columns == schemas.CURATED.names
    assert uuids == sorted(want.image_uuid)
