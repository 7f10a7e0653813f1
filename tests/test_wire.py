"""``bngrader/wire.py``, the grader/kernel bridge: what crosses, and what is refused.

Round trips: every type that crosses, in both directions, through real JSON. Refusals:
forged messages as a hostile kernel would send them (names of code to import, handles
out of range, wrong shapes, oversize length prefixes, truncated or invalid bodies, deep
nesting, forged ``.npy`` headers and Keras configs), each refused with ``BridgeError``
and none importing, running or allocating what it names. The grader's client
(``bngrader.bridge``: ``BridgeClient`` and ``CellBridge``) is tested against the real agent
(the module's own source exec'd in a subprocess, as in a kernel) and against forged
agents on a Unix socket.
"""

from __future__ import annotations

import base64
import collections
import functools
import io
import json
import os
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from bngrader import wire

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _through_json(data):
    return json.loads(json.dumps(data))


class _FakeBridge:
    """Records the requests a proxy makes; answers getattr with a fixed value."""

    def __init__(self):
        self.requests = []

    def request(self, request, raw=False):
        self.requests.append(request)
        return "remote-answer"


def kernel_to_grader(value):
    """Encode on the kernel side (handles), decode on the grader side (proxies)."""
    handles, bridge = {}, _FakeBridge()
    data = _through_json(wire.encode(value, handles))
    return wire.decode(data, remote=lambda h: wire.RemoteObject(bridge, h)), handles, data


def grader_to_kernel(value, handles=None):
    return wire.decode(_through_json(wire.encode(value)), handles if handles is not None else {})


# ----------------------------------------------------------------------------- round trips

ARRAYS = [np.arange(6, dtype=np.float64).reshape(2, 3), np.float32([[1.5, -2.0]]), np.int64([1, 2, 3]),
          np.array([True, False]), np.array([1 + 2j]), np.array(["ab", "c"]), np.asfortranarray(np.ones((3, 2))),
          np.array(3.5), np.zeros((0, 4)), np.array([np.nan, np.inf, -np.inf])]


