"""The course as a learner and an instructor meet it: JupyterLab from `make lab`, in Chromium.

JupyterLab is started by `make lab` (same environment, same course root, a token), and
Debian's Chromium (the OS package: no browser download) is driven by Playwright. A learner
opens every lesson, works through lesson 1 in the notebook UI (a correct answer, then a
typical mistake), moves a slider of the explorer and presses nbgrader's Validate button;
an instructor opens the Formgrader. Screenshots of every step go to artifacts/browser/.

Lesson 1 is edited in a scratch copy under artifacts/browser/ (inside the course root, so
the same Lab serves it): Validate saves the notebook first, and the committed learner
notebooks must stay untouched (the last test checks their bytes).

Needs Chromium: `apt-get install chromium` (`.ci/run` does it). Without it the test fails
with that message; set BNCOURSE_SKIP_BROWSER=1 to skip it on purpose.
"""

import base64
import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from scratch_course import L1, bngrader, hand_in, make_course, points

from conftest import LEARNER_NOTEBOOKS, ROOT, nb_id

CHROMIUM_CANDIDATES = [os.environ.get("BNCOURSE_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "artifacts" / "browser"
LESSON1 = ROOT / "notebooks" / "01_formulas_by_hand" / "01_formulas_by_hand.ipynb"
TOKEN = "browser-test-token"
# Test-only Lab user settings (a fresh folder): no autosave (nothing is written behind the
# test's back) and no "Jupyter news?" toast over the screenshots.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}
UI_TIMEOUT = 30_000  # ms, for the UI to react
RUN_TIMEOUT = 90_000  # ms, for a kernel or nbgrader to finish

CORRECT_MEAN = "batch_mean = np.array([3.0, 10.0, 0.01])"
WRONG_MEAN = "batch_mean = X.sum(axis=0) / 3"  # the sum over N-1
NORMALIZE = ("def normalize(x, gamma, beta, eps=1e-3):\n"
             "    return gamma * (x - x.mean()) / np.sqrt(x.var() + eps) + beta")


def _chromium():
    for name in CHROMIUM_CANDIDATES:
        path = name and shutil.which(name)
        if path:
            return path
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base, path, method="GET"):
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read().decode()
        return json.loads(body) if body else None


def _shutdown_kernels(base, path=None):
    """Shut down the kernels of notebook `path` (all kernels if None), as closing a notebook would."""
    for session in _api(base, "/api/sessions"):
        if path is None or session["path"] == path:
            _api(base, f"/api/sessions/{session['id']}", method="DELETE")


def _shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _processes():
    """{pid: (state, ppid, pgid)} of every process, from /proc (empty where there is no /proc)."""
    table = {}
    for entry in (Path("/proc").iterdir() if Path("/proc").is_dir() else ()):
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry.name)] = (fields[0], int(fields[1]), int(fields[2]))
    return table


def _kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _stop_groups(pgids, timeout=20, spare=()):
    """SIGTERM these process groups (but not `spare`), wait until no live member remains, then SIGKILL."""
    procs = _processes()
    if not procs:  # no /proc (macOS): signal the whole groups and give them the same time
        for pgid in pgids:
            _kill_group(pgid, signal.SIGTERM)
        time.sleep(min(timeout, 5))
    for pid, (_, _, pgid) in procs.items():
        if pgid in pgids and pid not in spare:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + timeout
    while procs and time.time() < deadline:
        if not any(pg in pgids and state != "Z" for state, _, pg in _processes().values()):
            return
        time.sleep(0.2)
    for pgid in pgids:
        _kill_group(pgid, signal.SIGKILL)


