"""The training studio in a real headless Chromium: a run started from the page is watched live, stopped,
resumed; a page that opens mid-run gets the history; two runs compare side by side; the architecture and the
form's refusals. Every wait is for an event the page shows, never for a length of time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import ganforge
from browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from ganforge.checkpoint import Checkpoint
from ganforge.images import grid_image
from ganforge.web.catalog import Catalog
from ganforge.web.studio import StudioOptions

sync_api = require_chromium()
POINTS = "sel => Number((document.querySelector(sel) || {dataset: {}}).dataset.points || 0)"
GRID_STEP = "() => Number(document.querySelector('#live-grid').dataset.step ?? -1)"
READ_PIXELS = """img => { const c = document.createElement('canvas'); c.width = img.naturalWidth;
  c.height = img.naturalHeight; const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  return {w: c.width, h: c.height, data: Array.from(ctx.getImageData(0, 0, c.width, c.height).data)}; }"""


def train_into(root: Path, name: str, seed: int) -> Path:
    out = root / name
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ganforge.Trainer(ganforge.TrainConfig(preset="dcgan-28-fast", dataset="mnist-sample", steps=6, batch_size=8,
                                              seed=seed, log_every=1, grid_every=3, extra={"width": 8}, out=str(out),
                                              progress=False), log=lambda _: None).train()
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def studio(tmp_path_factory, make_live_server):
    """A server with a runs root holding two finished runs, and room to start one more."""
    root = tmp_path_factory.mktemp("studio") / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANFORGE_OFFLINE", "1")
        mp.setenv("GANFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("OMP_NUM_THREADS", "1")
        train_into(root, "alpha", 1)
        train_into(root, "beta", 2)
        options = StudioOptions(runs_root=root, poll_s=0.1)
        catalog = Catalog(runs_root=root, scan_root=True, pretrained=["mnist-cond"])
        with make_live_server(catalog, options) as server:
            server.root = root
            yield server


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str, errors: list[str]):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(120_000)  # a generous ceiling for a busy machine; every wait ends on an event
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    return context, page


@pytest.fixture
def page(browser, studio):
    errors: list[str] = []
    context, page = open_page(browser, studio.url, errors)
    yield page
    context.close()
    assert not errors, errors


def test_a_run_started_from_the_page_is_watched_live_stopped_and_resumed(page, browser, studio):
    page.click("#tabs button[data-view=new]")
    page.wait_for_function("() => document.body.dataset.formReady === '1'")
    page.select_option("#new-preset", "dcgan-28-fast")
    page.select_option("#new-dataset", "mnist-sample")
    for field, value in (("steps", "1000000"), ("batch-size", "8"), ("width", "4"), ("log-every", "2"),
                         ("grid-every", "6"), ("name", "live-one")):
        page.fill(f"#new-{field}", value)
    page.click("#new-start")
    page.wait_for_function("() => !document.querySelector('#view-training').hidden && "
                           "document.querySelector('#run-select').value === 'live-one'")
    # the curve grows and the grid changes while the run trains
    page.wait_for_function(f"() => document.body.dataset.liveState === 'training' && ({POINTS})('#chart-loss') >= 4 "
                           f"&& ({GRID_STEP})() >= 0")
    points, grid_step = page.evaluate(POINTS, "#chart-loss"), page.evaluate(GRID_STEP)
    page.wait_for_function(f"([p, g]) => document.body.dataset.liveState === 'training' && "
                           f"({POINTS})('#chart-loss') > p && ({GRID_STEP})() > g", arg=[points, grid_step])
    assert page.eval_on_selector_all("#chart-loss path.series", "ps => ps.map(p => p.dataset.label)") == ["G", "D"]
    assert page.evaluate("() => document.querySelector('#live-grid').naturalWidth") > 0

    # a page that opens mid-run gets the history at once, then the live events
    errors: list[str] = []
    context, late = open_page(browser, studio.url, errors)
    late.select_option("#run-select", "live-one")
    late.click("#tabs button[data-view=training]")
    late.wait_for_function(f"p => ({POINTS})('#chart-loss') >= p", arg=points)
    seen = late.evaluate(POINTS, "#chart-loss")
    late.wait_for_function(f"p => ({POINTS})('#chart-loss') > p", arg=seen)
    context.close()
    assert not errors, errors

    page.click("#stop-run")
    page.wait_for_function("() => document.body.dataset.liveState === 'stopped'")
    ckpt = studio.root / "live-one" / "checkpoints" / "last.safetensors"
    at = int(Checkpoint(ckpt).meta["step"])
    assert at >= 6
    assert not page.is_disabled("#resume-run") and page.is_disabled("#stop-run")

    page.fill("#resume-steps", str(at))  # not past its checkpoint: refused, and the page says why
    page.click("#resume-run")
    page.wait_for_function("() => document.querySelector('#live-message').className === 'error' && "
                           "document.querySelector('#live-message').textContent.includes(\"'steps'\")")
    page.fill("#resume-steps", str(at + 10))
    page.click("#resume-run")
    page.wait_for_function("s => document.body.dataset.liveState === 'finished' && "
                           "Number(document.body.dataset.liveStep) === s", arg=at + 10)
    steps = [json.loads(x)["step"] for x in (studio.root / "live-one" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == at + 10
    assert page.evaluate(POINTS, "#chart-loss") == 2 * len(steps)  # G and D: every record once, none twice


def test_two_runs_side_by_side(page, studio):
    page.click("#tabs button[data-view=compare]")
    for run_id in ("alpha", "beta"):
        page.check(f"#compare-runs input[value={run_id}]")
    page.click("#compare-go")
    page.wait_for_function("() => document.body.dataset.compared === 'alpha,beta'")
    labels = page.eval_on_selector_all("#compare-charts .chart[data-key=loss_g] path.series",
                                       "ps => ps.map(p => p.dataset.label)")
    assert labels == ["alpha", "beta"]
    rows = page.eval_on_selector_all("#compare-table tr", "rs => rs.map(r => r.textContent)")
    assert len(rows) == 3 and "alpha" in rows[1] and "beta" in rows[2]
    page.wait_for_function("() => Array.from(document.querySelectorAll('#compare-samples img'))"
                           ".filter(i => i.complete && i.naturalWidth > 0).length === 2")
    for run_id in ("alpha", "beta"):
        got = page.eval_on_selector(f"#compare-samples img[data-run={run_id}]", READ_PIXELS)
        shown = np.array(got["data"], dtype=np.uint8).reshape(got["h"], got["w"], 4)[..., 0]
        want = np.asarray(grid_image(ganforge.load_run(studio.root / run_id, device="cpu").generate(16, seed=0), 4))
        assert np.array_equal(shown, want)  # the same seed's images from each run
    page.select_option("#compare-x", "time")
    page.wait_for_function("() => document.querySelector('#compare-charts .chart svg').textContent.includes('time')")


def test_the_architecture_tab_shows_the_config(page):
    page.select_option("#run-select", "alpha")
    page.click("#tabs button[data-view=arch]")
    page.wait_for_function("() => document.body.dataset.arch === 'alpha'")
    config = page.eval_on_selector_all("#arch-config tr", "rs => rs.map(r => r.textContent)")
    assert any(r.startswith("preset") and "dcgan-28-fast" in r for r in config)
    heads = page.eval_on_selector_all("#arch-tables h2", "hs => hs.map(h => h.textContent)")
    assert heads == ["Generator", "Discriminator"]
    first = page.eval_on_selector_all("#arch-tables table.layers", "ts => ts.map(t => t.rows.length)")
    assert len(first) == 2 and min(first) > 2  # a header and the layers of each network


def test_the_form_shows_the_servers_reason_for_a_refusal(page):
    page.click("#tabs button[data-view=new]")
    page.wait_for_function("() => document.body.dataset.formReady === '1'")
    page.fill("#new-steps", "0")
    page.click("#new-start")
    page.wait_for_function("() => document.querySelector('#new-run-error').textContent.includes(\"'steps'\")")
    page.fill("#new-steps", "10")
    page.fill("#new-lr-g", "fast")
    page.click("#new-start")
    page.wait_for_function("() => document.querySelector('#new-run-error').textContent.includes(\"'lr_g'\")")


def test_evaluations_and_the_grid_slider_on_the_training_tab(page, studio):
    folder = studio.root / "gamma"
    if not folder.exists():  # alpha's run, as if it had been evaluated along the way
        shutil.copytree(studio.root / "alpha", folder)
        with open(folder / "log.jsonl", "a") as f:
            for step, fid in ((3, 250.0), (6, 180.5)):
                record = {"step": step, "time": 0.1 * step, "metric": "domain-fid", "domain_fid": fid}
                f.write(json.dumps(record) + "\n")
        (folder / "final_grid.png").touch()  # written last, as the trainer does: the run has finished
    page.click("#refresh-runs")
    page.wait_for_function("() => Array.from(document.querySelectorAll('#run-select option')).some(o => o.value === "
                           "'gamma')")
    page.select_option("#run-select", "gamma")
    page.click("#tabs button[data-view=training]")
    page.wait_for_function(f"() => ({POINTS})('#chart-eval-domain_fid') === 2")
    assert "domain-fid: domain_fid" in page.text_content("#chart-eval-domain_fid")
    assert "finished" == page.text_content("#live-state")
    page.wait_for_function(f"() => ({GRID_STEP})() === 6")  # the newest grid; the slider goes back in time
    page.fill("#grid-scrub", "0")
    page.wait_for_function(f"() => ({GRID_STEP})() === 0")
    stats = page.text_content("#live-stats")
    assert "domain-fid: domain_fid" in stats and "180.5" in stats


def test_a_shipped_generator_draws_the_picked_class(page):
    page.select_option("#run-select", "pretrained:mnist-cond")
    page.wait_for_function("() => !document.querySelector('#class-label').hidden")
    page.fill("#seed", "5")
    page.select_option("#count", "9")
    page.select_option("#class-select", "7")
    page.click("#draw")
    page.wait_for_function("() => document.querySelector('#grid img').src.includes('class=7') && "
                           "document.body.dataset.busy === '0' && Array.from(document.querySelectorAll('#grid img'))"
                           ".every(i => i.complete && i.naturalWidth > 0) && "
                           "document.querySelectorAll('#grid img').length === 9")
    sevens = ganforge.load_run("pretrained:mnist-cond", device="cpu").generate(9, seed=5, labels=torch.full((9,), 7))
    for i in range(9):
        got = page.eval_on_selector(f"#grid .tile:nth-child({i + 1}) img", READ_PIXELS)
        assert np.array_equal(np.array(got["data"], dtype=np.uint8).reshape(28, 28, 4)[..., 0], sevens[i, 0].numpy())
    assert "ships with ganforge" in page.text_content("#run-info")
    page.click("#tabs button[data-view=training]")
    page.wait_for_function("() => document.querySelector('#live-message').textContent.includes('training log')")
