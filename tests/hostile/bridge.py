"""Hostile submissions: the bridge (see hostile/__init__.py).

Every case tries to make the *grader* run code through the test cells' bridge to the
kernel (``bngrader/wire.py``): the kernel forges what the grader receives, so that a
test cell's ``batchnorm_forward(X, gamma, beta)`` becomes ``subprocess.Popen(["/bin/sh",
"-c", CMD], -1, None)`` in the grader (X a dict whose keys are the command line: Popen
runs ``list(X)``; where a test cell passes the grader's own inputs, the forged function is
refused before any call). CMD creates a canary file outside the sandbox and leaves a marker
process: both exist only if grader-side code ran the command. The forgeries:

* ``json.dumps`` patched in the kernel, so the agent's real responses are rewritten on the
  way out (the scan flags the patch, but the defence is the bridge's: the scores and the
  canary show the forgery did nothing, flagged or not):
  the old by-name encoding (``__import__`` through numpy's own imports), a name outside the
  allowlist (``__lib__``), a Keras config with a Lambda layer's bytecode or a function
  from a private Keras module, a response that is not JSON;
* the student's own function disguised as a library one (``__module__``/``__qualname__``);
* ``socket.sendall`` patched, so the agent announces 1 GiB and streams without end, trickles
  a response that never finishes, or answers with 60 MB of empty lists (under the byte cap,
  but ~1.3 GB once parsed: refused on its value count before parsing).

Statuses: a forgery that rewrites a value is refused, that test cell fails with the
reason and the bridge stays in step (the other cells keep their points). A forgery that
breaks the framing (not JSON, 1 GiB announced, too many values) closes the bridge for that
kernel: every later test fails too. A trickle hits the cell's deadline (``timeout``: the
kernel is restarted, later cells are graded). Patching ``json``, ``setattr`` on a function
and ``socket`` are ``suspicious`` as the static scan flags them; the scores are the same either way.
"""

from __future__ import annotations

import base64
import marshal
import os

from hostile import CODE, HONEST, Case, Context

POPEN = "_core._dtype.np.f2py.subprocess.Popen"  # numpy imports f2py, which imports subprocess
FULL = dict(CODE)
FORWARD_FAILS = {**FULL, "test_batchnorm_forward": 0}  # the attacked cell fails; the others keep their points
ALL_FAIL = dict.fromkeys(FULL, 0)

CASES: dict[str, Case] = {
    "bridge_forged_import_popen": Case("suspicious", HONEST, FORWARD_FAILS, "patches a library attribute (json.dumps)"),
    "bridge_forged_lib_popen": Case("suspicious", HONEST, FORWARD_FAILS, "patches a library attribute (json.dumps)"),
    "bridge_forged_keras_lambda": Case("suspicious", HONEST, FORWARD_FAILS),
    "bridge_forged_keras_private_function": Case("suspicious", HONEST, FORWARD_FAILS),
    "bridge_malformed_response": Case("suspicious", HONEST, ALL_FAIL),
    # the disguise changes nothing: the function is the student's own, called in the kernel
    "bridge_disguised_function": Case("suspicious", HONEST, FULL),
    "bridge_oversize_infinite_stream": Case("suspicious", HONEST, ALL_FAIL),
    "bridge_trickle_never_ends": Case("timeout", HONEST, FORWARD_FAILS, "ran longer than"),
    "bridge_value_bomb": Case("suspicious", HONEST, ALL_FAIL),
}


def canary(root, student):
    return root / f"bridge-canary-{student}"


def marker(student):
    return f"bncourse-bridge-marker-{student}"


def _command(root, student) -> str:
    return f"touch {canary(root, student)}; sleep 120; : {marker(student)}"  # sh waits: the marker stays


def _popen_values(root, student, function) -> dict:
    """Encoded values that make ``batchnorm_forward(X, gamma, beta)`` run the command in the grader."""
    argv = ["/bin/sh", "-c", _command(root, student)]
    return {"batchnorm_forward": function, "X": {"__dict__": [[a, 0] for a in argv]}, "gamma": -1, "beta": None}


def _lambda_config(root, student) -> dict:
    """A Keras Lambda layer whose bytecode runs the command when the grader builds or calls it."""
    code = compile(f"lambda x: __import__('os').system({_command(root, student)!r})", "<payload>", "eval")
    fn = next(c for c in code.co_consts if hasattr(c, "co_code"))
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None, "config": {
        "name": "payload", "trainable": True, "arguments": {},
        "function": {"class_name": "__lambda__", "config": {
            "code": base64.b64encode(marshal.dumps(fn)).decode(), "defaults": None, "closure": None}}}}


def _private_function_config() -> dict:
    return {"module": "keras.layers", "class_name": "Activation", "registered_name": None, "config": {
        "name": "payload", "trainable": True,
        "activation": {"module": "keras.src.utils.file_utils", "class_name": "function", "config": "rmtree",
                       "registered_name": None}}}


def _rewrite_responses(forged, *, malformed=False) -> str:
    """Kernel code: rewrite the first response to test_batchnorm_forward's lookup on its way out."""
    return f"""
import json as _json
_real_dumps, _state = _json.dumps, {{"done": False}}


def _forging_dumps(obj, *args, **kwargs):
    ok = obj.get("ok") if isinstance(obj, dict) else None
    if not _state["done"] and isinstance(ok, dict) and "batchnorm_forward" in ok and "BatchNorm" not in ok:
        _state["done"] = True
        if {malformed!r}:
            return "{{this is not json"
        ok.update({{k: v for k, v in {forged!r}.items() if k in ok}})  # only names the test asked for
    return _real_dumps(obj, *args, **kwargs)


_json.dumps = _forging_dumps
"""