def _kill_browser_leftovers(profile):
    """Kill the process groups of any Chromium still using this run's own profile folder."""
    for proc in (Path("/proc").iterdir() if Path("/proc").is_dir() else ()):
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--user-data-dir={profile}".encode() in cmdline:
            try:
                _kill_group(os.getpgid(int(proc.name)), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def chromium():
    path = _chromium()
    if path is None:
        if os.environ.get("BNCOURSE_SKIP_BROWSER") == "1":
            pytest.skip("BNCOURSE_SKIP_BROWSER=1: browser test skipped on request")
        pytest.fail("Chromium is not installed: install it with `sudo apt-get install chromium` "
                    "(Debian; `chromium-browser` on Ubuntu), or run .ci/run, which does it, or point "
                    "BNCOURSE_CHROMIUM to a Chromium or Chrome binary. "
                    "Set BNCOURSE_SKIP_BROWSER=1 to skip the browser test on purpose.")
    return path


@pytest.fixture(scope="module")
def notebook_bytes():
    """The committed learner notebooks, byte for byte, before the browser touches anything."""
    return {p: p.read_bytes() for p in LEARNER_NOTEBOOKS}


@pytest.fixture(scope="module")
def lab(chromium, notebook_bytes, tmp_path_factory):
    """`make lab` on a free port with a token, headless; yields its base URL. Always stopped."""
    tmp = tmp_path_factory.mktemp("lab")
    for name, value in LAB_SETTINGS.items():
        (tmp / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "settings" / name).write_text(json.dumps(value))
    port = _free_port()
    args = (f"--no-browser --ip=127.0.0.1 --ServerApp.token={TOKEN} --LabApp.news_url=None "
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate "
            f"--LabApp.user_settings_dir={tmp / 'settings'} --LabApp.workspaces_dir={tmp / 'workspaces'}")
    log = open(tmp / "lab.log", "w+")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_PORT={port}", f"LAB_ARGS={args}"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                _api(base, "/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    pytest.fail(f"`make lab` did not serve within 90 s:\n{log.read()[-3000:]}")
                time.sleep(0.5)
        yield base
    finally:
        try:  # shut kernels down cleanly first
            _shutdown_kernels(base)
        except OSError:
            pass
        # make and Lab share one process group; kernels get their own, as children of Lab
        procs = _processes()
        lab_pids = {pid for pid, (_, _, pgid) in procs.items() if pgid == proc.pid}
        kernel_groups = {pgid for _, ppid, pgid in procs.values() if ppid in lab_pids and pgid != proc.pid}
        _stop_groups({proc.pid}, spare={proc.pid})  # make exits (and reaps Lab) once Lab has stopped
        _stop_groups(kernel_groups, timeout=5)
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser(chromium, lab, tmp_path_factory):
    """A fresh Chromium profile driven by Playwright; closed (and killed if need be) at the end."""
    for old in SHOTS.glob("*.png"):  # this run's screenshots only
        old.unlink()
    profile = tmp_path_factory.mktemp("chromium-profile")
    pw = sync_playwright().start()
    context = None
    try:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900}, timeout=60_000,
        )
        context.set_default_timeout(UI_TIMEOUT)
        expect.set_options(timeout=UI_TIMEOUT)
        yield context
    finally:
        try:
            if context is not None:
                context.close()
        finally:
            pw.stop()
            _kill_browser_leftovers(profile)


def _open(browser, lab, path, workspace):
    """Open a notebook in its own Lab workspace (a page per workspace: no restored tabs)."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{lab}/lab/workspaces/{workspace}/tree/{path}?token={TOKEN}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    return page, errors


@contextlib.contextmanager
def _shot_on_failure(page, name):
    """Save a screenshot of the page (artifacts/browser/FAILED-<name>.png) if the block fails."""
    try:
        yield
    except BaseException:
        _shot(page, f"FAILED-{name}")
        raise


def _cells(page):
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")


def _wait_idle(page):
    page.locator(".jp-NotebookPanel:visible [data-jp-item-name='executionProgress']").get_by_text(
        "Kernel status: Idle").wait_for(state="attached", timeout=RUN_TIMEOUT)


def _no_dialog(page, where):
    dialogs = page.locator(".jp-Dialog")
    assert dialogs.count() == 0, f"{where}: an error dialog is open: {dialogs.first.inner_text()[:500]}"


def _replace_source(page, cell, text):
    """Click into a cell's editor, select all and enter the new source (inserted like a paste)."""
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    assert editor.inner_text().strip() == text.strip(), f"the editor holds {editor.inner_text()!r}"


def _index(nb, pred):
    return next(i for i, c in enumerate(nb["cells"]) if pred(c))


def _grade_id(cell):
    return cell["metadata"].get("nbgrader", {}).get("grade_id")


