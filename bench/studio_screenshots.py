"""The screenshots of docs/studio.md: the studio in headless Chromium, a run training live from its page.

Starts ``ganforge serve`` (its own process) on a fresh runs root, trains two short runs there first (for the
comparison), starts a third from the page's form and photographs it while it trains; then the comparison, the
new-run form, the architecture and a shipped generator's samples.

    python bench/studio_screenshots.py --data-root DATA --out docs/images
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
POINTS = "sel => Number((document.querySelector(sel) || {dataset: {}}).dataset.points || 0)"


def start_server(root: Path, data_root: str | None) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "ganforge", "serve", "--runs-root", str(root), "--port", "0", "--device", "cpu"]
    if data_root:
        cmd += ["--data-root", data_root]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found = re.search(r"http://127\.0\.0\.1:\d+/", proc.stdout.readline())
    if not found:
        proc.kill()
        sys.exit(f"the server did not start: {proc.stderr.read()}")
    return proc, found.group(0).rstrip("/")


def train(url: str, name: str, dataset: str, **fields) -> None:
    r = httpx.post(f"{url}/api/runs", json={"preset": "dcgan-28-fast", "dataset": dataset, "name": name, **fields})
    r.raise_for_status()
    while httpx.get(f"{url}/api/runs/{name}").json()["status"]["state"] in ("training", "stopping"):
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", help="folder holding mnist/ (real MNIST); else the bundled mnist-sample")
    ap.add_argument("--out", default="docs/images", help="folder for the PNGs (default docs/images)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = "mnist" if args.data_root and (Path(args.data_root) / "mnist").is_dir() else "mnist-sample"
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "runs", args.data_root)
        try:
            common = {"steps": 1500, "batch_size": 64, "width": 16, "log_every": 25, "grid_every": 150}
            train(url, "lr-1e-3", dataset, **common)
            train(url, "lr-3e-4", dataset, lr_g=3e-4, lr_d=3e-4, **common)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
                page.set_default_timeout(600_000)
                page.goto(url + "/")
                page.wait_for_function("() => document.body.dataset.ready === '1'")

                page.click("#tabs button[data-view=new]")
                page.wait_for_function("() => document.body.dataset.formReady === '1'")
                page.select_option("#new-dataset", dataset)
                for field, value in (("steps", "3000"), ("width", "16"), ("log-every", "25"), ("grid-every", "150"),
                                     ("name", "live")):
                    page.fill(f"#new-{field}", value)
                page.screenshot(path=str(out / "studio-new-run.png"))
                page.click("#new-start")
                page.wait_for_function(f"() => ({POINTS})('#chart-loss') >= 2 * 40 && "
                                       "Number(document.querySelector('#live-grid').dataset.step) >= 900")
                page.screenshot(path=str(out / "studio-live.png"), full_page=True)
                page.click("#stop-run")
                page.wait_for_function("() => document.body.dataset.liveState === 'stopped'")

                page.click("#tabs button[data-view=compare]")
                for run_id in ("lr-1e-3", "lr-3e-4", "live"):
                    page.check(f"#compare-runs input[value={run_id}]")
                page.click("#compare-go")
                page.wait_for_function("() => document.body.dataset.compared === 'lr-1e-3,lr-3e-4,live' && "
                                       "Array.from(document.querySelectorAll('#compare-samples img'))"
                                       ".every(i => i.complete && i.naturalWidth > 0)")
                page.screenshot(path=str(out / "studio-compare.png"), full_page=True)

                page.click("#tabs button[data-view=arch]")
                page.wait_for_function("() => document.body.dataset.arch === 'live'")
                page.screenshot(path=str(out / "studio-architecture.png"), full_page=True)

                page.select_option("#run-select", "pretrained:mnist-cond")
                page.click("#tabs button[data-view=samples]")
                page.select_option("#class-select", "7")
                page.select_option("#count", "36")
                page.wait_for_function("() => document.body.dataset.busy === '0' && "
                                       "document.querySelector('#grid img') && "
                                       "document.querySelector('#grid img').src.includes('class=7') && Array.from("
                                       "document.querySelectorAll('#grid img')).every(i => i.complete && "
                                       "i.naturalWidth > 0)")
                page.screenshot(path=str(out / "studio-samples.png"))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    for p in sorted(out.glob("studio-*.png")):
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
