"""JupyterLab in a real browser: start JupyterLab from .venv on a loopback
port, open a notebook on our kernel in headless Chromium (Debian's, driven
by Playwright), run a cell that shows a figure, and check that the image
rendered in the page. The screenshot is kept in target/test-artifacts/.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "target" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CELL = 'LinePlot::new().title("browser test").values("y", &[1.0, 4.0, 2.0, 3.0])'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook(path):
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "figure",
                   "metadata": {}, "outputs": [], "source": CELL}],
        "metadata": {"kernelspec": {"name": "deepscope", "display_name": "Rust (deepscope)",
                                    "language": "rust"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


class JupyterLabRendersOurFigure(unittest.TestCase):
    def test_figure_cell_renders_an_image(self):
        work = Path(tempfile.mkdtemp(prefix="deepscope-lab-"))
        notebook(work / "figure.ipynb")
        port, token = free_port(), "deepscope-test"
        log = open(work / "lab.log", "w")
        lab = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyter-lab")), "--no-browser", f"--port={port}",
             "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
             f"--notebook-dir={work}", "--ServerApp.open_browser=False"]
            + (["--allow-root"] if os.geteuid() == 0 else []),
            stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, JUPYTER_CONFIG_DIR=str(work / ".config")),
        )
        try:
            deadline = time.time() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    if time.time() > deadline or lab.poll() is not None:
                        print((work / "lab.log").read_text()[-3000:])
                        raise
                    time.sleep(0.5)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update",
                          "--disable-sync"],
                )
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/lab/tree/figure.ipynb?token={token}")
                editor = page.locator(".jp-Cell .cm-content").first
                editor.wait_for(timeout=120_000)
                # The kernel is ready when the status bar says idle.
                page.locator("text=Rust (deepscope) | Idle").first.wait_for(timeout=300_000)
                editor.click()
                page.keyboard.press("Shift+Enter")
                image = page.locator(".jp-OutputArea-output img").first
                image.wait_for(timeout=300_000)
                src = image.get_attribute("src") or ""
                width = page.evaluate("(img) => img.naturalWidth", image.element_handle())
                page.screenshot(path=str(ARTIFACTS / "jupyterlab-figure.png"))
                browser.close()
            self.assertTrue(src.startswith("data:image/png") or src.startswith("blob:"), src[:40])
            self.assertEqual(width, 640)
        finally:
            log.close()
            lab.terminate()
            try:
                lab.wait(20)
            except subprocess.TimeoutExpired:
                lab.kill()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
