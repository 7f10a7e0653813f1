"""bngrader/hardened.py: a kernel over a limit is reported for the limit, not for the timeout its
cell also reached; a cell that only runs long is a timeout."""

# A kernel over a limit is reported for the limit, even when its cell
# also ran out of time before the watcher (every 0.25 s) got to it, e.g. on a loaded machine.

HOG = """
for i in range(4):  # 400 MB of files in the sandbox's /tmp (RAM), each under the file-size limit
    with open(f"/tmp/hog{i}.bin", "wb") as f:
        for _ in range(100):
            f.write(b"t" * 2**20)
import time
time.sleep(60)
"""


def _execute(tmp_path, source, monkeypatch, watcher=True):
    import nbformat

    from bngrader.hardened import HardenedExecute
    from bngrader.sandbox import sandbox_available

    if not sandbox_available():
        raise AssertionError("bubblewrap (bwrap) is needed: apt-get install bubblewrap")
    if not watcher:  # the watcher never gets there in time: only the timeout path can tell
        monkeypatch.setattr(HardenedExecute, "_watch_memory", lambda self: None)
    ex = HardenedExecute(timeout=6, memory_limit_mb=300, max_replays=0, work_dir=str(tmp_path / "work"))
    (tmp_path / "work").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}, "unique_key": "nb"})
    return nb.cells[0].outputs[-1], ex._events[0]


def test_a_tmpfs_hog_is_stopped_for_memory_by_the_watcher(tmp_path, monkeypatch):
    out, event = _execute(tmp_path, HOG, monkeypatch)
    assert (out.ename, event["kind"]) == ("KernelDied", "kernel_died"), event
    assert "files in its /tmp" in event["detail"]


def test_a_tmpfs_hog_that_also_times_out_is_reported_for_memory(tmp_path, monkeypatch):
    out, event = _execute(tmp_path, HOG, monkeypatch, watcher=False)
    assert (out.ename, event["kind"]) == ("KernelDied", "kernel_died"), event
    assert "more than 300 MB of memory" in event["detail"] and "files in its /tmp" in event["detail"]


def test_a_cell_that_only_runs_long_is_a_timeout(tmp_path, monkeypatch):
    out, event = _execute(tmp_path, "import time\ntime.sleep(60)", monkeypatch, watcher=False)
    assert (out.ename, event["kind"]) == ("TimeoutError", "timeout"), event
