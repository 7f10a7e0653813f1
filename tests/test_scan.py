"""``bngrader/scan.py``: what the static scan flags for a human, and what it must not.

Each class of finding is flagged in several disguises; the course's own correct answers
(every answer cell of every solution notebook, as grade.py scans them, and the correct
implementations of the catalogs) give no finding at all.
"""

from __future__ import annotations

import nbformat
import pytest

from bngrader import course, scan
from conftest import ROOT, SOLUTION_NOTEBOOKS


def reasons(source: str) -> list[str]:
    return [why for _, why in scan.scan_source(source)]


def flagged(source: str, phrase: str) -> bool:
    return any(phrase in why for why in reasons(source))


COMPUTED_NAMES = {  # getattr & co. with a name built at run time, one disguise each
    "concatenation": 'import os\ngetattr(os, "sys" + "tem")("id")',
    "join": 'import os\nf = getattr(os, "".join(["sy", "st", "em"]))',
    "f-string": 'import os\npart = "tem"\ngetattr(os, f"sys{part}")',
    "chr": 'import os\ngetattr(os, chr(115) + chr(121) + "stem")',
    "map chr": 'import os\ngetattr(os, "".join(map(chr, [115, 121, 115, 116, 101, 109])))',
    "bytes decode": 'import os\ngetattr(os, b"system".decode())',
    "bytes list": 'import os\ngetattr(os, bytes([115, 121, 115, 116, 101, 109]).decode())',
    "base64": 'import base64, os\ngetattr(os, base64.b64decode("c3lzdGVt").decode())',
    "base64 alias": 'from base64 import b64decode as d\nimport os\ngetattr(os, d(b"c3lzdGVt").decode())',
    "codecs rot13": 'import codecs, os\ngetattr(os, codecs.decode("flfgrz", "rot13"))',
    "reversed slice": 'import os\ngetattr(os, "metsys"[::-1])',
    "hex": 'import os\ngetattr(os, bytes.fromhex("73797374656d").decode())',
    "variable in steps": 'import os\na = "sys"\nb = a + "tem"\ngetattr(os, b)',
    "parameter": "def reach(obj, name):\n    return getattr(obj, name)",
    "chain": 'import numpy as np\ngetattr(getattr(np, "test" + "ing"), "assert_" + "allclose")',
    "setattr": 'import numpy as np\nsetattr(np, "all" + "close", lambda *a, **k: True)',
    "delattr": 'import numpy as np\ndelattr(np, "".join(["me", "an"]))',
    "hasattr": 'import numpy as np\nhasattr(np, "%s" % "mean")',
    "attrgetter": 'import operator, os\noperator.attrgetter("sys" + "tem")(os)',
    "getattribute": 'import os\nobject.__getattribute__(os, "sys" + "tem")',
}


@pytest.mark.parametrize("variant", sorted(COMPUTED_NAMES))
def test_attribute_names_built_at_run_time_are_flagged(variant):
    assert flagged(COMPUTED_NAMES[variant], "with an attribute name built at run time"), reasons(COMPUTED_NAMES[variant])


@pytest.mark.parametrize("variant", ["concatenation", "join", "chr", "base64", "codecs rot13", "reversed slice",
                                     "variable in steps", "hex", "map chr", "f-string"])
def test_the_folded_name_is_shown_to_the_reviewer(variant):
    assert flagged(COMPUTED_NAMES[variant], "('system')"), reasons(COMPUTED_NAMES[variant])


@pytest.mark.parametrize("source", [
    "import numpy as np\nvars(np)['allclose'] = lambda *a, **k: True",
    "import numpy\nns = vars(numpy)",
    "import numpy as np\nnp.__dict__['mean'] = len",
    "import bncourse.checks as c\nc.__dict__.update(expect_close=print)",
    "import sys\nvars(sys.modules['numpy'])",
    "d = __import__('numpy').__dict__",
    "import importlib\nimportlib.import_module('numpy').__dict__",
    "from bncourse import checks\nvars(checks)",
])
def test_module_namespaces_through_vars_or_dict_are_flagged(source):
    assert flagged(source, "reads a module's namespace"), reasons(source)


@pytest.mark.parametrize("source, phrase", [
    ("def f(): pass\nf.__code__ = (lambda: 1).__code__", "assigns interpreter internals (__code__)"),
    ("def f(): pass\nf.__module__ = 'numpy'", "assigns interpreter internals (__module__)"),
    ("def f(): pass\nf.__qualname__ = 'allclose'", "assigns interpreter internals (__qualname__)"),
    ("def f(): pass\ng = f.__globals__", "reaches interpreter internals (__globals__)"),
    ("x = ().__class__.__base__.__subclasses__()", "reaches interpreter internals (__class__)"),
    ("x = ().__class__.__base__.__subclasses__()", "reaches interpreter internals (__subclasses__)"),
    ("__builtins__.print = len", "reaches interpreter internals (__builtins__)"),
    ("__builtins__ = {}", "assigns interpreter internals (__builtins__)"),
    ("import numpy as np\nb = np.mean.__globals__['__builtins__']", "reaches interpreter internals (__globals__)"),
    ("def f(): pass\nf.__defaults__ = (1,)", "assigns interpreter internals (__defaults__)"),
    ("import sys\nframe = sys._getframe().f_back", "reaches interpreter internals (f_back)"),
    ("def f(): pass\ngetattr(f, '__glob' + 'als__')", "reaches interpreter internals (__globals__)"),
    ("def f(): pass\ngetattr(f, '__code__')", "reaches interpreter internals (__code__)"),
    ("class A: pass\nA().__class__ = int", "assigns interpreter internals (__class__)"),
])
def test_interpreter_internals_are_flagged(source, phrase):
    assert flagged(source, phrase), reasons(source)


