import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from bngrader import course, reference  # noqa: E402

reference.enable()  # the tests import the instructor reference and checks (bn_reference, bn_checks, ...)


def _notebooks(folder):
    return sorted((ROOT / folder).glob("*/*.ipynb"))


SOLUTION_NOTEBOOKS = _notebooks("solutions")
REPORTS: dict[str, list[str]] = {}  # title -> lines, printed after the test summary
LEARNER_NOTEBOOKS = _notebooks("notebooks")


def nb_id(path):
    return path.parent.name


@pytest.fixture(scope="session")
def full_run():
    """solution path -> ``course.execute(solution)`` in full mode (a learner's "Run All"), run once
    per session and shared by the modules that compare it (test_execute, test_autograde_roundtrip)."""
    runs: dict = {}

    def run(solution):
        if solution not in runs:
            runs[solution] = course.execute(solution)
        return runs[solution]

    return run


@pytest.fixture(scope="session")
def fresh_release(tmp_path_factory):
    """notebooks/ regenerated from solutions/ into a temporary folder."""
    return course.release(tmp_path_factory.mktemp("release"))


def load_catalog_file(path) -> dict:
    """Execute a catalog implementation into a fresh namespace, as an answer cell would be."""
    ns: dict = {"__name__": f"catalog_{path.parent.parent.name}_{path.stem}"}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # catalog files are our own test data
    return ns


def judge_catalog_entry(results, path, ns, msg, *, generic=(), leaks=r"\d\.\d{4,}"):
    """Record a catalog file's verdict in ``results`` and assert it. A file under ``wrong/`` must
    be caught with a message that names its EXPECT phrase, leaks no value (``leaks``) and is none
    of the checks' ``generic`` fallbacks; a file under ``correct/`` must pass."""
    import re

    if path.parent.name == "correct":
        results.append((f"correct/{path.stem}", ns["TARGET"], "passed" if msg is None else "REJECTED", msg or ""))
        assert msg is None, f"{path.name}: a correct implementation was rejected: {msg}"
        return
    results.append((f"wrong/{path.stem}", ns["TARGET"], "caught" if msg else "MISSED", msg or ""))
    assert msg is not None, f"{path.name}: the check passed a wrong implementation"
    assert not re.search(leaks, msg), f"{path.name}: message shows numbers: {msg}"
    assert not any(g in msg for g in generic), f"{path.name}: generic message: {msg}"
    expect = ns["EXPECT"]
    assert expect.lower() in msg.lower(), f"{path.name}: expected the message to name {expect!r}: {msg}"


def judge_visible_verdict(path, msg, fallbacks):
    """The released notebook's visible check on a catalog entry gives the hidden check's verdict:
    ``msg`` (its failure message, None if it passed) names the entry's EXPECT phrase and none of the
    generic ``fallbacks`` for a file under ``wrong/``; a file under ``correct/`` passes."""
    if path.parent.name == "correct":
        assert msg is None, f"{path.name}: the visible check rejects a correct implementation: {msg}"
        return
    expect = load_catalog_file(path)["EXPECT"]
    assert msg is not None, f"{path.name}: the visible check passes a wrong implementation"
    assert not any(f in msg for f in fallbacks), f"{path.name}: generic visible message: {msg}"
    assert expect.lower() in msg.lower(), f"{path.name}: the visible check does not name {expect!r}: {msg}"


def catalog_table(results) -> list[str]:
    """Lines of a (implementation, target, verdict, message) table for REPORTS."""
    w = max(len(r[0]) for r in results)
    t = max(len(r[1]) for r in results)
    lines = [f"{'implementation':<{w}}  {'target':<{t}}  verdict   message", "-" * (w + t + 60)]
    for impl, target, verdict, msg in results:
        excerpt = msg if len(msg) <= 110 else msg[:107] + "..."
        lines.append(f"{impl:<{w}}  {target:<{t}}  {verdict:<8}  {excerpt}")
    return lines


# Parallel runs (pytest-xdist; pyproject's addopts: -n auto --dist loadscope). A module is one work
# unit, so its module-scoped fixtures (a graded class, a catalog course) are built once; modules that
# share a session fixture are one unit, so it is built once too. Units start heaviest first (longest
# first keeps two workers busy to the end); the order is by cost measured in a full run, and a unit
# not listed starts after them, in collection order.
SHARED_UNITS = {"test_execute": "full_run", "test_autograde_roundtrip": "full_run"}  # session fixture full_run
HEAVIEST_FIRST = ["full_run", "test_catalog_autograde", "test_grade", "test_stock_identity", "test_browser",
                  "test_distributed", "test_validation", "test_progress", "test_term", "test_report"]


def work_unit(nodeid: str) -> str:
    """The work unit of a test: its module's name, or the shared unit of modules in SHARED_UNITS."""
    module = Path(nodeid.split("::")[0]).stem
    return SHARED_UNITS.get(module, module)


def pytest_collection_modifyitems(config, items):
    rank = {unit: i for i, unit in enumerate(HEAVIEST_FIRST)}
    order = {}  # unit -> (its rank, or after every listed unit; then its first appearance)
    for item in items:
        unit = work_unit(item.nodeid)
        order.setdefault(unit, (rank.get(unit, len(rank)), len(order)))
    items.sort(key=lambda item: order[work_unit(item.nodeid)])  # stable: a unit's own tests keep their order


class _Parallel:
    """xdist's side: work units as above, and each worker's REPORTS carried to the controller."""

    @pytest.hookimpl
    def pytest_xdist_make_scheduler(self, config, log):
        from xdist.scheduler import LoadScopeScheduling

        class UnitScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid):
                return work_unit(nodeid)

        return UnitScheduling(config, log)

    @pytest.hookimpl
    def pytest_sessionfinish(self, session):
        if hasattr(session.config, "workeroutput"):
            session.config.workeroutput["reports"] = json.dumps(REPORTS)

    @pytest.hookimpl
    def pytest_testnodedown(self, node, error):
        REPORTS.update(json.loads(getattr(node, "workeroutput", {}).get("reports", "{}")))


def pytest_configure(config):
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_Parallel(), "bncourse-parallel")


def pytest_terminal_summary(terminalreporter):
    for title, lines in sorted(REPORTS.items()):
        terminalreporter.write_sep("=", title)
        for line in lines:
            terminalreporter.write_line(line)