@pytest.mark.parametrize("arr", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_arrays_round_trip_both_ways(arr):
    for got in (kernel_to_grader(arr)[0], grader_to_kernel(arr)):
        assert isinstance(got, np.ndarray) and got.dtype == arr.dtype and got.shape == arr.shape
        assert np.array_equal(got, arr, equal_nan=arr.dtype.kind == "f")
        assert got.flags.writeable


SCALARS = [None, True, 0, -7, 2.5, float("nan"), "é text", np.float32(1.25), np.int64(3), np.bool_(True), 3 + 4j,
           b"\x00bytes", slice(1, None, 2), Ellipsis, np.dtype("float32"), np.dtype("int64")]


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalars_round_trip_with_their_type(value):
    for got in (kernel_to_grader(value)[0], grader_to_kernel(value)):
        assert type(got) is type(value)
        assert got == value or (value != value and got != got)


def test_containers_round_trip_nested():
    value = (1, [2.0, {"a": np.ones(2), 3: (None,)}], {4, 5}, frozenset({"x"}), {(1, 2): "tuple key"})
    for got in (kernel_to_grader(value)[0], grader_to_kernel(value)):
        assert type(got) is tuple and type(got[1]) is list and type(got[2]) is set and type(got[3]) is frozenset
        assert np.array_equal(got[1][1]["a"], np.ones(2)) and got[1][1][3] == (None,)
        assert got[4] == {(1, 2): "tuple key"}


def test_object_array_crosses_element_by_element():
    arr = np.array([1.5, 2, None, "s"], dtype=object).reshape(2, 2)
    for got in (kernel_to_grader(arr)[0], grader_to_kernel(arr)):
        assert got.dtype == object and got.shape == (2, 2) and got.tolist() == arr.tolist()
    floats = np.array([0.5, 1.5], dtype=object)
    assert np.asarray(kernel_to_grader(floats)[0], dtype=np.float64).tolist() == [0.5, 1.5]


def test_library_objects_cross_as_the_graders_own_exact_object():
    import math

    import bncourse.checks

    for obj in (np, np.mean, np.sqrt, np.float32, np.linalg.norm, math.sqrt, bncourse.checks.expect_close,
                bncourse.checks.CheckFailed, abs):
        got, handles, data = kernel_to_grader(obj)
        assert got is obj and not handles and set(data) == {"__lib__"}
        assert grader_to_kernel(obj) is obj


UNUSUAL = {
    "lambda": lambda x: x + 1,
    "partial": functools.partial(np.add, 1),
    "callable instance": type("Scale", (), {"__call__": lambda self, x: 2 * x})(),
    "student function": textwrap.dedent,  # a library function outside the table stays a handle too
}


@pytest.mark.parametrize("name", sorted(UNUSUAL))
def test_callables_outside_the_table_stay_in_the_kernel_as_callable_handles(name):
    got, handles, data = kernel_to_grader(UNUSUAL[name])
    assert isinstance(got, wire.RemoteCallable) and callable(got)
    assert handles[data["__handle__"]] is UNUSUAL[name]
    assert grader_to_kernel(got, handles) is UNUSUAL[name]  # goes back as itself


def test_custom_objects_are_non_callable_handles_and_go_back_as_themselves():
    class Cache:
        pass

    cache = Cache()
    got, handles, _ = kernel_to_grader(cache)
    assert type(got) is wire.RemoteObject and not callable(got)  # not "a function; expected numbers"
    assert grader_to_kernel(got, handles) is cache
    assert got.anything == "remote-answer"  # attribute access goes to the kernel
    import copy

    assert copy.deepcopy(got) is got and copy.copy(got) is got


def test_namedtuple_crosses_as_a_tuple_with_fields_and_goes_back_as_itself():
    Cache = collections.namedtuple("Cache", "x mean")
    cache = Cache(np.ones(2), 0.5)
    got, handles, _ = kernel_to_grader((np.zeros(2), cache))
    out, remote_cache = got
    assert isinstance(remote_cache, tuple) and len(remote_cache) == 2 and remote_cache[1] == 0.5
    assert np.array_equal(remote_cache[0], np.ones(2))
    assert remote_cache.mean == "remote-answer"  # fields are read in the kernel
    back = grader_to_kernel((out, remote_cache), handles)
    assert back[1] is cache
    import copy

    copied = copy.deepcopy(remote_cache)  # a check may deep-copy a cache: the proxy's bridge is not copied
    assert type(copied) is type(remote_cache) and copied._bridge is remote_cache._bridge
    assert np.array_equal(copied[0], np.ones(2)) and copied[0] is not remote_cache[0]


def test_self_referencing_cache_crosses_with_the_cycle_as_a_handle():
    cache = {"x": np.arange(3.0)}
    cache["self"] = cache
    loop = [1]
    loop.append(loop)
    got, handles, _ = kernel_to_grader((cache, loop))
    assert np.array_equal(got[0]["x"], np.arange(3.0)) and isinstance(got[0]["self"], wire.RemoteObject)
    assert handles[got[0]["self"]._handle] is cache
    assert got[1][0] == 1 and handles[got[1][1]._handle] is loop


def test_deeply_nested_value_becomes_a_handle_beyond_the_depth_limit():
    value = inner = []
    for _ in range(wire.MAX_DEPTH + 10):
        inner.append([])
        inner = inner[0]
    got, handles, _ = kernel_to_grader(value)
    depth = 0
    while isinstance(got, list):
        got, depth = got[0], depth + 1
    assert isinstance(got, wire.RemoteObject) and depth <= wire.MAX_DEPTH + 1


def test_tensors_cross_as_the_arrays_np_asarray_makes():
    keras = pytest.importorskip("keras")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    values = [keras.ops.convert_to_tensor(x), keras.ops.mean(x, axis=0), keras.Variable(x)]
    for value in values:
        got, handles, _ = kernel_to_grader(value)
        assert isinstance(got, np.ndarray) and not handles
        assert np.array_equal(got, np.asarray(value))


def test_keras_layers_and_models_cross_as_config_and_weights():
    keras = pytest.importorskip("keras")
    layer = keras.layers.BatchNormalization(epsilon=0.05)
    layer.build((None, 4))
    layer.set_weights([np.full(4, 2.0), np.ones(4), np.zeros(4), np.full(4, 3.0)])
    inputs = keras.Input((5,))
    functional = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.BatchNormalization()(inputs)))
    sequential = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False),
                                   keras.layers.BatchNormalization(), keras.layers.Activation("relu")])
    sequential.compile(optimizer="adam", loss="mse")
    for obj in (layer, functional, sequential):
        for got in (kernel_to_grader(obj)[0], grader_to_kernel(obj)):
            assert type(got) is type(obj) and got is not obj
            assert all(np.array_equal(a, b) for a, b in zip(got.get_weights(), obj.get_weights()))
    assert kernel_to_grader(sequential)[0].compiled
    assert not kernel_to_grader(functional)[0].compiled  # uncompiled stays uncompiled (lesson 05 checks it)


