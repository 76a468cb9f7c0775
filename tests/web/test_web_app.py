"""The studio's API in process: the images are the run's images, every bad request gets a 4xx naming
its problem, and no request reaches a file outside the served runs."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.images import grid_image
from ganforge.web.app import create_app, slerp
from ganforge.web.limits import MAX_IMAGES
from ganforge.web.runs import find_run_dirs, load_runs, serve_runs

with warnings.catch_warnings():  # starlette's notice about httpx2 is not ours to act on
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def decode(content: bytes) -> np.ndarray:
    """PNG bytes -> H x W x C uint8 array (C = 1 for grey)."""
    arr = np.asarray(Image.open(io.BytesIO(content)))
    return arr[..., None] if arr.ndim == 2 else arr


def hwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def client(tiny_run, cond_run):
    return TestClient(create_app({"tiny": tiny_run, "cond": cond_run}))


@pytest.fixture(scope="module")
def digits_client(digits_cond_run):
    return TestClient(create_app({"digits": digits_cond_run}))


def test_lists_runs_with_their_shapes_and_classes(client):
    body = client.get("/api/runs").json()
    runs = {r["id"]: r for r in body["runs"]}
    assert set(runs) == {"tiny", "cond"}
    assert runs["tiny"]["image_shape"] == {"channels": 1, "height": 28, "width": 28}
    assert runs["tiny"]["preset"] == "dcgan-28-fast" and runs["tiny"]["step"] == 2
    assert runs["tiny"]["num_classes"] is None
    assert runs["cond"]["num_classes"] == 4 and runs["cond"]["class_names"][2] == "two"
    assert body["limits"]["max_images"] == MAX_IMAGES
    assert client.get("/api/runs/cond").json() == runs["cond"]


def test_grid_and_each_image_are_the_runs_images_for_the_seed(client, tiny_run):
    expected = tiny_run.generate(6, seed=11)
    r = client.get("/api/runs/tiny/samples.png", params={"seed": 11, "n": 6, "nrow": 3})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert np.array_equal(decode(r.content), decode_pil(grid_image(expected, 3)))
    for i in range(6):
        one = client.get(f"/api/runs/tiny/samples/{i}.png", params={"seed": 11, "n": 6})
        assert np.array_equal(decode(one.content), hwc(expected)[i])
    again = client.get("/api/runs/tiny/samples.png", params={"seed": 11, "n": 6, "nrow": 3})
    other = client.get("/api/runs/tiny/samples.png", params={"seed": 12, "n": 6, "nrow": 3})
    assert again.content == r.content and other.content != r.content
    single = client.get("/api/runs/tiny/sample/11.png")
    assert np.array_equal(decode(single.content), hwc(tiny_run.generate(1, seed=11))[0])


def decode_pil(image: Image.Image) -> np.ndarray:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return decode(buf.getvalue())


def test_class_picks_the_label_of_every_image(client, cond_run):
    for cls in (0, 3):
        r = client.get("/api/runs/cond/samples/1.png", params={"seed": 5, "n": 4, "class": cls})
        expected = cond_run.generate(4, seed=5, labels=torch.full((4,), cls))
        assert np.array_equal(decode(r.content), hwc(expected)[1])
    mixed = client.get("/api/runs/cond/samples/1.png", params={"seed": 5, "n": 4})
    assert np.array_equal(decode(mixed.content), hwc(cond_run.generate(4, seed=5))[1])
    assert decode(mixed.content).shape == (16, 16, 3)


def test_interpolation_runs_from_seed_a_to_seed_b(client, tiny_run, cond_run):
    params = {"a": 3, "b": 9, "frames": 5}
    frames = [decode(client.get(f"/api/runs/tiny/interpolate/{i}.png", params=params).content) for i in range(5)]
    assert np.array_equal(frames[0], decode(client.get("/api/runs/tiny/sample/3.png").content))
    assert np.array_equal(frames[-1], decode(client.get("/api/runs/tiny/sample/9.png").content))
    z = slerp(tiny_run.noise(1, 3)[0], tiny_run.noise(1, 9)[0], 5)
    assert np.array_equal(frames[2], hwc(tiny_run.generate(5, z=z))[2])
    row = decode(client.get("/api/runs/tiny/interpolate.png", params=params).content)
    assert row.shape == (2 + 30, 2 + 5 * 30, 1)
    gif = Image.open(io.BytesIO(client.get("/api/runs/tiny/interpolate.gif", params=params).content))
    assert gif.format == "GIF" and gif.n_frames == 2 * 5 - 2  # forward, then back without repeating the ends
    cond = client.get("/api/runs/cond/interpolate/0.png", params={**params, "class": 2})
    assert np.array_equal(decode(cond.content), hwc(cond_run.generate(1, seed=3, labels=torch.tensor([2])))[0])
    # without a class, a conditional run keeps seed a's own class: frame 0 is seed a's image
    own = client.get("/api/runs/cond/interpolate/0.png", params=params)
    assert np.array_equal(decode(own.content), decode(client.get("/api/runs/cond/sample/3.png").content))


def test_a_real_conditional_run_takes_a_class(digits_client, digits_cond_run):
    info = digits_client.get("/api/runs/digits").json()
    assert info["num_classes"] == 10 and info["preset"] == "dcgan-28-cond"
    r = digits_client.get("/api/runs/digits/samples/2.png", params={"seed": 4, "n": 3, "class": 7})
    assert np.array_equal(decode(r.content), hwc(digits_cond_run.generate(3, seed=4, labels=torch.full((3,), 7)))[2])
    mixed = digits_client.get("/api/runs/digits/samples/2.png", params={"seed": 4, "n": 3})
    assert np.array_equal(decode(mixed.content), hwc(digits_cond_run.generate(3, seed=4))[2])
    frame = digits_client.get("/api/runs/digits/interpolate/0.png", params={"a": 4, "b": 5, "frames": 3})
    assert np.array_equal(decode(frame.content), decode(digits_client.get("/api/runs/digits/sample/4.png").content))
    bad = digits_client.get("/api/runs/digits/samples.png", params={"class": 10})
    assert bad.status_code == 422 and "0..9" in bad.json()["detail"]


def test_slerp_keeps_the_norm_between_orthogonal_latents():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    z = slerp(a, b, 7)
    assert torch.equal(z[0], a) and torch.equal(z[-1], b)
    assert torch.allclose(z.norm(dim=1), torch.full((7,), 3.0))
    assert torch.equal(slerp(a, a, 3), a.expand(3, 2))


@pytest.mark.parametrize("url, status, words", [
    ("/api/runs/tiny/samples.png?n=257", 422, ["'n'", "256"]),
    ("/api/runs/tiny/samples.png?n=0", 422, ["'n'", "greater than or equal to 1"]),
    ("/api/runs/tiny/samples.png?n=ten", 422, ["'n'", "integer", "ten"]),
    ("/api/runs/tiny/samples.png?seed=-1", 422, ["'seed'"]),
    ("/api/runs/tiny/samples.png?seed=4294967296", 422, ["'seed'", "4294967295"]),
    ("/api/runs/tiny/sample/1e99.png", 422, ["'seed'"]),
    ("/api/runs/tiny/samples.png?class=1", 422, ["'class'", "unconditional"]),
    ("/api/runs/cond/samples.png?class=4", 422, ["'class'", "0..3"]),
    ("/api/runs/cond/samples.png?class=-1", 422, ["'class'"]),
    ("/api/runs/tiny/samples/4.png?n=4", 422, ["'index'", "0..3"]),
    ("/api/runs/tiny/interpolate.png?frames=1", 422, ["'frames'"]),
    ("/api/runs/tiny/interpolate.png?frames=65", 422, ["'frames'", "64"]),
    ("/api/runs/tiny/interpolate.gif?fps=0", 422, ["'fps'"]),
    ("/api/runs/nope/samples.png", 404, ["nope", "tiny, cond"]),
    ("/api/runs/tiny/samples.png?seed=" + "9" * 5000, 414, ["query string"]),
])
def test_bad_requests_get_a_4xx_naming_the_problem(client, url, status, words):
    r = client.get(url)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail


def test_too_many_pixels_is_refused_before_generating():
    class Big:  # a 256x256 run: 256 images of it would be a 16-megapixel answer
        image_shape, z_dim, num_classes = (3, 256, 256), 4, None

        def generate(self, *a, **k):
            raise AssertionError("must not generate")

    r = TestClient(create_app({"big": Big()})).get("/api/runs/big/samples.png?n=256")
    assert r.status_code == 422 and "at most 16" in r.json()["detail"]


def test_a_runs_own_refusal_is_a_422_with_its_message():
    class Refuses:
        image_shape, z_dim, num_classes = (1, 8, 8), 4, None

        def generate(self, n, **kw):
            raise GanforgeError("this run cannot sample today")

    r = TestClient(create_app({"r": Refuses()})).get("/api/runs/r/samples.png")
    assert r.status_code == 422 and r.json() == {"detail": "this run cannot sample today"}


def test_bodies_and_other_methods_are_refused(client):
    assert client.post("/api/runs/tiny/samples.png", content=b"x" * 100_000).status_code == 413
    assert client.post("/api/runs/tiny/samples.png").status_code == 405
    assert client.delete("/api/runs/tiny").status_code == 405


@pytest.mark.parametrize("url", [
    "/static/../pyproject.toml",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/..%2f..%2fweb%2fapp.py",
    "/static/%2fetc%2fpasswd",
    "/static//etc/passwd",
    "/api/runs/..%2f..%2f..%2fetc%2fpasswd",
    "/api/runs/%2fetc%2fpasswd/samples.png",
    "/api/runs/../../etc/passwd",
    "/api/runs/tiny/../../../pyproject.toml",
    "/api/runs/tiny%2f..%2f..%2fconfig.json",
    "/config.json",
    "/checkpoints/last.safetensors",
])
def test_no_path_reaches_a_file_outside_the_static_folder(client, url):
    r = client.get(url)
    assert r.status_code in (400, 404, 405, 422), (url, r.status_code)
    assert b"root:" not in r.content and b"[build-system]" not in r.content and b"safetensors" not in r.content


def test_the_page_and_its_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "//cdn" not in page.text and "https://" not in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text
        r = client.get(asset)
        assert r.status_code == 200 and "https://" not in r.text
    assert client.get("/docs").status_code == 404  # its Swagger page would load scripts from a CDN
    assert "/api/runs/{run_id}/samples.png" in client.get("/openapi.json").json()["paths"]


def test_run_ids_are_unique_and_runs_are_found_in_a_parent_folder(tiny_run, tiny_run_dir, tmp_path):
    served = serve_runs([tiny_run, tiny_run])
    assert list(served) == ["tiny-mnist", "tiny-mnist-2"]
    assert find_run_dirs([tiny_run_dir.parent]) == [tiny_run_dir]
    assert find_run_dirs([tiny_run_dir]) == [tiny_run_dir]
    with pytest.raises(GanforgeError, match="does not exist"):
        find_run_dirs([tmp_path / "missing"])
    with pytest.raises(GanforgeError, match="holds no run folders"):
        find_run_dirs([tmp_path])


def test_a_parent_folder_skips_a_run_that_cannot_load_and_says_so(tiny_run_dir, tmp_path):
    parent = tmp_path / "runs"
    parent.mkdir()
    (parent / "a-good").symlink_to(tiny_run_dir, target_is_directory=True)
    (parent / "b-still-training").mkdir()
    (parent / "b-still-training" / "config.json").write_text((tiny_run_dir / "config.json").read_text())
    notes: list[str] = []
    runs = load_runs([parent], device="cpu", note=notes.append)
    assert [r.path.name for r in runs] == ["a-good"]
    assert len(notes) == 1 and "b-still-training" in notes[0] and "checkpoint" in notes[0]
    with pytest.raises(GanforgeError, match="checkpoint"):  # named outright, it must load
        load_runs([parent / "b-still-training"], device="cpu")


def test_the_architecture_is_the_preset_summary_of_the_runs_config(client, tiny_run):
    from ganforge.presets import summarize_preset

    body = client.get("/api/runs/tiny/architecture").json()
    assert body["config"]["preset"] == "dcgan-28-fast" and body["config"]["extra"] == {"width": 8}
    g, d = summarize_preset(tiny_run.config)
    for got, want in ((body["generator"], g), (body["discriminator"], d)):
        assert [r["Layer (type)"] for r in got["rows"]] == [r.label for r in want.rows]
        assert [r["Output Shape"] for r in got["rows"]] == [r.shape_text for r in want.rows]
        assert got["totals"] == want.totals_lines() and got["summary"] == want.to_dict()
    assert body["generator"]["summary"]["trainable"] == sum(p.numel() for p in tiny_run.generator.parameters())
    fake = client.get("/api/runs/cond/architecture").json()  # a look-alike without a config: nothing to show
    assert fake == {"config": None, "generator": None, "discriminator": None}


def test_a_shipped_generator_is_served_with_how_it_was_made():
    from ganforge.web.catalog import Catalog

    client = TestClient(create_app(Catalog(pretrained=["mnist-cond"])))
    info = client.get("/api/runs").json()["runs"][0]
    assert info["id"] == "pretrained:mnist-cond" and info["kind"] == "pretrained" and info["num_classes"] == 10
    assert info["has_generator"] and not info["has_log"] and info["status"]["state"] == "ready"
    body = client.get("/api/runs/pretrained:mnist-cond/metrics").json()
    assert body["made"]["command"].startswith("ganforge train --preset dcgan-28-cond ")
    assert body["measured"]["class_accuracy"] > 0.95
    arch = client.get("/api/runs/pretrained:mnist-cond/architecture").json()
    assert arch["config"]["preset"] == "dcgan-28-cond" and arch["generator"]["rows"]
    r = client.get("/api/runs/pretrained%3Amnist-cond/samples/0.png", params={"seed": 1, "n": 2, "class": 7})
    assert r.status_code == 200
    assert client.get("/api/runs/pretrained:mnist-cond/events").status_code == 404  # no training log to watch