@pytest.mark.parametrize("source", [
    "import sys\nsys.modules['_bncourse_agent'].agent = None",
    "import sys\nagent = sys.modules.get('_bncourse_agent')",
    "import sys\nm = sys.modules['_bncourse' + '_agent']",
    "import sys\nm = sys.modules[''.join(['_bn', 'course', '_agent'])]",
    "import _bncourse_agent\n_bncourse_agent.agent.listen = print",
    "from _bncourse_agent import agent",
    "import importlib\nimportlib.import_module(f\"_bn{'course'}_agent\")",
    "name = '_BNCOURSE_AGENT'.lower()\n__import__(name)",
    "_bncourse_agent.agent.handlers.clear()",
])
def test_the_grading_bridge_is_flagged_however_named(source):
    assert flagged(source, "names the grading bridge (_bncourse_agent)"), reasons(source)


@pytest.mark.parametrize("source, phrase", [
    ("import sys\nname = input()\nsys.modules[name]", "looks up sys.modules by a computed name"),
    ("import sys\nsys.modules.get('nu' + 'mpy')", "looks up sys.modules by a computed name"),
    ("import sys as s\ns.modules[chr(110) + 'umpy']", "looks up sys.modules by a computed name"),
    ("from sys import modules\nmodules[''.join('np')]", "looks up sys.modules by a computed name"),
    ("import sys\nfor m in list(sys.modules.values()):\n    pass", "walks sys.modules"),
    ("import sys\nmods = dict(sys.modules)", "walks sys.modules"),
    ("from sys import modules as mm\nfor k in mm:\n    pass", "walks sys.modules"),
])
def test_sys_modules_by_computed_names_is_flagged(source, phrase):
    assert flagged(source, phrase), reasons(source)


@pytest.mark.parametrize("source, attr", [  # the modules the grading bridge itself uses, however imported
    ("import json\njson.dumps = lambda *a, **k: '{}'", "json.dumps"),
    ("import json as j\nj.loads = eval", "json.loads"),
    ("from json import decoder\ndecoder.scanstring = None", "json.decoder.scanstring"),
    ("import socket\nsocket.socket.sendall = lambda *a: None", "socket.socket.sendall"),
    ("import threading as t\nt.Thread.run = lambda self: None", "threading.Thread.run"),
    ("import io\nio.BytesIO = bytes", "io.BytesIO"),
    ("import base64\nbase64.b64encode = lambda b: b", "base64.b64encode"),
    ("import time\ntime.monotonic = lambda: 0.0", "time.monotonic"),
])
def test_patching_any_imported_module_is_flagged(source, attr):
    assert flagged(source, f"patches a library attribute ({attr})"), reasons(source)


@pytest.mark.parametrize("source, phrase", [
    ("import os as o\no.system('id')", "runs a shell command"),
    ("from os import system\nsystem('id')", "runs a shell command"),
    ("from os import system as run\nrun('id')", "runs a shell command"),
    ("import subprocess as sp\nsp.run(['id'])", "runs a subprocess"),
    ("import numpy as npy\nnpy.allclose = lambda *a, **k: True", "patches a library attribute (numpy.allclose)"),
    ("import threading\nthreading.enumerate()", "lists the interpreter's threads"),
])
def test_calls_are_followed_through_import_aliases(source, phrase):
    assert flagged(source, phrase), reasons(source)


def test_aliases_from_other_cells_of_the_notebook_count():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os as o"),
                                         nbformat.v4.new_code_cell("o.system('id')")])
    assert scan.scan_notebook(nb) == ["cell #2, line 1: runs a shell command"]


@pytest.mark.parametrize("source", [
    "import numpy as np\nx = getattr(np, 'float32')",  # a literal name is ordinary
    "class Layer:\n    def get_config(self):\n        return {'momentum': self.momentum}",
    "import numpy as np\nmu = np.mean(x, axis=0, keepdims=True)\nname = 'a' + 'b'",
    "cache = dict(x=1)\ncache.__len__()",
    "import sys\nnp = sys.modules['numpy']",
    "from types import SimpleNamespace\nc = SimpleNamespace(x=1)\nd = vars(c)",  # an object, not a module
    "text = f'mean {1:.3f}'\nprint(text.join(['a', 'b']))",
])
def test_ordinary_code_is_not_flagged(source):
    assert reasons(source) == []


def _answer_or_new(cell):  # the cells grade.py scans (grade._inspect)
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return not meta or meta.get("solution") or not (meta.get("locked") or meta.get("grade"))


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_no_finding_in_the_course_solutions(path):
    solution = nbformat.read(path, as_version=4)
    answers = [c for c in solution.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers
    assert scan.scan_notebook(nbformat.v4.new_notebook(cells=answers)) == []
    # the way grade.py sees a learner's hand-in: the release, solved, answer and new cells scanned
    assert scan.scan_notebook(course.learner_submission(path.parent.name), _answer_or_new) == []


CATALOGS = sorted((ROOT / "tests").glob("catalog*/correct/*.py"))


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_no_finding_in_the_catalogs_correct_answers(path):
    assert reasons(path.read_text()) == []