def test_keras_objects_with_custom_code_stay_in_the_kernel():
    keras = pytest.importorskip("keras")

    def my_activation(x):
        return x

    custom = keras.layers.Dense(2, activation=my_activation)
    custom.build((None, 3))
    with_lambda = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: 2 * x)])
    for obj in (custom, with_lambda):
        got, handles, _ = kernel_to_grader(obj)
        assert isinstance(got, wire.RemoteObject) and list(handles.values()) == [obj]


# ----------------------------------------------------------------------------- forged values

@pytest.fixture
def canary_module(tmp_path, monkeypatch):
    """A module that writes a file when imported: proof that a forged name imported nothing."""
    (tmp_path / "bridge_canary_mod.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').write('x')\ndef run(*a):\n    open({str(tmp_path / 'ran')!r}, 'w')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    assert "bridge_canary_mod" not in sys.modules
    assert not (tmp_path / "imported").exists() and not (tmp_path / "ran").exists()


FORGED_NAMES = [
    {"__import__": ["subprocess", "run"]},  # the old by-name encodings: not tags any more
    {"__module__": "os"},
    {"__import__": ["numpy", "lib.format.os.system"]},
    {"__import__": ["bridge_canary_mod", "run"]},
    {"__module__": "bridge_canary_mod"},
    {"__lib__": "bridge_canary_mod.run"},
    {"__lib__": "subprocess.run"},
    {"__lib__": "os.system"},
    {"__lib__": "numpy.os"},  # numpy imports os; reachable by path, not in the table
    {"__lib__": "numpy.lib.format.os.system"},
    {"__lib__": "numpy.testing"},
    {"__lib__": "numpy.load"},  # in numpy, but file I/O: not in the table
    {"__lib__": "numpy.mean.__globals__"},
    {"__lib__": "keras.src.utils.file_utils.rmtree"},
    {"__lib__": "keras.saving.load_model"},
    {"__lib__": "builtins.eval"},
    {"__lib__": "builtins.open"},
    {"__lib__": "builtins.__import__"},
    {"__lib__": "bncourse.setup_notebook"},
    {"__lib__": "bncourse.results.record"},  # writes files
    {"__lib__": "math.__loader__"},
    {"__lib__": "keras.activations.deserialize"},  # look objects up by name: not in the table
    {"__lib__": "keras.activations.get"},
    {"__lib__": "keras.ops.deserialize"},
    {"__lib__": ["numpy", "mean"]},
    {"__lib__": "x" * 10_000},
]


@pytest.mark.parametrize("data", FORGED_NAMES, ids=lambda d: json.dumps(d)[:60])
def test_a_forged_name_is_refused_and_imports_nothing(data, canary_module):
    with pytest.raises(wire.BridgeError):
        wire.decode(_through_json(data), remote=lambda h: wire.RemoteObject(_FakeBridge(), h))
    with pytest.raises(wire.BridgeError):
        wire.decode(_through_json({"__tuple__": [1, {"__dict__": [["k", data]]}]}),
                    remote=lambda h: wire.RemoteObject(_FakeBridge(), h))


FORGED_VALUES = [
    {"__handle__": -1}, {"__handle__": 2**40}, {"__handle__": "3"}, {"__handle__": True}, {"__handle__": 1.0},
    {"__handle__": 1, "callable": "yes"}, {"__handle__": 1, "extra": 1},
    {"__nd__": "not base64!"}, {"__nd__": 5}, {"__np__": None},
    {"__tuple__": "abc"}, {"__tuple__": [1], "__ref__": -5}, {"__dict__": [[1]]}, {"__dict__": [[[1], 2]]},
    {"__dict__": {"a": 1}}, {"__set__": [[1]]}, {"__objnd__": {"shape": [10**12], "items": [1]}},
    {"__objnd__": {"shape": [-1], "items": []}}, {"__objnd__": {"shape": [2]}},
    {"__complex__": [1]}, {"__complex__": ["a", "b"]}, {"__dtype__": "f8" * 20}, {"__dtype__": [("a", "O")]},
    {"__slice__": [1, 2]}, {"__bytes__": "??"}, {"__nd__": "x", "__np__": "y"}, {"__unknown__": 1}, {}, {"a": 1},
]


@pytest.mark.parametrize("data", FORGED_VALUES, ids=lambda d: json.dumps(d)[:60])
def test_a_malformed_value_is_refused(data):
    with pytest.raises(wire.BridgeError):
        wire.decode(_through_json(data), remote=lambda h: wire.RemoteObject(_FakeBridge(), h))


def test_unknown_handles_are_refused_on_the_kernel_side_too():
    with pytest.raises(wire.BridgeError, match="no object with handle 7"):
        wire.decode({"__handle__": 7}, {0: "x"})


def test_deep_nesting_is_refused_without_a_recursion_error():
    nested = {"__tuple__": [1]}
    for _ in range(wire.MAX_DEPTH + 5):
        nested = {"__tuple__": [nested]}
    with pytest.raises(wire.BridgeError, match="nested"):
        wire.decode(nested, remote=lambda h: None)
    deep_list = json.loads("[" * 900 + "]" * 900)
    with pytest.raises(wire.BridgeError, match="nested"):
        wire.decode(deep_list, remote=lambda h: None)


def _npy_with_header(header: dict, data: bytes) -> str:
    from numpy.lib import format as npf

    buf = io.BytesIO()
    npf.write_array_header_1_0(buf, header)
    return base64.b64encode(buf.getvalue() + data).decode()


def test_forged_npy_headers_are_refused_without_allocating_what_they_announce():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    huge = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}  # 8 TB announced, 8 bytes sent
    for header, data in [(huge, b"\0" * 8), ({"descr": "|O", "fortran_order": False, "shape": (1,)}, b"\x80\x04N."),
                         ({"descr": [("a", "<f8")], "fortran_order": False, "shape": (1,)}, b"\0" * 8),
                         ({"descr": "<f8", "fortran_order": False, "shape": (3,)}, b"\0" * 8),
                         ({"descr": "<f8", "fortran_order": False, "shape": (1,)}, b"\0" * 16)]:  # trailing bytes
        with pytest.raises(wire.BridgeError):
            wire.decode({"__nd__": _npy_with_header(header, data)})
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # kB: nothing near 8 TB