@pytest.mark.parametrize("learner", LEARNER_NOTEBOOKS, ids=nb_id)
def test_lesson_renders(browser, lab, learner):
    nb = json.loads(learner.read_text())
    page, errors = _open(browser, lab, learner.relative_to(ROOT).as_posix(), f"lesson-{learner.parent.name}")
    try:
        with _shot_on_failure(page, f"lesson-{learner.parent.name}"):
            cells = _cells(page)
            expect(cells, "Lab shows a different number of cells than the notebook has").to_have_count(
                len(nb["cells"]))
            title = next(c for c in nb["cells"] if c["cell_type"] == "markdown")["source"]
            title = "".join(title).splitlines()[0].lstrip("# ").strip()
            heading = page.locator(".jp-NotebookPanel:visible .jp-RenderedMarkdown h1").first
            expect(heading).to_be_visible()
            assert heading.inner_text().strip().rstrip("¶").strip() == title
            expect(page.locator(".jp-NotebookPanel:visible").get_by_text("# YOUR CODE HERE").first).to_be_attached()
            _wait_idle(page)  # the kernel started
            if any("$" in "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"):
                page.locator(".jp-RenderedMarkdown mjx-container").first.wait_for(timeout=UI_TIMEOUT)
            _no_dialog(page, learner.name)
            assert not errors, f"JavaScript errors: {errors}"
            _shot(page, f"lesson-{learner.parent.name}")
    finally:
        page.close()
        _shutdown_kernels(lab, learner.relative_to(ROOT).as_posix())


@pytest.fixture(scope="module")
def lesson1(browser, lab):
    """Lesson 1, a scratch copy under artifacts/browser/, open in Lab after Restart & Run All."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lesson1-", dir=SHOTS))
    try:
        copy = work / LESSON1.name
        shutil.copyfile(LESSON1, copy)
        page, errors = _open(browser, lab, copy.relative_to(ROOT).as_posix(), "learner")
        nb = json.loads(LESSON1.read_text())
        with _shot_on_failure(page, "lesson1-run-all"):
            # A learner's first move: restart the kernel and run all; it stops at the first blank answer.
            _wait_idle(page)
            page.locator(".jp-NotebookPanel:visible [data-jp-item-name='restart-and-run'] jp-button").click()
            page.locator(".jp-Dialog .jp-mod-accept").click()
            first_answer = _cells(page).nth(_index(nb, lambda c: _grade_id(c) == "batch_mean"))
            first_answer.locator(".jp-OutputArea-output").get_by_text("NotImplementedError").first.wait_for(
                timeout=RUN_TIMEOUT)
            _wait_idle(page)
        yield page, nb, errors
        page.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_answer_and_check(page, answer, check):
    """Shift+Enter twice, as a learner runs an answer and its check; returns the check's output."""
    prompt = check.locator(".jp-InputPrompt")
    before = prompt.inner_text()
    page.keyboard.press("Shift+Enter")  # run the answer, select the check cell
    page.keyboard.press("Shift+Enter")  # run the check cell
    expect(prompt).not_to_have_text(before, timeout=RUN_TIMEOUT)
    expect(prompt).to_have_text(re.compile(r"\[\d+\]:"), timeout=RUN_TIMEOUT)  # executed, not queued
    check.scroll_into_view_if_needed()
    return check.locator(".jp-OutputArea").inner_text()


def test_lesson1_checks_through_the_ui(lesson1):
    page, nb, errors = lesson1
    n_errors = len(errors)
    cells = _cells(page)
    answer = cells.nth(_index(nb, lambda c: _grade_id(c) == "batch_mean"))
    check = cells.nth(_index(nb, lambda c: _grade_id(c) == "test_batch_mean"))
    with _shot_on_failure(page, "lesson1-checks"):
        # Restart & Run All (the fixture) stopped at the first blank answer
        expect(answer.locator(".jp-OutputArea-output")).to_contain_text("NotImplementedError")
        answer.scroll_into_view_if_needed()
        _shot(page, "lesson1-1-run-all-stops-at-first-answer")

        _replace_source(page, answer, CORRECT_MEAN)
        output = _run_answer_and_check(page, answer, check)
        assert "✓ batch_mean is correct" in output, f"a correct batch_mean is not accepted: {output!r}"
        _shot(page, "lesson1-2-correct-answer")

        _replace_source(page, answer, WRONG_MEAN)
        output = _run_answer_and_check(page, answer, check)
        assert "you divided by N-1" in output and "✓" not in output, f"no N-1 hint for the N-1 mean: {output!r}"
        _shot(page, "lesson1-3-wrong-answer-hint")
        _no_dialog(page, "lesson 1")
        assert not errors[n_errors:], f"JavaScript errors: {errors[n_errors:]}"


