"""The studio page in a real headless Chromium: each control is clicked, and the pixels the browser
decoded are compared with what the run generates for those settings."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

sync_api = require_chromium()

# Draw every <img> matching the selector onto a canvas and read its pixels back (RGBA, row-major).
READ_PIXELS = """sel => Array.from(document.querySelectorAll(sel)).map(img => {
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  return {w: c.width, h: c.height, data: Array.from(ctx.getImageData(0, 0, c.width, c.height).data)};
})"""
LOADED = """([sel, n]) => document.body.dataset.busy === '0' && document.querySelectorAll(sel).length === n &&
  Array.from(document.querySelectorAll(sel)).every(img => img.complete && img.naturalWidth > 0)"""


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/")
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    yield page
    context.close()
    assert not errors, errors  # no uncaught JavaScript error during the test


def shown(page, selector: str, n: int) -> np.ndarray:
    """The n images under ``selector`` as the browser decoded them: n x H x W x 4 (RGBA)."""
    page.wait_for_function(LOADED, arg=[selector, n])
    out = [np.array(p["data"], dtype=np.uint8).reshape(p["h"], p["w"], 4) for p in page.evaluate(READ_PIXELS, selector)]
    return np.stack(out)


def rgba(images: torch.Tensor) -> np.ndarray:
    """uint8 N x C x H x W from a run -> N x H x W x 4, the way a canvas reads grey or RGB PNGs."""
    arr = images.permute(0, 2, 3, 1).numpy()
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.concatenate([arr, np.full(arr.shape[:-1] + (1,), 255, np.uint8)], axis=-1)


def draw(page, seed: int | str, count: int) -> None:
    page.fill("#seed", str(seed))
    page.select_option("#count", str(count))  # a change of count redraws too; the click is the control under test
    page.click("#draw")


def test_first_view_and_show_button_give_the_runs_images(page, tiny_run):
    assert page.input_value("#run-select") == "tiny"
    assert np.array_equal(shown(page, "#grid img", 16), rgba(tiny_run.generate(16, seed=0)))
    draw(page, 7, 4)
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('seed 7')")
    assert np.array_equal(shown(page, "#grid img", 4), rgba(tiny_run.generate(4, seed=7)))
    assert page.is_hidden("#class-label")  # an unconditional run has no class picker


def test_new_sample_draws_a_new_seed_and_the_seed_brings_images_back(page, tiny_run):
    draw(page, 3, 9)
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('seed 3, 9 images')")
    first = shown(page, "#grid img", 9)
    page.click("#new-sample")
    page.wait_for_function("() => document.querySelector('#seed').value !== '3' && "
                           "document.querySelector('#status').textContent.includes('seed ' + "
                           "document.querySelector('#seed').value)")
    new_seed = int(page.input_value("#seed"))
    new = shown(page, "#grid img", 9)
    assert np.array_equal(new, rgba(tiny_run.generate(9, seed=new_seed))) and not np.array_equal(new, first)
    draw(page, 3, 9)
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('seed 3, 9 images')")
    assert np.array_equal(shown(page, "#grid img", 9), first)


def test_run_picker_and_class_picker(page, cond_run):
    page.select_option("#run-select", "cond")
    page.wait_for_function("() => !document.querySelector('#class-label').hidden")
    options = page.eval_on_selector_all("#class-select option", "os => os.map(o => o.textContent)")
    assert options[1:] == ["0: zero", "1: one", "2: two", "3: three"]
    draw(page, 5, 4)
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('seed 5, 4 images')")
    assert np.array_equal(shown(page, "#grid img", 4), rgba(cond_run.generate(4, seed=5)))  # classes from the seed
    page.select_option("#class-select", "2")
    page.click("#draw")
    want = rgba(cond_run.generate(4, seed=5, labels=torch.full((4,), 2)))
    page.wait_for_function("() => document.querySelector('#grid img').src.includes('class=2')")
    assert np.array_equal(shown(page, "#grid img", 4), want)


def test_a_trained_conditional_run_draws_the_picked_digit(page, digits_cond_run):
    page.select_option("#run-select", "digits")
    page.wait_for_function("() => !document.querySelector('#class-label').hidden")
    draw(page, 2, 4)
    page.select_option("#class-select", "7")
    page.click("#draw")
    page.wait_for_function("() => document.querySelector('#grid img').src.includes('class=7')")
    sevens = digits_cond_run.generate(4, seed=2, labels=torch.full((4,), 7))
    assert np.array_equal(shown(page, "#grid img", 4), rgba(sevens))


def test_interpolation_row_and_animation(page, tiny_run, live_server):
    page.fill("#interp-a", "4")
    page.fill("#interp-b", "8")
    page.fill("#interp-frames", "6")
    page.click("#interp-go")
    frames = shown(page, "#interp-row img", 6)
    assert np.array_equal(frames[0], rgba(tiny_run.generate(1, seed=4))[0])
    assert np.array_equal(frames[-1], rgba(tiny_run.generate(1, seed=8))[0])
    assert len({f.tobytes() for f in frames}) > 2  # the frames in between are new images
    gif = shown(page, "#interp-gif", 1)
    assert gif.shape == (1, 28, 28, 4)
    src = page.get_attribute("#interp-gif", "src")
    assert Image.open(io.BytesIO(httpx.get(live_server.url + src).content)).n_frames == 2 * 6 - 2
    with page.expect_download() as row:
        page.click("#interp-download")
    assert row.value.suggested_filename == "tiny-seed4-to-8.png"
    assert Image.open(row.value.path()).size == (2 + 6 * 30, 2 + 30)
    with page.expect_download() as animation:
        page.click("#gif-download")
    assert Image.open(animation.value.path()).n_frames == 2 * 6 - 2
    page.select_option("#run-select", "cond")  # another run's pictures do not stay on show
    page.wait_for_function("() => document.querySelectorAll('#interp-row img').length === 0")
    assert page.is_hidden("#interp-gif")


def test_every_image_downloads_as_a_png(page, tiny_run):
    draw(page, 12, 4)
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('seed 12, 4 images')")
    shown(page, "#grid img", 4)
    with page.expect_download() as download:
        page.click("#grid .tile:nth-child(3) a.download")
    assert download.value.suggested_filename == "tiny-seed12-n4-2.png"
    png = Image.open(download.value.path())
    assert png.format == "PNG"
    assert np.array_equal(np.asarray(png), tiny_run.generate(4, seed=12)[2, 0].numpy())
    with page.expect_download() as grid:
        page.click("#grid-download")
    assert Image.open(grid.value.path()).size == (2 + 2 * 30, 2 + 2 * 30)


def test_a_refused_request_shows_the_servers_reason(page):
    draw(page, -1, 4)
    page.wait_for_function("() => document.querySelector('#status').className === 'error'")
    assert "'seed'" in page.text_content("#status")
    page.fill("#interp-frames", "1")
    page.click("#interp-go")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes(\"'frames'\")")
