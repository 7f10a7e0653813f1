"""Static scan of a submission's code cells: flags code for manual review.

The scan never changes a score. It reports code that has no place in an answer and is
typical of attempts to fool a grader: patching library or builtin attributes, ending
the process, signal tricks, reaching into the interpreter, running other code, or
reading files outside the submission; and the obfuscated forms of the same: attribute
names built at run time (``getattr(os, "sys" + "tem")``, ``chr()``, ``join``, f-strings,
``bytes.decode``, ``base64``, ``codecs``), a module's namespace through ``vars()`` or
``__dict__``, interpreter internals (``__code__``, ``__globals__``, ``__class__``,
``__builtins__`` ...), ``sys.modules`` by computed names, and the grading bridge's own
module in the kernel (``_bncourse_agent``). Imports are followed through aliases
(``import os as o``, ``from os import system``) across the notebook's cells.

The scan is advice for a human reviewer: the sandbox and the data-only bridge are the
defence, and code the scan misses gains nothing from them.
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
           "bn_reference": "imports the reference solution", "keras_checks": "imports the grader's checks",
           "experiment_checks": "imports the grader's checks", "concept_checks": "imports the grader's checks",
           "practice_checks": "imports the grader's checks"}
CALLS.update({
    "threading.enumerate": "lists the interpreter's threads (the grading bridge runs in one)",
    "sys._current_frames": "inspects other threads' frames",
    "sys.settrace": "traces other code", "sys.setprofile": "traces other code",
    "threading.settrace": "traces other code", "sys.addaudithook": "installs an audit hook",
})
BRIDGE = "_bncourse_agent"  # the grading bridge's module in the kernel (bngrader/wire.py)
# Interpreter internals: reading them reaches other code's globals or frames, assigning them
# disguises or swaps functions. None has a place in an answer.
DUNDERS = {"__module__", "__qualname__", "__code__", "__globals__", "__class__", "__builtins__", "__closure__",
           "__defaults__", "__kwdefaults__", "__subclasses__", "__bases__", "__base__", "__mro__",
           "__getattribute__", "__func__", "__self__", "__loader__", "__spec__", "__wrapped__", "f_globals",
           "f_locals", "f_builtins", "f_back", "gi_frame", "cr_frame", "tb_frame", "co_code"}
ATTR_CALLS = {"getattr", "setattr", "delattr", "hasattr", "operator.attrgetter", "operator.methodcaller",
              "inspect.getattr_static", "object.__getattribute__"}
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


def _parse(source: str):
    """The cell's syntax tree (IPython magics and shell lines blanked), or None."""
    lines = [ln if not ln.lstrip().startswith(("%", "!")) else "" for ln in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def aliases(tree) -> dict[str, str]:
    """Local name -> the module or object it imports (``import numpy as np``: np -> numpy;
    ``from os import system as s``: s -> os.system)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _resolve(name: str, names: dict[str, str]) -> str:
    head, _, rest = name.partition(".")
    return names[head] + (f".{rest}" if rest else "") if head in names else name


def _assigned(tree) -> dict[str, ast.AST]:
    """Names assigned exactly once, to what (for folding strings built in steps)."""
    seen: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    seen.setdefault(t.id, []).append(node.value)
        elif isinstance(node, (ast.AugAssign, ast.For, ast.comprehension, ast.NamedExpr)):
            t = node.target
            if isinstance(t, ast.Name):
                seen.setdefault(t.id, []).extend([None, None])
    return {k: v[0] for k, v in seen.items() if len(v) == 1}


class _Folder:
    """Evaluates the string a constant expression builds, without running anything: the
    usual ways to hide a name (+, *, join, f-strings, chr, slicing, bytes.decode, base64,
    codecs, str methods). Returns None for anything it cannot know."""

    def __init__(self, names: dict[str, str], env: dict[str, ast.AST]):
        self.names, self.env, self.depth = names, env, 0

    def __call__(self, node):
        self.depth += 1
        try:
            return None if self.depth > 40 else self._fold(node)
        except Exception:  # noqa: BLE001 - whatever it is, it is not a constant we can know
            return None
        finally:
            self.depth -= 1

    def _fold(self, node):
        """The constant ``node`` evaluates to, one case per way of building a string, else None."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes, int)):
            return node.value
        if isinstance(node, ast.Name):
            return self(self.env[node.id]) if node.id in self.env else None
        fold = {ast.UnaryOp: self._unary, ast.BinOp: self._binop, ast.JoinedStr: self._joined, ast.List: self._items,
                ast.Tuple: self._items, ast.Subscript: self._subscript, ast.Call: self._call}.get(type(node))
        return fold(node) if fold else None

    def _unary(self, node):
        value = self(node.operand) if isinstance(node.op, ast.USub) else None
        return -value if isinstance(value, int) else None

    def _binop(self, node):
        left, right = self(node.left), self(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add) and type(left) is type(right):
            return left + right
        if isinstance(node.op, ast.Mult) and isinstance(right, int) and 0 <= right < 1000:
            return left * right
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            return left % right
        return None

    def _joined(self, node):
        parts = [self(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values]
        return "".join(str(p) for p in parts) if all(p is not None for p in parts) else None

    def _items(self, node):
        items = [self(e) for e in node.elts]
        return items if all(i is not None for i in items) else None

    def _subscript(self, node):
        value = self(node.value)
        if value is None:
            return None
        if isinstance(node.slice, ast.Slice):
            bounds = [self(b) if b is not None else None for b in (node.slice.lower, node.slice.upper,
                                                                   node.slice.step)]
            return value[slice(*bounds)]
        return value[self(node.slice)]

    def _call(self, node):
        args = [self(a) for a in node.args]
        func = _resolve(_dotted(node.func), self.names)
        for fold in (self._builtin_call, self._decoding_call):
            value = fold(node, func, args)
            if value is not None:
                return value
        return self._method_call(node, args) if isinstance(node.func, ast.Attribute) else None

    @staticmethod
    def _builtin_call(node, func, args):
        if func == "chr" and isinstance(args[0], int):
            return chr(args[0])
        if func in ("str", "bytes", "bytearray") and args and args[0] is not None:
            return args[0] if func == "str" else bytes(args[0])
        if func in ("map",) and _dotted(node.args[0]) == "chr" and isinstance(args[1], list):
            return [chr(i) for i in args[1]]
        if func in ("reversed", "list", "tuple") and args and args[0] is not None:
            return list(reversed(args[0])) if func == "reversed" else list(args[0])
        return None

    @staticmethod
    def _decoding_call(node, func, args):
        import base64
        import binascii
        import codecs

        if func in ("bytes.fromhex", "bytearray.fromhex"):
            return bytes.fromhex(args[0])
        if func in ("base64.b64decode", "base64.b32decode", "base64.b16decode", "base64.a85decode",
                    "base64.b85decode", "base64.urlsafe_b64decode", "binascii.unhexlify", "binascii.a2b_base64"):
            return getattr(base64 if func.startswith("base64") else binascii, func.split(".")[1])(args[0])
        if func in ("codecs.decode", "codecs.encode"):
            return getattr(codecs, func.split(".")[1])(*args)
        return None

    def _method_call(self, node, args):
        owner = self(node.func.value)
        if isinstance(owner, (str, bytes)) and node.func.attr in (
                "join", "decode", "encode", "replace", "lower", "upper", "strip", "lstrip", "rstrip",
                "format", "swapcase", "title", "capitalize", "translate"):
            if all(a is not None for a in args):
                return getattr(owner, node.func.attr)(*args)
        return None


def _parents(tree) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _modulish(node, names: dict[str, str]) -> str:
    """The module ``node`` evaluates to, as far as the code says (an imported name, sys.modules[...],
    __import__(...)), else ""."""
    name = _resolve(_dotted(node), names)
    if name and (name.split(".")[0] in names or name.split(".")[0] in LIBRARIES):
        return name
    if isinstance(node, ast.Subscript) and _resolve(_dotted(node.value), names) == "sys.modules":
        return "sys.modules[...]"
    if isinstance(node, ast.Call) and _resolve(_dotted(node.func), names) in (
            "__import__", "importlib.import_module", "sys.modules.get"):
        return f"{_resolve(_dotted(node.func), names)}(...)"
    return ""


def _text(value) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return value if isinstance(value, str) else None


TWO_ARGS = {"getattr", "setattr", "delattr", "hasattr", "inspect.getattr_static", "object.__getattribute__"}


def _attr_call(node: ast.Call, func: str, fold: _Folder) -> list[tuple[int, str]]:
    """getattr & co. with a name that is not a literal, or that names interpreter internals."""
    if func not in ATTR_CALLS or len(node.args) < (2 if func in TWO_ARGS else 1):
        return []
    arg = node.args[1] if func in TWO_ARGS else node.args[0]
    value, found = _text(fold(arg)), []
    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        known = f" ({value[:40]!r})" if value else ""
        found.append((node.lineno, f"{func.split('.')[-1]} with an attribute name built at run time{known}"))
    if value and any(part in DUNDERS or part == "__dict__" for part in value.split(".")):
        found.append((node.lineno, f"reaches interpreter internals ({value[:40]})"))
    return found


def _literal(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _sys_modules(node, parent) -> str | None:
    """A use of ``sys.modules`` other than a lookup by a literal name."""
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return None if _literal(parent.slice) else "looks up sys.modules by a computed name"
    if isinstance(parent, ast.Attribute) and parent.attr in ("get", "pop", "setdefault"):
        return None  # the call is checked with its argument
    return "walks sys.modules"


def _internals(node, names: dict[str, str]) -> list[str]:
    """Module namespaces, interpreter internals and the bridge reached by one node."""
    found = []
    if isinstance(node, ast.Call):
        func = _resolve(_dotted(node.func), names)
        if func == "vars" and node.args and _modulish(node.args[0], names):
            found.append(f"reads a module's namespace (vars({_modulish(node.args[0], names)}))")
        if func in ("sys.modules.get", "sys.modules.pop", "sys.modules.setdefault") and node.args:
            found += [] if _literal(node.args[0]) else ["looks up sys.modules by a computed name"]
    elif isinstance(node, ast.Attribute) and node.attr == "__dict__" and _modulish(node.value, names):
        found.append(f"reads a module's namespace ({_modulish(node.value, names)}.__dict__)")
    elif isinstance(node, (ast.Attribute, ast.Name)) and (getattr(node, "attr", None) or node.id) in DUNDERS:
        verb = "assigns" if isinstance(node.ctx, (ast.Store, ast.Del)) else "reaches"
        found.append(f"{verb} interpreter internals ({getattr(node, 'attr', None) or node.id})")
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        mods = [a.name for a in node.names] + ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found += [f"names the grading bridge ({BRIDGE})"] if any(BRIDGE in m for m in mods) else []
    return found


def _dynamic(tree, names: dict[str, str]) -> list[tuple[int, str]]:
    """Findings for obfuscated dynamic access (see the module docstring)."""
    fold, parents, found = _Folder(names, _assigned(tree)), _parents(tree), []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            found += _attr_call(node, _resolve(_dotted(node.func), names), fold)
        found += [(line, why) for why in _internals(node, names)]
        if isinstance(node, (ast.Attribute, ast.Name)) and _resolve(_dotted(node), names) == "sys.modules":
            why = _sys_modules(node, parents.get(id(node)))
            found += [(line, why)] if why else []
        if isinstance(node, (ast.Constant, ast.BinOp, ast.JoinedStr, ast.Call, ast.Name, ast.Attribute)):
            text = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                    else _text(fold(node)))
            if isinstance(text, str) and BRIDGE in text:
                found.append((line, f"names the grading bridge ({BRIDGE})"))
    return found


def scan_source(source: str, names: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """``[(line, reason)]`` for one cell's code (IPython magics and shell lines are skipped).
    ``names``: aliases imported by other cells of the notebook (see :func:`aliases`)."""
    tree = _parse(source)
    if tree is None:
        return []
    names = {**(names or {}), **aliases(tree)}
    found = _dynamic(tree, names)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            found += [(line, why) for why in _assignments(node, names)]
        elif isinstance(node, ast.Call):
            found += [(line, why) for why in _call(node, names)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [(line, MODULES[m.split(".")[0]]) for m in mods if m.split(".")[0] in MODULES]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.search(r"(^|/)(solutions|autograder)/|gradebook\.db|BEGIN HIDDEN TESTS", node.value):
                found.append((line, f"names a grader path ({node.value[:60]!r})"))
    return list(dict.fromkeys(sorted(found, key=lambda f: f[0])))  # in line order, each once


def _assignments(node, names: dict[str, str]) -> list[str]:
    """Why an assignment or deletion is worth a look: it patches an imported module or object (any
    module: json, socket, threading ... are the grading bridge's own), or replaces sys.modules entries."""
    targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
    out = []
    for t in targets:
        written = _dotted(t.value) if isinstance(t, (ast.Attribute, ast.Subscript)) else ""
        name = _resolve(written, names)
        if isinstance(t, ast.Attribute) and (name.split(".")[0] in LIBRARIES or written.split(".")[0] in names):
            out.append(f"patches a library attribute ({name}.{t.attr})")
        elif isinstance(t, ast.Subscript) and name in ("sys.modules", "__builtins__", "builtins.__dict__"):
            out.append(f"replaces entries of {name}")
    return out


READERS = ("open", "io.open", "os.listdir", "os.scandir", "os.walk", "glob.glob", "pathlib.Path", "Path", "np.load",
           "numpy.load", "np.loadtxt", "shutil.copy", "os.open")


def _call(node: ast.Call, names: dict[str, str]) -> list[str]:
    """Why a call is worth a look: a call of :data:`CALLS`, or a file reader given a grader path."""
    name = _resolve(_dotted(node.func), names)
    out = [CALLS[name]] if name in CALLS else []
    if name in READERS:
        for arg in node.args[:1]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and PATH_WORDS.search(arg.value):
                out.append(f"reads outside the submission ({arg.value!r})")
    return out


def scan_notebook(nb, cell_filter=None) -> list[str]:
    """Findings over a notebook's code cells, as ``"cell <id>, line <n>: <reason>"``."""
    out, names = [], {}
    for cell in nb.cells:  # imports of every cell (the given ones too) name what answers use
        tree = _parse(cell.source) if cell.cell_type == "code" else None
        names.update(aliases(tree) if tree else {})
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or (cell_filter and not cell_filter(cell)):
            continue
        cid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"#{i + 1}"
        out += [f"cell {cid}, line {line}: {why}" for line, why in scan_source(cell.source, names)]
    return out