def _img_digest(img):
    src = img.get_attribute("src") or ""
    assert src.startswith("data:image/png;base64,"), f"unexpected figure source {src[:60]!r}"
    return hashlib.sha256(base64.b64decode(src.split(",", 1)[1])).hexdigest()


def _settled_digest(figure, differs_from=None, equals=None, timeout=RUN_TIMEOUT / 1000, still=2.0):
    """The figure's digest once it differs from `differs_from` (or equals `equals`) and is stable."""
    deadline = time.time() + timeout
    digest, since = _img_digest(figure), time.time()
    while digest == differs_from or (equals is not None and digest != equals) or time.time() - since < still:
        assert time.time() < deadline, "the explorer's figure did not follow the slider"
        time.sleep(0.25)
        new = _img_digest(figure)
        if new != digest:
            digest, since = new, time.time()
    return digest


def test_explorer_reacts_to_a_slider(lesson1):
    page, nb, errors = lesson1
    with _shot_on_failure(page, "lesson1-explorer"):
        _explorer(page, nb, errors, len(errors))


def _explorer(page, nb, errors, n_errors):
    cells = _cells(page)
    _replace_source(page, cells.nth(_index(nb, lambda c: _grade_id(c) == "normalize")), NORMALIZE)
    page.keyboard.press("Shift+Enter")
    explorer = cells.nth(_index(nb, lambda c: "bn_explorer(" in "".join(c["source"])))
    explorer.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")

    figure = explorer.locator(".jp-OutputArea-output img").first
    figure.wait_for(timeout=RUN_TIMEOUT)  # the figure comes first, then the sliders
    slider = explorer.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text="gamma"))
    expect(slider, "the explorer's sliders did not render (ipywidgets front end?)").to_be_visible()
    expect(explorer.locator(".widget-slider"), "the explorer has six sliders").to_have_count(6)
    readout = slider.locator(".widget-readout")
    explorer.scroll_into_view_if_needed()
    _shot(page, "lesson1-4-explorer-before")

    def move(key, readout_expected=None):
        handle.focus()
        page.keyboard.press(key)  # one slider step, with the keyboard
        if readout_expected is None:
            expect(readout, "the gamma slider did not move").not_to_have_text(initial)
        else:
            expect(readout).to_have_text(readout_expected)

    handle, initial = slider.locator(".noUi-handle"), readout.inner_text()
    first = _settled_digest(figure)
    move("ArrowRight")
    up = _settled_digest(figure, differs_from=first)
    _shot(page, "lesson1-5-explorer-after-slider")
    move("ArrowLeft", initial)
    back = _settled_digest(figure, differs_from=up)
    # gamma up, then down, then up again: the figure must follow gamma exactly
    move("ArrowRight")
    _settled_digest(figure, equals=up)
    move("ArrowLeft", initial)
    _settled_digest(figure, equals=back)
    print("explorer: first figure", "==" if first == back else "!=", "figure after gamma up and down")
    _no_dialog(page, "explorer")
    assert not errors[n_errors:], f"JavaScript errors: {errors[n_errors:]}"


def test_validate_button_reports_the_hint(lesson1):
    page, nb, errors = lesson1
    with _shot_on_failure(page, "lesson1-validate"):
        _validate(page, nb, errors, len(errors))


def _validate(page, nb, errors, n_errors):
    cells = _cells(page)
    _replace_source(page, cells.nth(_index(nb, lambda c: _grade_id(c) == "batch_mean")), WRONG_MEAN)
    page.keyboard.press("Escape")
    button = page.locator(".jp-NotebookPanel:visible .jp-NotebookPanel-toolbar jp-button", has_text="Validate")
    expect(button, "nbgrader's Validate button is missing from the notebook toolbar").to_be_visible()
    button.click()  # saves the scratch copy, then runs nbgrader validate on it
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=RUN_TIMEOUT)
    message = dialog.locator("#validation-message")
    kind, text = message.get_attribute("class") or "", message.inner_text()
    assert "validation-failed" in kind, f"expected failed checks, got {kind!r}: {text[:500]}"
    assert "you divided by N-1" in text, f"Validate did not report the visible check's hint: {text[:500]}"
    _shot(page, "lesson1-6-validate")
    dialog.locator(".jp-mod-accept").click()
    assert not errors[n_errors:], f"JavaScript errors: {errors[n_errors:]}"


