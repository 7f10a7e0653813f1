"""Data-only bridge between the grader and a student's kernel.

The hardened grader (``grade.py``) runs hidden tests in its own process, never in the
student's kernel: a student who patches ``numpy.allclose``, an assert helper or
``print`` changes only their own process, and the reference solution never enters
the sandbox. The tests see the student's functions, classes and values through
proxies that call into the kernel with *data only*:

* arrays travel as ``.npy`` bytes (``allow_pickle=False``), scalars, strings, lists,
  tuples and dicts as JSON, Keras layers and models as their config plus weights;
* functions and modules of installed libraries travel by name and are imported on the
  other side;
* anything else stays where it is and travels as a handle (``RemoteObject``).

This one file is both sides: the grader imports it; the kernel receives its source
and executes it as the module ``_bncourse_agent`` (:func:`bootstrap_code`), whose thread
answers length-prefixed JSON messages on a Unix socket. Nothing is ever unpickled.
"""

from __future__ import annotations

import base64
import builtins
import io
import json
import sys

AGENT = "_bncourse_agent"
# Libraries whose functions, classes and modules the grader may import by name.
TRUSTED_PACKAGES = {"numpy", "math", "keras", "tensorflow", "bncourse", "itertools", "functools",
                    "collections", "statistics", "matplotlib", "builtins"}


# ----------------------------------------------------------------------------- encoding

def _npy(value) -> str:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _from_npy(text: str):
    import numpy as np

    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)


def _keras_types():
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return keras.layers.Layer


def encode(value, handles=None):
    """Encode ``value`` as JSON-ready data. Unencodable values become handles (kernel side)
    or raise ``TypeError`` (grader side, where ``handles`` is None)."""
    np = sys.modules.get("numpy")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if np is not None and isinstance(value, np.ndarray) and value.dtype != object:
        return {"__nd__": _npy(value)}
    if np is not None and isinstance(value, np.generic) and not isinstance(value, np.object_):
        return {"__np__": _npy(np.asarray(value))}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, handles) for v in value]}
    if isinstance(value, list):
        return [encode(v, handles) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, handles), encode(v, handles)]
                             for k, v in value.items()]}
    if isinstance(value, RemoteObject):
        return {"__handle__": value._handle}
    layer_type = _keras_types()
    if layer_type is not None and isinstance(value, layer_type):
        import keras

        return {"__keras__": {
            "config": keras.saving.serialize_keras_object(value),
            "weights": [_npy(np.asarray(w)) for w in value.get_weights()],
            "forbid_call": "call" in vars(value),
        }}
    if type(value).__name__ == "module":
        return {"__module__": value.__name__}
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if (callable(value) and module and qualname and module != "__main__" and "<" not in qualname
            and module.split(".")[0] in TRUSTED_PACKAGES):
        return {"__import__": [module, qualname]}
    if handles is None:
        raise TypeError(f"cannot pass a {type(value).__name__} to the notebook")
    key = len(handles)
    handles[key] = value
    return {"__handle__": key}


