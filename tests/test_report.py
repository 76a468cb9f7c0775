"""ganforge report: one self-contained HTML file whose every image is an inline data: URI."""

import base64
import io
import json
import shutil
from html.parser import HTMLParser

from PIL import Image

from ganforge.cli import main
from ganforge.presets import summarize_preset
from ganforge.report import evenly_spaced, grid_files, write_report
from ganforge.run.folder import read_config

SECTIONS = {"summary", "config", "architecture", "curves", "metrics", "grids", "animation", "final"}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.imgs, self.external = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id"))
        if tag == "img":
            self.imgs.append(a)
        if tag in ("script", "link", "iframe") or (tag != "img" and ("src" in a or "href" in a)):
            self.external.append(tag)


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _decode(src):
    head, data = src.split(",", 1)
    assert head.startswith("data:image/") and head.endswith(";base64")
    return Image.open(io.BytesIO(base64.b64decode(data, validate=True)))


def test_report_is_self_contained_with_every_section(tiny_run, tmp_path):
    out = write_report(tiny_run, tmp_path / "r.html")
    page = _parse(out)
    assert set(page.sections) == SECTIONS
    assert page.external == []
    images = [_decode(img["src"]) for img in page.imgs]  # every src decodes as an image
    gifs = [im for im in images if im.format == "GIF"]
    assert len(gifs) == 1 and gifs[0].n_frames == len(grid_files(tiny_run)) == 3
    # the curves, 3 grids over time, the GIF, the final grid
    assert [im.format for im in images].count("PNG") == 1 + 3 + 1
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary file


def test_report_shows_training_metrics(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    with open(run / "log.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": 2, "time": 0.5, "metric": "domain-fid", "domain_fid": 321.25}) + "\n")
    html = write_report(run).read_text(encoding="utf-8")  # default place: RUN_DIR/report.html
    metrics = html.split('<section id="metrics">')[1].split("</section>")[0]
    assert "321.25" in metrics and "domain-fid" in metrics


def test_report_shows_the_layers_of_g_and_d(tiny_run, tmp_path):
    page = write_report(tiny_run, tmp_path / "r.html").read_text(encoding="utf-8")
    arch = page.split('<section id="architecture">')[1].split("</section>")[0]
    for s in summarize_preset(read_config(tiny_run)):  # the run's own networks: width 8, not the preset's 32
        assert f"<h3>{s.name}</h3>" in arch
        assert f"<td>{s.rows[0].label}</td><td>{s.rows[0].shape_text}</td><td>{s.rows[0].params:,}</td>" in arch
        for line in s.totals_lines():
            assert f"<li>{line}</li>" in arch
    assert arch.count("<tr>") == sum(len(s.rows) + 1 for s in summarize_preset(read_config(tiny_run)))


def test_report_cli_and_errors(tiny_run, tmp_path, capsys):
    assert main(["report", str(tiny_run), "--out", str(tmp_path / "x.html")]) == 0
    assert str(tmp_path / "x.html") in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2
    assert "not a ganforge run folder" in capsys.readouterr().err


def test_evenly_spaced_keeps_first_and_last():
    assert evenly_spaced(list(range(100)), 5) == [0, 25, 50, 74, 99]
    assert evenly_spaced([1, 2], 5) == [1, 2]