def test_formgrader_lists_the_course(browser, lab):
    page = browser.new_page()
    try:
        with _shot_on_failure(page, "instructor-formgrader"):
            _formgrader(page, lab)
    finally:
        page.close()


def _formgrader(page, lab):
    page.goto(f"{lab}/lab/workspaces/instructor?token={TOKEN}")
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.get_by_role("menuitem", name="Formgrader", exact=True).click()
    frame = page.frame_locator("iframe[src*='formgrader']")
    frame.get_by_role("heading", name="Manage Assignments").wait_for(timeout=RUN_TIMEOUT)
    table = frame.locator("table")
    # The first visit creates instructor/gradebook.db and reads every assignment: allow time.
    for solution in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        table.get_by_role("link", name=solution.parent.name, exact=True).wait_for(timeout=RUN_TIMEOUT)
    _shot(page, "instructor-formgrader")
    _no_dialog(page, "formgrader")


# ----------------------------------------------------------------------------- hostile class

XSS_STUDENTS = ("xss_markdown", "xss_outputs", "xss_metadata")
A2 = "02_numpy_forward"
# A wrong answer whose error message is a payload: it reaches the class report as a named mistake.
XSS_HINT = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
XSS_HINT_ANSWER = ("def batchnorm_inference(x, gamma, beta, moving_mean, moving_var, eps=1e-3):\n"
                   f"    raise ValueError({XSS_HINT!r})\n")
SCRATCH_CONFIG = """c = get_config()  # noqa: F821
load_subconfig({course_config!r})  # noqa: F821 - the course's own config: hardening, sanitising
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
"""