def arrays_in(value, path=()):
    """(path, array) for every NumPy array in ``value`` and its lists, tuples and dicts."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray) and value.dtype != object:
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from arrays_in(item, (*path, i))
    elif isinstance(value, dict):
        for k, item in value.items():
            if isinstance(k, (str, int)):
                yield from arrays_in(item, (*path, k))


class _ForbiddenCall(RuntimeError):
    pass


def _forbid_call(*args, **kwargs):
    raise _ForbiddenCall("BN_CHECK_LAYER_CALLED")


def _import(module, qualname):
    import importlib

    if module.split(".")[0] not in TRUSTED_PACKAGES:
        raise ImportError(f"{module} is not a library the grader imports")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def decode(data, handles=None, remote=None):
    """Inverse of :func:`encode`. ``handles`` resolves handles (kernel side); ``remote``
    makes proxies for them (grader side)."""
    if isinstance(data, list):
        return [decode(v, handles, remote) for v in data]
    if not isinstance(data, dict):
        return data
    if "__nd__" in data:
        return _from_npy(data["__nd__"])
    if "__np__" in data:
        return _from_npy(data["__np__"])[()]
    if "__tuple__" in data:
        return tuple(decode(v, handles, remote) for v in data["__tuple__"])
    if "__dict__" in data:
        return {decode(k, handles, remote): decode(v, handles, remote) for k, v in data["__dict__"]}
    if "__handle__" in data:
        return handles[data["__handle__"]] if handles is not None else remote(data["__handle__"])
    if "__module__" in data:
        import importlib

        name = data["__module__"]
        if name.split(".")[0] not in TRUSTED_PACKAGES:
            raise ImportError(f"{name} is not a library the grader imports")
        return importlib.import_module(name)
    if "__import__" in data:
        return _import(*data["__import__"])
    if "__keras__" in data:
        import keras

        spec = data["__keras__"]
        _only_keras_modules(spec["config"])
        obj = keras.saving.deserialize_keras_object(spec["config"], safe_mode=True)
        obj.set_weights([_from_npy(w) for w in spec["weights"]])
        if spec.get("forbid_call"):
            obj.call = _forbid_call
        return obj
    raise ValueError(f"unknown encoding {sorted(data)[:3]}")


def _only_keras_modules(config):
    """Refuse a Keras config that names classes from outside Keras (custom or injected code)."""
    if isinstance(config, dict):
        module = config.get("module")
        if isinstance(module, str) and module != "builtins" and not module.startswith("keras"):
            raise ValueError(f"a Keras object from {module!r} cannot be passed between grader and notebook")
        for value in config.values():
            _only_keras_modules(value)
    elif isinstance(config, list):
        for value in config:
            _only_keras_modules(value)


# ----------------------------------------------------------------------------- kernel side

class _Agent:
    """Lives in the kernel. Answers one request file at a time."""

    def __init__(self):
        self.handles = {}

    def _enc(self, value):
        return encode(value, self.handles)

    def _dec(self, data):
        return decode(data, self.handles)

    def handle(self, request):
        op = request["op"]
        if op == "lookup":
            main = sys.modules["__main__"].__dict__
            out = {}
            for name in request["names"]:
                if name in main:
                    try:
                        out[name] = self._enc(main[name])
                    except Exception:  # noqa: BLE001 - e.g. a Keras object that does not serialize
                        key = len(self.handles)
                        self.handles[key] = main[name]
                        out[name] = {"__handle__": key}
            return out
        target = self.handles[request["handle"]]
        if op == "getattr":
            return self._enc(getattr(target, request["name"]))
        if op == "setattr":
            setattr(target, request["name"], self._dec(request["value"]))
            return None
        if op == "getitem":
            return self._enc(target[self._dec(request["key"])])
        if op == "repr":
            return repr(target)[:500]
        if op == "call":
            return self._call(target, request)
        raise ValueError(f"unknown op {op}")

    def _call(self, fn, request):
        np = sys.modules.get("numpy")
        args = [self._dec(a) for a in request["args"]]
        kwargs = {k: self._dec(v) for k, v in request["kwargs"]}
        layer_type = _keras_types()
        named = [*((str(i), a) for i, a in enumerate(args)), *kwargs.items()]

        def weights(v):
            return [np.asarray(w).copy() for w in v.get_weights()]

        before = {key: ([(path, arr.copy()) for path, arr in arrays_in(v)],
                        weights(v) if layer_type is not None and isinstance(v, layer_type) else None)
                  for key, v in named}
        result = fn(*args, **kwargs)
        changed = {}
        for key, value in named:  # in-place changes travel back, nested arrays (a cache) included
            arrays, old_weights = before[key]
            now = dict(arrays_in(value))
            edits = [[list(path), _npy(now[path])] for path, old in arrays
                     if path in now and not (now[path].shape == old.shape and np.array_equal(now[path], old, equal_nan=True))]
            entry = {"arrays": edits} if edits else {}
            if old_weights is not None:
                new = weights(value)
                if len(new) != len(old_weights) or any(not np.array_equal(a, b, equal_nan=True)
                                                       for a, b in zip(new, old_weights)):
                    entry["weights"] = [_npy(w) for w in new]
            if entry:
                changed[key] = entry
        return {"result": self._enc(result), "changed": changed}

    def respond(self, request):
        try:
            return {"ok": self.handle(request)}
        except BaseException as exc:  # noqa: BLE001 - every learner error goes back to the grader
            return {"error": {"type": type(exc).__name__, "module": type(exc).__module__,
                              "message": str(exc)[:2000]}}

    def listen(self, path):
        """Answer requests on the Unix socket ``path``, in a thread: no cell execution per call."""
        import socket
        import threading

        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)

        def loop():
            while True:
                conn, _ = server.accept()
                with conn:
                    while (request := receive(conn)) is not None:
                        send(conn, self.respond(request))

        threading.Thread(target=loop, name="grader-bridge", daemon=True).start()


def send(conn, message):
    data = json.dumps(message).encode()
    conn.sendall(len(data).to_bytes(8, "big") + data)


def _exactly(conn, n):
    chunks = []
    while n:
        chunk = conn.recv(min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def receive(conn):
    """The next message, or None when the other side closed the connection."""
    head = _exactly(conn, 8)
    if head is None:
        return None
    body = _exactly(conn, int.from_bytes(head, "big"))
    return None if body is None else json.loads(body)


if "__file__" in globals():  # in the grader (in a kernel, this module is exec'd from this text)
    with open(__file__) as _f:
        _SOURCE = _f.read()  # read once: kernels get the code this process runs, even if the file changes


def bootstrap_code(socket_path: str) -> str:
    """Code that installs this module in a kernel as ``_bncourse_agent`` and starts listening."""
    source = _SOURCE
    return (
        "import sys as _s, types as _t\n"
        f"_m = _t.ModuleType({AGENT!r})\n"
        f"exec(compile({source!r}, '<grader>', 'exec'), _m.__dict__)\n"
        f"_m.agent = _m._Agent()\n_s.modules[{AGENT!r}] = _m\n"
        f"_m.agent.listen({socket_path!r})\ndel _s, _t, _m\n"
    )


# ----------------------------------------------------------------------------- grader side

class RemoteError(Exception):
    """An error raised by the student's code in the kernel (its type is not a builtin)."""


