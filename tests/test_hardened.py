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


def test_autograde_gives_each_cells_printed_text_as_one_output_per_stream():
    """Where the kernel's messages were cut must not show in the graded notebook or page: two
    gradings of one notebook are the same file (the distributed test compares them byte for byte)."""
    import nbformat
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor
    from traitlets.config import Config

    from bngrader.hardening import harden

    c = harden(Config(), cell_timeout=1, notebook_timeout=1, memory_mb=100, sandbox="none", work_dir=None)
    assert CoalesceStreamsPreprocessor in c.Autograde.autograde_preprocessors
    stream = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)  # noqa: E731
    cell = nbformat.v4.new_code_cell("print('a'); print('b')", outputs=[
        stream("stdout", "a\n"), stream("stdout", "b\n"), stream("stderr", "w\n"), stream("stdout", "c\n")])
    nb, _ = CoalesceStreamsPreprocessor(config=c)(nbformat.v4.new_notebook(cells=[cell]), {})
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [("stdout", "a\nb\n"), ("stderr", "w\n"),
                                                                ("stdout", "c\n")]