@pytest.fixture(scope="module")
def xss_course(lab):
    """The hostile html students (an honest one, and xss_hint, whose wrong answer raises an error
    whose message is a payload: the class report shows it) graded by grade.py into a scratch course under
    artifacts/browser/ (so the test's Lab serves it), with an nbgrader_config.py that loads the
    course's config: Formgrader opens it with ?path=, the course's own folders stay untouched."""
    import sys

    import nbformat

    import hostile
    import hostile.html
    from bngrader import course

    SHOTS.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="xss-course-", dir=SHOTS))
    try:
        def index(gid):
            nb = course.learner_submission(A2)
            return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)

        def write(folder, nb, name=f"{A2}.ipynb"):
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / name)

        sub = root / "submitted"
        own = lambda s: sub / s / A2  # noqa: E731
        ctx = hostile.Context(root=root, sub=sub, out=root, port=0, assignment=A2, own=own,
                              solved=lambda answers=None: course.learner_submission(A2, answers),
                              blank=None, solution=None, index=index, write=write)
        hostile.html.build(ctx)
        write(own("honest"), course.learner_submission(A2))
        write(own("xss_hint"), course.learner_submission(A2, {"batchnorm_inference": XSS_HINT_ANSWER}))
        proc = subprocess.run([sys.executable, "-m", "bngrader", "grade", A2, "--submitted", str(sub),
                               "--out", str(root), "--workers", "2", "--cell-timeout", "60"],
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (root / "nbgrader_config.py").write_text(SCRATCH_CONFIG.format(
            course_config=str(ROOT / "autograder" / "nbgrader_config.py"), root=str(root)))
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _watch(page):
    """Record every dialog (and dismiss it): a payload's alert() must never open one."""
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return dialogs


def _assert_inert(page, dialogs, where):
    page.wait_for_timeout(1500)  # let onerror/onload/ontoggle/refresh fire, if anything survived
    for frame in page.frames:
        with contextlib.suppress(Exception):  # a frame may be gone or cross-origin-blocked
            assert frame.evaluate("typeof window.__xss") == "undefined", f"{where}: a payload ran in {frame.url}"
    assert page.evaluate("typeof window.__xss") == "undefined", f"{where}: a payload ran"
    assert not dialogs, f"{where}: a payload opened a dialog: {dialogs}"


def _typeset(page, where):
    page.wait_for_function("() => document.querySelector('.MathJax, .MathJax_Display, .MathJax_SVG')",
                           timeout=UI_TIMEOUT)
    assert page.locator(".MathJax, .MathJax_Display").count() > 0, f"{where}: MathJax typeset nothing"


def test_formgrader_shows_hostile_submissions_inert(browser, lab, xss_course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{xss_course / 'gradebook.db'}") as gb:
        ids = {s: gb.find_submission_notebook(A2, A2, s).id for s in (*XSS_STUDENTS, "honest")}
    page = browser.new_page()
    dialogs = _watch(page)
    try:
        page.goto(f"{lab}/formgrader?path={xss_course}&token={TOKEN}")  # Formgrader on the scratch course
        for student, sid in ids.items():
            with _shot_on_failure(page, f"formgrader-{student}"):
                page.goto(f"{lab}/formgrader/submissions/{sid}/?token={TOKEN}")
                expect(page.locator("h1", has_text="Lesson 2").first).to_be_visible()
                expect(page.locator(".nbgrader_cell").first).to_be_visible()  # the grading view itself
                _assert_inert(page, dialogs, f"Formgrader, {student}")
                _typeset(page, f"Formgrader, {student}")  # the course's math, from the local MathJax
                _shot(page, f"formgrader-{student}")
    finally:
        page.goto(f"{lab}/formgrader?token={TOKEN}")  # back to the course's own Formgrader config
        page.close()


@pytest.mark.parametrize("via", ["file", "server"])
def test_feedback_pages_of_hostile_submissions_are_inert(browser, lab, xss_course, via):
    for student in XSS_STUDENTS:
        path = xss_course / "feedback" / student / A2 / f"{A2}.html"
        page = browser.new_page()
        dialogs = _watch(page)
        try:
            with _shot_on_failure(page, f"feedback-{via}-{student}"):
                url = (path.as_uri() if via == "file"
                       else f"{lab}/files/{path.relative_to(ROOT).as_posix()}?token={TOKEN}")
                page.goto(url)
                expect(page.locator("h1", has_text="Lesson 2").first).to_be_visible()
                _assert_inert(page, dialogs, f"feedback ({via}), {student}")
                if via == "file":  # as the learner opens it; Jupyter's /files/ sandboxes the page (an opaque
                    _typeset(page, f"feedback, {student}")  # origin, where MathJax 2 cannot read document.cookie)
                _shot(page, f"feedback-{via}-{student}")
        finally:
            page.close()


def test_class_report_of_the_hostile_class_is_inert(browser, xss_course):
    """report.html of the class above, opened from disk as the instructor would: its figure and
    tables render, the payload in a student's error message shows as text and runs nothing, and
    the page requests nothing but itself and its inline figures."""
    page = browser.new_page()
    dialogs = _watch(page)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        with _shot_on_failure(page, "instructor-class-report"):
            page.goto((xss_course / "report.html").as_uri())
            expect(page.locator("h1", has_text="Class report")).to_be_visible()
            expect(page.locator("h2", has_text=A2)).to_be_visible()
            figure = page.locator("img").first
            expect(figure).to_be_visible()
            assert figure.evaluate("img => img.complete && img.naturalWidth > 0"), "the figure did not render"
            _assert_inert(page, dialogs, "class report")
            text = page.inner_text("body")
            assert XSS_HINT in text and "xss_hint" in text, "the student's message is not shown as text"
            assert all(u.startswith(("file:", "data:")) for u in requests), f"the page loaded {requests}"
            page.set_viewport_size({"width": 1400, "height": 1500})
            _shot(page, "instructor-class-report")
    finally:
        page.close()


# ----------------------------------------------------------------------------- a written answer

@pytest.fixture(scope="module")
def written_answer(xss_course, tmp_path_factory):
    """ada's lesson 1 with its written answers, graded by `bngrader grade` into the hostile class's
    scratch course (one course for every Formgrader test: Formgrader keeps the first gradebook
    its grading view opens for the whole server session, whatever ?path= says later), from a
    scratch copy of the course (scratch_course.py)."""
    source = make_course(tmp_path_factory.mktemp("written") / "course", [L1])
    hand_in(source, source / "hand-ins" / "ada", L1, {w: f"{w}: so that a constant feature divides by "
                                                      "sqrt(eps), not by zero." for w in points(L1)[1]}, True)
    bngrader(source, "grade", L1, "--submitted", str(source / "hand-ins"), "--out", str(xss_course),
             "--workers", "1", "--deadline", "2026-11-01 12:00 UTC")
    # Formgrader's Manage Assignments lists the course's source folder: lesson 1's, with its question
    shutil.copytree(source / "solutions" / L1, xss_course / "solutions" / L1)
    return source


# Holds back the grading view's fetch of the stored grades by 1.5 s, so the test always meets the
# order a busy server gives: score inputs on the page, their views not yet bound.
SLOW_GRADE_FETCH = """
const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.open = function (method, url) { this.bnUrl = String(url); return open.apply(this, arguments); };
XMLHttpRequest.prototype.send = function () {
  if (!this.bnUrl.includes('/api/grades?')) return send.apply(this, arguments);
  setTimeout(() => send.apply(this, arguments), 1500);
};"""


def test_a_written_answer_graded_in_formgrader_reaches_the_grades(browser, lab, xss_course, written_answer):
    """Formgrader shows the due date `bngrader grade --deadline` recorded; the instructor types a
    score for each written answer in its grading view; the gradebook stores them and `bngrader
    export` puts them in the CSVs, as the README's step 4 says."""
    from nbgrader.api import Gradebook

    auto, written = points(L1)
    manual = dict(zip(written, (1.5, 2.0)))
    db = xss_course / "gradebook.db"
    with Gradebook(f"sqlite:///{db}") as gb:
        sid = gb.find_submission_notebook(L1, L1, "ada").id
        assert all(gb.find_grade(w, L1, L1, "ada").needs_manual_grade for w in written)
    page = browser.new_page()
    page.add_init_script(SLOW_GRADE_FETCH)  # as on a loaded CI machine, where this raced once
    try:
        with _shot_on_failure(page, "formgrader-written-answer"):
            page.goto(f"{lab}/formgrader?path={xss_course}&token={TOKEN}")
            row = page.locator("tr", has=page.get_by_role("link", name=L1, exact=True))
            expect(row.locator("td.duedate")).to_contain_text("2026-11-01", timeout=RUN_TIMEOUT)  # --deadline's
            page.goto(f"{lab}/formgrader/submissions/{sid}/?token={TOKEN}")
            # The score inputs are in the page before Formgrader has fetched the grades and bound
            # a view to each (formgrade.js, loadGrades); a score typed earlier is lost, because
            # binding renders the stored (empty) score over it. Type only once the views exist.
            page.wait_for_function("() => typeof formgrader !== 'undefined' && formgrader.grades"
                                   " && formgrader.grades.loaded", timeout=UI_TIMEOUT)
            for w, value in manual.items():
                expect(page.locator(f"text={w}: so that a constant feature").first).to_be_visible(timeout=UI_TIMEOUT)
                score = page.locator(f"input.score#{w}")
                expect(score).to_be_visible(timeout=UI_TIMEOUT)
                score.fill(f"{value:g}")
                score.press("Tab")  # Formgrader saves on change
            deadline = time.time() + 30
            while True:
                with Gradebook(f"sqlite:///{db}") as gb:
                    saved = {w: (gb.find_grade(w, L1, L1, "ada").manual_score,
                                 gb.find_grade(w, L1, L1, "ada").needs_manual_grade) for w in written}
                if saved == {w: (v, False) for w, v in manual.items()} or time.time() > deadline:
                    break
                time.sleep(0.5)
            assert saved == {w: (v, False) for w, v in manual.items()}, f"Formgrader did not store them: {saved}"
            _shot(page, "formgrader-written-answer")
            page.goto(f"{lab}/formgrader/gradebook/{L1}/{L1}?token={TOKEN}")  # Manual Grading's list: the total
            total, most = auto + sum(manual.values()), auto + sum(written.values())
            expect(page.locator("td.score").first).to_have_text(f"{total:g} / {most:g}", timeout=RUN_TIMEOUT)
            expect(page.locator("td.written-score").first).to_have_text(
                f"{sum(manual.values()):g} / {sum(written.values()):g}")
    finally:
        page.goto(f"{lab}/formgrader?token={TOKEN}")  # back to the course's own Formgrader config
        page.close()
    bngrader(written_answer, "export", L1, "--out", str(xss_course))
    with open(xss_course / "grades" / f"{L1}.csv", newline="") as f:
        ada = next(csv.DictReader(f))
    assert (ada["student"], ada["score"], ada["max_score"], ada["flags"]) == ("ada", f"{total:g}", f"{most:g}", "")
    assert all(ada[w] == f"{v:g}" for w, v in manual.items())


def test_committed_learner_notebooks_untouched(browser, notebook_bytes):
    changed = [p.relative_to(ROOT) for p, data in notebook_bytes.items() if p.read_bytes() != data]
    assert not changed, f"the browser session modified {changed}"