class RemoteObject:
    """A student's object that lives in the kernel: attribute access, item access and
    calls go there; results come back as data (or as new proxies)."""

    __slots__ = ("_bridge", "_handle")

    def __init__(self, bridge, handle):
        object.__setattr__(self, "_bridge", bridge)
        object.__setattr__(self, "_handle", handle)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._bridge.request({"op": "getattr", "handle": self._handle, "name": name})

    def __setattr__(self, name, value):
        self._bridge.request({"op": "setattr", "handle": self._handle, "name": name,
                              "value": encode(value)})

    def __getitem__(self, key):
        return self._bridge.request({"op": "getitem", "handle": self._handle, "key": encode(key)})

    def __call__(self, *args, **kwargs):
        response = self._bridge.request({
            "op": "call", "handle": self._handle,
            "args": [encode(a) for a in args], "kwargs": [[k, encode(v)] for k, v in kwargs.items()],
        }, raw=True)
        for key, change in response["changed"].items():  # in-place changes, as in the kernel
            target = args[int(key)] if key.isdigit() else kwargs[key]
            for path, data in change.get("arrays", []):
                arr = target
                for step in path:
                    arr = arr[step]
                new = _from_npy(data)
                if isinstance(arr, np_ndarray()) and arr.shape == new.shape:
                    arr[...] = new
            if "weights" in change:
                target.set_weights([_from_npy(w) for w in change["weights"]])
        return self._bridge.decode(response["result"])

    def __repr__(self):
        return self._bridge.request({"op": "repr", "handle": self._handle})


def np_ndarray():
    import numpy as np

    return np.ndarray


def raise_remote(error):
    """Re-raise a kernel-side error in the grader: builtin exception types keep their type."""
    cls = getattr(builtins, error["type"], None)
    message = error["message"]
    if isinstance(cls, type) and issubclass(cls, Exception) and error["module"] == "builtins":
        raise cls(message)
    raise RemoteError(f"{error['type']}: {message}")