# ----------------------------------------------------------------------------- forged Keras configs

def _keras_spec(obj):
    return _through_json(wire.encode(obj))


def _entries(config):
    if isinstance(config, dict):
        if "class_name" in config:
            yield config
        for v in config.values():
            yield from _entries(v)
    elif isinstance(config, list):
        for v in config:
            yield from _entries(v)


def _forge(kind):
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()])
    spec = _keras_spec(model)
    layers = spec["__keras__"]["config"]["config"]["layers"]
    dense = layers[1]
    if kind == "lambda layer":
        lam = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x)])
        spec["__keras__"]["config"] = keras.saving.serialize_keras_object(lam)
        spec["__keras__"]["weights"] = []
    elif kind == "foreign module":
        dense.update(module="os", class_name="system")
    elif kind == "private keras module":
        dense.update(module="keras.src.utils.file_utils", class_name="rmtree")
    elif kind == "registered custom":
        dense.update(registered_name="Custom>Dense")
    elif kind == "activation outside keras":
        dense["config"]["activation"] = {"module": "builtins", "class_name": "function",
                                         "config": "eval", "registered_name": "function"}
    elif kind == "activation from a keras module":
        dense["config"]["activation"] = {"module": "keras.src.utils.file_utils", "class_name": "function",
                                         "config": "rmtree", "registered_name": None}
    elif kind == "nested lambda bytecode":
        dense["config"]["activation"] = {"class_name": "__lambda__", "config": {"code": "AAAA", "defaults": None,
                                                                                  "closure": None}}
    elif kind == "huge layer, few weights":
        layers[0]["config"]["batch_shape"] = [None, 200_000]
        dense["config"]["units"] = 100_000
        dense["build_config"]["input_shape"] = [None, 200_000]
        layers[2]["build_config"]["input_shape"] = [None, 100_000]
    elif kind == "layer that loads a file":  # a public Keras layer, but it reads the path it is given
        dense.update(class_name="TFSMLayer", config={"filepath": "/etc", "call_endpoint": "serve"})
    elif kind == "not a dict":
        spec["__keras__"] = ["config"]
    return spec


