"""`make lab` serves JupyterLab on the course (started headless, as a learner would)."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import ROOT


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def test_make_lab_serves_the_course():
    port, token = _free_port(), "course-test-token"
    args = (f"--no-browser --ip=127.0.0.1 --ServerApp.token={token} --LabApp.news_url=None "
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_PORT={port}", f"LAB_ARGS={args}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                status, page = _get(f"{base}/lab?token={token}")
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.time() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.5)
        assert status == 200 and "JupyterLab" in page
        _, listing = _get(f"{base}/api/contents/notebooks?token={token}")
        lessons = {item["name"] for item in json.loads(listing)["content"]}
        assert lessons == {p.name for p in (ROOT / "notebooks").iterdir() if p.is_dir()}
        # the page config lists the prebuilt extensions Lab will load: widgets and nbgrader
        assert "@jupyter-widgets/jupyterlab-manager" in page and "@jupyter/nbgrader" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