def _disguise(root, student) -> str:
    """The student's own forward, named as numpy's Popen; X, gamma, beta set to Popen's arguments
    for the forward test, restored in the next answer cell."""
    argv = {a: 0 for a in ["/bin/sh", "-c", _command(root, student)]}
    return f"""
setattr(batchnorm_forward, "__module__", "numpy")
setattr(batchnorm_forward, "__qualname__", {POPEN!r})
_saved = (X, gamma, beta)
X, gamma, beta = {argv!r}, -1, None
"""


RESTORE = "\nX, gamma, beta = _saved\n"


def _sendall_patch(mode: str) -> str:
    """Kernel code: the agent's answer to the forward test's lookup becomes an endless 1 GiB
    announcement ("oversize") or a response that trickles in forever ("trickle")."""
    return f"""
import socket as _socket
import time as _time
_real_sendall, _state = _socket.socket.sendall, {{"done": False}}


def _hostile_sendall(self, data, *args):
    if (not _state["done"] and self.family == _socket.AF_UNIX and b'"batchnorm_forward"' in data
            and b'"BatchNorm"' not in data):
        _state["done"] = True
        if {mode!r} == "oversize":
            _real_sendall(self, (2**30).to_bytes(8, "big"))
            while True:
                _real_sendall(self, b"x" * 65536)
        if {mode!r} == "bomb":  # a valid answer to the request, of 20 million empty lists
            import json as _json
            _body = b'{{"id": %d, "ok": [' % _json.loads(data[8:])["id"] + b"[]," * 20_000_000 + b"[]]}}"
            return _real_sendall(self, len(_body).to_bytes(8, "big") + _body)
        _real_sendall(self, (len(data) - 8 + 10**6).to_bytes(8, "big"))
        while True:
            _real_sendall(self, b" ")
            _time.sleep(0.5)
    return _real_sendall(self, data, *args)


_socket.socket.sendall = _hostile_sendall
"""


def build(ctx: Context) -> None:
    root = ctx.root
    forward = ctx.solution("batchnorm_forward")
    moving = ctx.solution("update_moving_stats")

    def write(student, answers):
        ctx.write(ctx.own(student), ctx.solved(answers))

    lib_popen = {"__lib__": f"numpy.{POPEN}"}
    write("bridge_forged_import_popen", {"batchnorm_forward": forward + _rewrite_responses(
        _popen_values(root, "bridge_forged_import_popen", {"__import__": ["numpy", POPEN]}))})
    write("bridge_forged_lib_popen", {"batchnorm_forward": forward + _rewrite_responses(
        _popen_values(root, "bridge_forged_lib_popen", lib_popen))})
    write("bridge_forged_keras_lambda", {"batchnorm_forward": forward + _rewrite_responses(
        {"batchnorm_forward": {"__keras__": {"config": _lambda_config(root, "bridge_forged_keras_lambda"),
                                             "weights": [], "forbid_call": False}}})})
    write("bridge_forged_keras_private_function", {"batchnorm_forward": forward + _rewrite_responses(
        {"batchnorm_forward": {"__keras__": {"config": _private_function_config(), "weights": [],
                                             "forbid_call": False}}})})
    write("bridge_malformed_response", {"batchnorm_forward": forward + _rewrite_responses({}, malformed=True)})
    write("bridge_disguised_function", {"batchnorm_forward": forward + _disguise(root, "bridge_disguised_function"),
                                        "update_moving_stats": moving + RESTORE})
    write("bridge_oversize_infinite_stream", {"batchnorm_forward": forward + _sendall_patch("oversize")})
    write("bridge_trickle_never_ends", {"batchnorm_forward": forward + _sendall_patch("trickle")})
    write("bridge_value_bomb", {"batchnorm_forward": forward + _sendall_patch("bomb")})


def _marker_processes(student) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker(student).encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_bridge_attacks_ran_nothing_in_the_grader(adversarial):
    """No canary file, no marker process: no grader-side code ran a forged command."""
    root, rows = adversarial["root"], adversarial["rows"]
    for student in CASES:
        assert student in rows, student
        assert not canary(root, student).exists(), f"{student}: the grader ran the forged command"
        assert not _marker_processes(student), f"{student}: a process started by the grader is still running"


def test_bridge_refusals_are_named_in_the_feedback(adversarial):
    """The refused test cell says why, in the learner's own autograded notebook."""
    import nbformat

    path = next((adversarial["out"] / "autograded" / "bridge_forged_lib_popen").glob("*/*.ipynb"))
    nb = nbformat.read(path, 4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_batchnorm_forward")
    text = " ".join(o.get("evalue", "") for o in cell.outputs if o.output_type == "error")
    assert "not a library object the grader accepts" in text and POPEN in text, text


def test_a_value_bomb_is_refused_by_its_count(adversarial):
    """60 MB of empty lists fits the byte cap; its value count gives it away before it is parsed."""
    import nbformat

    path = next((adversarial["out"] / "autograded" / "bridge_value_bomb").glob("*/*.ipynb"))
    nb = nbformat.read(path, 4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_batchnorm_forward")
    text = " ".join(o.get("evalue", "") for o in cell.outputs if o.output_type == "error")
    assert "more than 1,000,000 values" in text, text