# kind -> the refusal's own words (the bridge's rule, not an error Keras raises later on its own)
KERAS_FORGERIES = {
    "lambda layer": "keras.layers.Lambda, which is not a built-in Keras class the grader builds",
    "foreign module": "os.system, which is not a built-in Keras class",
    "private keras module": "keras.src.utils.file_utils.rmtree, which is not a built-in Keras class",
    "registered custom": "registered as 'Custom>Dense'",
    "activation outside keras": "the function 'eval', which is not a built-in activation",
    "activation from a keras module": "keras.src.utils.file_utils.function, which is not a built-in",
    "nested lambda bytecode": "Lambda|__lambda__",
    "layer that loads a file": "keras.layers.TFSMLayer, which is not a built-in Keras class",
    "huge layer, few weights": "whose weights .* are not the ones sent",
    "not a dict": "must be {config, weights, forbid_call}",
}


@pytest.mark.parametrize("kind", sorted(KERAS_FORGERIES))
def test_forged_keras_configs_are_refused_before_building(kind):
    spec = _forge(kind)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(wire.BridgeError, match=KERAS_FORGERIES[kind]):
        wire.decode(spec)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # kB; 80 GB announced


def test_every_class_a_real_model_config_names_is_in_the_keras_table():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(),
                              keras.layers.ReLU(), keras.layers.Dropout(0.1), keras.layers.Dense(2, activation="softmax")])
    for entry in _entries(keras.saving.serialize_keras_object(model)):
        wire._check_keras_entry(entry)  # raises for anything outside the table


# ----------------------------------------------------------------------------- transport

def _pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a, b


def test_messages_round_trip_over_a_socket():
    a, b = _pair()
    with a, b:
        wire.send(a, {"id": 1, "ok": [1, "two"]})
        assert wire.receive(b, deadline=time.monotonic() + 5) == {"id": 1, "ok": [1, "two"]}
        a.close()
        assert wire.receive(b, deadline=time.monotonic() + 5) is None  # closed between messages


def test_send_refuses_a_message_above_the_cap_and_sends_nothing():
    a, b = _pair()
    with a, b:
        with pytest.raises(wire.MessageTooLarge):
            wire.send(a, {"x": "y" * 2000}, max_bytes=1000)
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            b.recv(1)


def test_an_oversize_length_prefix_is_refused_before_reading_or_allocating():
    a, b = _pair()
    with a, b:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        a.sendall((2**30).to_bytes(8, "big") + b"{" * 1000)
        start = time.monotonic()
        with pytest.raises(wire.BridgeError, match="announced a message of 1024.0 MB"):
            wire.receive(b, max_bytes=wire.DEFAULT_MAX_BYTES, deadline=time.monotonic() + 30)
        assert time.monotonic() - start < 1
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 20 * 1024


@pytest.mark.parametrize("body", [b"[" + b"[]," * 3_000_000 + b"[]]",  # 9 MB of lists: ~200 MB parsed
                                  b"[" + b"{}," * 3_000_000 + b"{}]",
                                  b"[" + b"0," * 3_000_000 + b"0]"])
