"""Static scan of a submission's code cells: flags code for manual review.

The scan never changes a score. It reports code that has no place in an answer and is
typical of attempts to fool a grader: patching library or builtin attributes, ending
the process, signal tricks, reaching into the interpreter, running other code, or
reading files outside the submission.
"""

from __future__ import annotations

import ast
import re

# Module names a learner's notebook imports; assigning to their attributes is patching.
LIBRARIES = {"np", "numpy", "keras", "tf", "tensorflow", "bncourse", "builtins", "math", "sys", "os",
             "L", "layers", "checks", "nbgrader", "unittest", "pytest"}
CALLS = {
    "os._exit": "ends the process (os._exit)",
    "os.kill": "sends a signal (os.kill)",
    "os.system": "runs a shell command",
    "os.popen": "runs a shell command",
    "os.fork": "forks the process",
    "sys.exit": "exits the interpreter",
    "exit": "exits the interpreter",
    "quit": "exits the interpreter",
    "signal.signal": "changes a signal handler",
    "signal.alarm": "sets a signal alarm",
    "signal.pthread_sigmask": "blocks signals",
    "exec": "runs code from a string (exec)",
    "eval": "evaluates code from a string (eval)",
    "compile": "compiles code from a string",
    "__import__": "imports dynamically",
    "importlib.import_module": "imports dynamically",
    "setattr": "sets attributes dynamically (setattr)",
    "globals": "reaches into the global namespace",
    "sys._getframe": "inspects interpreter frames",
    "inspect.stack": "inspects interpreter frames",
    "inspect.currentframe": "inspects interpreter frames",
    "gc.get_objects": "walks every object in the interpreter",
    "ctypes.CDLL": "loads native code",
    "subprocess.run": "runs a subprocess",
    "subprocess.Popen": "runs a subprocess",
    "subprocess.call": "runs a subprocess",
    "subprocess.check_output": "runs a subprocess",
}
MODULES = {"ctypes": "imports ctypes", "subprocess": "imports subprocess", "signal": "imports signal",
           "importlib": "imports importlib", "builtins": "imports builtins", "gc": "imports gc",
           "socket": "opens network sockets", "urllib": "fetches URLs", "requests": "fetches URLs",
           "nbgrader": "imports nbgrader", "bn_checks": "imports the grader's checks",
           "bn_reference": "imports the reference solution", "keras_checks": "imports the grader's checks"}
PATH_WORDS = re.compile(r"(^|[/\\.])(solutions|autograder|gradebook|submitted|autograded|etc/passwd)\b|^/|\.\./")


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def scan_source(source: str) -> list[tuple[int, str]]:
    """``[(line, reason)]`` for one cell's code (IPython magics and shell lines are skipped)."""
    lines = [ln if not ln.lstrip().startswith(("%", "!")) else "" for ln in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                name = _dotted(t.value) if isinstance(t, (ast.Attribute, ast.Subscript)) else ""
                if isinstance(t, ast.Attribute) and name.split(".")[0] in LIBRARIES:
                    found.append((line, f"patches a library attribute ({name}.{t.attr})"))
                elif isinstance(t, ast.Subscript) and name in ("sys.modules", "__builtins__", "builtins.__dict__"):
                    found.append((line, f"replaces entries of {name}"))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in CALLS:
                found.append((line, CALLS[name]))
            if name in ("open", "io.open", "os.listdir", "os.scandir", "os.walk", "glob.glob", "pathlib.Path",
                        "Path", "np.load", "numpy.load", "np.loadtxt", "shutil.copy", "os.open"):
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and PATH_WORDS.search(arg.value):
                        found.append((line, f"reads outside the submission ({arg.value!r})"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in mods:
                top = mod.split(".")[0]
                if top in MODULES:
                    found.append((line, MODULES[top]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.search(r"(^|/)(solutions|autograder)/|gradebook\.db|BEGIN HIDDEN TESTS", node.value):
                found.append((line, f"names a grader path ({node.value[:60]!r})"))
    seen, unique = set(), []
    for item in found:
        if item not in seen:
            seen.add(item)
            unique.append(item)
    return unique


def scan_notebook(nb, cell_filter=None) -> list[str]:
    """Findings over a notebook's code cells, as ``"cell <id>, line <n>: <reason>"``."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or (cell_filter and not cell_filter(cell)):
            continue
        cid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{i + 1}"
        out += [f"cell {cid}, line {line}: {why}" for line, why in scan_source(cell.source)]
    return out