def test_a_message_of_millions_of_small_values_is_refused_before_parsing(body):
    a, b = _pair()
    with a, b:
        threading.Thread(target=lambda: (a.sendall(len(body).to_bytes(8, "big") + body), a.close()),
                         daemon=True).start()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(wire.BridgeError, match="more than 1,000,000 values"):
            wire.receive(b, deadline=time.monotonic() + 30)
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 60 * 1024  # KB: the body only


def test_a_large_array_stays_far_below_the_value_cap():
    message = wire.encode({"x": np.arange(2_000_000, dtype=np.float64), "cache": [np.ones((500, 500))] * 4})
    data = json.dumps(message).encode()
    assert len(data) > 20 * 2**20
    assert data.count(b",") + data.count(b"[") + data.count(b"{") < 100


@pytest.mark.parametrize("raw, reason", [
    ((100).to_bytes(8, "big") + b'{"id": 1', "truncated"),
    ((9).to_bytes(8, "big") + b"not json!", "not valid JSON"),
    ((200_000).to_bytes(8, "big") + b"[" * 200_000, "not valid JSON"),
    ((3).to_bytes(8, "big") + b"\xff\xfe\xfd", "not valid JSON"),
])
def test_truncated_and_invalid_bodies_are_refused(raw, reason):
    a, b = _pair()
    with a, b:
        threading.Thread(target=lambda: (a.sendall(raw), a.close()), daemon=True).start()
        with pytest.raises(wire.BridgeError, match=reason):
            wire.receive(b, deadline=time.monotonic() + 10)


def test_the_deadline_holds_against_a_trickle():
    a, b = _pair()
    stop = threading.Event()

    def trickle():
        a.sendall((50).to_bytes(8, "big"))
        while not stop.wait(0.1):
            a.sendall(b" ")

    threading.Thread(target=trickle, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        wire.receive(b, deadline=start + 1.0)
    stop.set()
    assert 0.9 < time.monotonic() - start < 4.0
    a.close()
    b.close()


@pytest.mark.parametrize("data", [
    [1], "ok", {"ok": 1}, {"id": 2, "ok": 1}, {"id": 1, "ok": 1, "error": {}}, {"id": 1, "error": "boom"},
    {"id": 1, "error": {"type": 1, "module": "m", "message": "x"}}, {"id": True, "ok": 1}, {"id": 1},
])
def test_responses_of_the_wrong_shape_are_refused(data):
    with pytest.raises(wire.BridgeError):
        wire.check_response(data, 1)


# ----------------------------------------------------------------------------- the real agent and client

STUDENT = '''
import functools, collections
import numpy as np

def batchnorm_forward(x, gamma, beta, eps=1e-3):
    mu = x.mean(axis=0)
    xn = (x - mu) / np.sqrt(x.var(axis=0) + eps)
    cache = {"xn": xn}
    cache["self"] = cache
    return gamma * xn + beta, cache

Pair = collections.namedtuple("Pair", "out cache")
def as_pair(x):
    return Pair(x * 2, {"x": x})

scale = functools.partial(np.multiply, 3.0)
square = lambda x: x * x
big = np.zeros(3_000_000)
mean_fn = np.mean

def bump(cache):
    cache["xn"] += 1.0
    return None
'''


def _agent_process(tmp_path, student=STUDENT, max_bytes=wire.DEFAULT_MAX_BYTES, path=None):
    """A Python process that runs ``student`` as __main__ and the real agent, as a kernel does."""
    path = path or str(tmp_path / "bridge.sock")
    script = tmp_path / "kernel.py"
    script.write_text(student + f"\nexec({wire.bootstrap_code(path, max_bytes)!r})\nimport time\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return proc, path


def _client(path, max_bytes=wire.DEFAULT_MAX_BYTES, timeout=10.0):
    """The grader's real client (bngrader.bridge: BridgeClient and CellBridge), on a connected socket."""
    from bngrader import bridge, hardened

    ex = hardened.HardenedExecute(bridge_max_mb=max(1, max_bytes // 2**20))
    ex.timeout = int(timeout)
    client = bridge.BridgeClient(ex, str(path))
    client.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.conn.connect(path)
    client.start_test(time.monotonic() + timeout)
    client.kernel_alive = lambda: True
    return client, bridge.CellBridge(client, 0)


@pytest.fixture
def agent(tmp_path):
    proc, path = _agent_process(tmp_path)
    yield path
    proc.kill()
    proc.wait()


def test_real_agent_answers_the_grader_with_data_and_handles(agent):
    ex, bridge = _client(agent)
    ns = bridge.request({"op": "lookup", "names": ["batchnorm_forward", "as_pair", "scale", "square",
                                                   "mean_fn", "np", "missing"]})
    assert set(ns) == {"batchnorm_forward", "as_pair", "scale", "square", "mean_fn", "np"}
    assert ns["np"] is np and ns["mean_fn"] is np.mean
    x = np.arange(12.0).reshape(4, 3)
    out, cache = ns["batchnorm_forward"](x, np.ones(3), np.zeros(3))
    assert np.allclose(out.mean(axis=0), 0) and isinstance(cache, dict)
    assert isinstance(cache["self"], wire.RemoteObject)  # the cycle stayed in the kernel
    pair = ns["as_pair"](np.ones(2))
    assert isinstance(pair, tuple) and np.array_equal(pair[0], [2.0, 2.0])
    assert np.array_equal(pair.out, [2.0, 2.0])  # a namedtuple field, read in the kernel
    assert np.array_equal(ns["scale"](np.ones(2)), [3.0, 3.0]) and ns["square"](3) == 9


def test_real_agent_reports_in_place_changes_to_nested_arrays(agent):
    ex, bridge = _client(agent)
    bump = bridge.request({"op": "lookup", "names": ["bump"]})["bump"]
    cache = {"xn": np.zeros(2)}
    bump(cache)
    assert np.array_equal(cache["xn"], [1.0, 1.0])


def test_real_agent_replaces_a_value_above_the_cap_by_an_error(tmp_path):
    proc, path = _agent_process(tmp_path, max_bytes=2**20)
    try:
        ex, bridge = _client(path, max_bytes=2**20)
        with pytest.raises(wire.RemoteError, match="larger than the bridge's cap"):
            bridge.request({"op": "lookup", "names": ["big"]})
        assert bridge.request({"op": "lookup", "names": ["square"]})["square"](4) == 16  # still in step
    finally:
        proc.kill()
        proc.wait()


def test_real_agent_unknown_handle_or_op_is_an_error_not_a_crash(agent):
    ex, bridge = _client(agent)
    with pytest.raises(KeyError):
        bridge.request({"op": "getattr", "handle": 99, "name": "x"})
    square = bridge.request({"op": "lookup", "names": ["square"]})["square"]
    with pytest.raises(ValueError, match="unknown op"):
        bridge.request({"op": "frobnicate", "handle": square._handle})
    assert square(5) == 25


# kind -> the response body (None: raw bytes, see _forged_agent), and whether the connection is
# out of step afterwards (then the client closes it for good) or only the value is refused.
FORGED_AGENTS = {
    "forged __import__ of subprocess through numpy":
        (lambda rid: {"id": rid, "ok": {"f": {"__import__": ["numpy", "lib.format.os.system"]}}}, False),
    "forged __lib__ outside the table": (lambda rid: {"id": rid, "ok": {"f": {"__lib__": "os.system"}}}, False),
    "forged __lib__ to the canary": (lambda rid: {"id": rid, "ok": {"f": {"__lib__": "bridge_canary_mod.run"}}}, False),
    "handle out of range": (lambda rid: {"id": rid, "ok": {"f": {"__handle__": -3}}}, False),
    "names not asked for": (lambda rid: {"id": rid, "ok": {"os": {"__lib__": "numpy"}}}, True),
    "wrong request id": (lambda rid: {"id": rid + 1, "ok": {}}, True),
    "not a dict": (lambda rid: [rid, "ok"], True),
    "invalid JSON": (None, True),
    "oversize length prefix": (None, True),
    "truncated body": (None, True),
}


def _forged_agent(path, kind, stop):
    """A fake kernel agent on ``path`` that answers the first request as ``kind`` says."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        with conn:
            request = wire.receive(conn)
            try:
                if kind == "oversize length prefix":  # 1 GiB announced, then as many bytes as the grader reads
                    conn.sendall((2**30).to_bytes(8, "big"))
                    while not stop.is_set():
                        conn.sendall(b"x" * 65536)
                elif kind == "trickle":  # a body just under the cap, sent too slowly to ever finish
                    conn.sendall((wire.DEFAULT_MAX_BYTES - 1).to_bytes(8, "big"))
                    while not stop.wait(0.01):
                        conn.sendall(b"x" * 1024)
                elif kind == "truncated body":
                    conn.sendall((1000).to_bytes(8, "big") + b'{"id": 1, "ok"')
                else:
                    make = FORGED_AGENTS[kind][0]
                    body = make(request["id"]) if make else "{not json"
                    body = json.dumps(body).encode() if make else body.encode()
                    conn.sendall(len(body).to_bytes(8, "big") + body)
                    stop.wait(5)
            except OSError:
                pass
        server.close()

    threading.Thread(target=serve, daemon=True).start()


@pytest.mark.parametrize("kind", sorted(FORGED_AGENTS))
def test_the_client_refuses_forged_agents(tmp_path, kind, canary_module):
    path, stop = str(tmp_path / "forged.sock"), threading.Event()
    _forged_agent(path, kind, stop)
    ex, bridge = _client(path, timeout=10.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    try:
        with pytest.raises(wire.BridgeError, match="refused"):
            bridge.request({"op": "lookup", "names": ["f"]})
        assert time.monotonic() - start < 5  # refused at once, not at the 10 s deadline
        out_of_step = FORGED_AGENTS[kind][1]
        assert (ex.conn is None and bool(ex.refused)) == out_of_step
        if out_of_step:
            with pytest.raises(wire.BridgeError, match="stopped talking"):
                bridge.request({"op": "lookup", "names": ["f"]})
    finally:
        stop.set()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # kB


def test_the_deadline_ends_a_response_that_never_finishes(tmp_path):
    from bngrader.bridge import Fatal

    path, stop = str(tmp_path / "forged.sock"), threading.Event()
    _forged_agent(path, "trickle", stop)
    ex, bridge = _client(path, timeout=2.0)
    start = time.monotonic()
    try:
        with pytest.raises(Fatal):  # a timeout, as for a cell that hangs: the kernel is restarted
            bridge.request({"op": "lookup", "names": ["f"]})
    finally:
        stop.set()
    assert 1.5 < time.monotonic() - start < 8
    assert "timed out" in str(ex.fatal)


def test_a_patched_agent_cannot_make_the_grader_import_or_run_code(tmp_path, canary_module):
    """The student replaces the agent's encoder from an answer cell, as tests/hostile/bridge.py does."""
    patch = textwrap.dedent('''
        import sys
        _agent = sys.modules["_bncourse_agent"]
        _real = _agent.encode
        def _evil(value, handles=None):
            if callable(value):
                return {"__lib__": "bridge_canary_mod.run"}
            return _real(value, handles)
        _agent.encode = _evil
    ''')
    student = STUDENT + f"\nimport threading, time\nthreading.Timer(0.5, lambda: exec({patch!r})).start()\n"
    proc, path = _agent_process(tmp_path, student=student)
    try:
        time.sleep(1.5)
        ex, bridge = _client(path)
        with pytest.raises(wire.BridgeError, match="bridge_canary_mod.run"):
            bridge.request({"op": "lookup", "names": ["square"]})
    finally:
        proc.kill()
        proc.wait()


def test_the_library_table_holds_no_module_or_function_that_reaches_the_system():
    import builtins
    import os as os_module

    dangerous = {os_module, subprocess, sys, builtins, io, socket, os_module.system, builtins.eval, builtins.exec,
                 builtins.open, builtins.__import__, np.load, np.save, np.fromfile, np.memmap}
    table = wire.library(load=True)
    assert "numpy.mean" in table and "keras.layers.BatchNormalization" in table
    assert not [name for name, obj in table.items() if any(obj is d for d in dangerous)]
    assert not [name for name, obj in table.items()
                if type(obj).__name__ == "module" and name not in wire.MODULES]


def test_grader_side_encoding_refuses_what_it_cannot_send():
    with pytest.raises(TypeError):
        wire.encode(lambda x: x)
    with pytest.raises(TypeError):
        wire.encode(object())
