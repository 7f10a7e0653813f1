"""Hostile submissions: files (see hostile/__init__.py).

Two sides of one rule, "never follow a link from the student's side, hand back only the
graded notebook's feedback, bound what a kernel may write":

* what is handed in: a notebook that is a symbolic link (to the solution, to a classmate's
  notebook, relative or absolute), a submission folder that is a link, byte-identical copies (of a classmate's notebook, under
  the expected name or another one, and of the solution notebook), links, a FIFO, a huge
  sparse file and too many files next to the notebook (timestamp.txt as a link to
  /etc/shadow or to the gradebook);
* what the kernel writes: links to instructor files in its folder and home (named like the
  feedback page, the notebook, timestamp.txt), its own notebook replaced by a link, a log of
  the hidden tests' inputs, sparse files, many small files, dense files past the quota, a
  /tmp and a /dev/shm (tmpfs, i.e. RAM) filled past the memory limit.

Paths reach the kernel hex-encoded, so the static scan does not see them: the mechanisms,
not the scan, must hold. Markers that the kernel writes into files but never prints must not
reach any feedback folder (test_grade.py checks every file there).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from hostile import CONCEPTS, HONEST, POINTS, Case, Context

A = "02_numpy_forward"
ROOT = Path(__file__).resolve().parents[2]
BUT_LAYER = {"test_batchnorm_forward": 3, "test_update_moving_stats": 2, "test_batchnorm_inference": 2}
KERNEL_MARKER = "KERNEL-WROTE-THIS"  # written to files by kernels, never printed
LOG_MARKER = "HIDDEN-INPUT-LOG"


def _split(marker: str) -> str:
    """``marker`` as a Python expression that builds it at run time: the cell's source (which
    the feedback shows) does not contain the marker itself, only the files the kernel writes."""
    return f"({marker[:7]!r} + {marker[7:]!r})"

CASES: dict[str, Case] = {
    # -- what is handed in
    "fs_link_to_solution": Case("suspicious", 0, reason=f"{A}.ipynb is a symbolic link (not graded)"),
    "fs_link_to_classmate": Case("suspicious", 0, reason=f"{A}.ipynb is a symbolic link (not graded)"),
    "fs_relative_link_to_classmate": Case("suspicious", 0, reason=f"{A}.ipynb is a symbolic link (not graded)"),
    "fs_folder_link": Case("rejected", 0, reason="is a symlink (not followed)"),
    "fs_copy_a": Case("suspicious", HONEST, POINTS, "identical to another submission: fs_copy_b, fs_copy_renamed"),
    "fs_copy_b": Case("suspicious", HONEST, POINTS, "identical to another submission: fs_copy_a, fs_copy_renamed"),
    "fs_copy_renamed": Case("suspicious", HONEST, POINTS, "identical to another submission: fs_copy_a, fs_copy_b"),
    "fs_copy_of_solution": Case("suspicious", 0, reason="identical to the solution notebook (not graded)"),
    "fs_timestamp_to_shadow": Case("bad_timestamp", HONEST, POINTS, "timestamp.txt cannot be read (a symlink, not followed)"),
    "fs_timestamp_to_gradebook": Case("bad_timestamp", HONEST, POINTS, "timestamp.txt cannot be read (a symlink, not followed)"),
    "fs_extra_links_fifo_sparse": Case("suspicious", HONEST, POINTS, "data.bin is larger than 50 MB (not used)"),
    "fs_many_submitted_files": Case("suspicious", HONEST, POINTS, "more than 200 files in the submission folder"),
    # -- what the kernel writes
    "fs_kernel_links": Case("graded", HONEST, POINTS),
    "fs_kernel_replaces_notebook": Case("graded", HONEST, POINTS),
    "fs_kernel_moves_its_folder": Case("graded", HONEST, POINTS),
    "fs_kernel_logs_inputs": Case("graded", HONEST, POINTS),
    "fs_kernel_sparse_over_file_limit": Case("graded", HONEST, POINTS),
    "fs_kernel_sparse_over_quota": Case("kernel_died", 7 + CONCEPTS, BUT_LAYER, "MB to disk (disk quota)"),
    "fs_kernel_dense_over_quota": Case("kernel_died", 7 + CONCEPTS, BUT_LAYER, "MB to disk (disk quota)"),
    "fs_kernel_many_files": Case("kernel_died", 7 + CONCEPTS, BUT_LAYER, "more than 2000 files (disk quota)"),
    "fs_kernel_tmp_hog": Case("kernel_died", 7 + CONCEPTS, BUT_LAYER, "files in its /tmp or other tmpfs"),
    "fs_kernel_shm_hog": Case("kernel_died", 7 + CONCEPTS, BUT_LAYER, "files in its /tmp or other tmpfs"),
}


def _hex(value) -> str:
    """``value`` as a hex literal the kernel decodes: no path is visible to the static scan."""
    return f"json.loads(bytes.fromhex({json.dumps(value).encode().hex()!r}).decode())"


def _after_layer(ctx: Context, code: str):
    """A solved notebook whose last answer (the layer) then runs ``code``."""
    return ctx.solved({"batchnorm_layer": ctx.solution("batchnorm_layer") + "\n" + code})


def _instructor_targets(ctx: Context) -> dict[str, str]:
    return {"solution.ipynb": str(ROOT / "solutions" / A / f"{A}.ipynb"),
            "bn_reference.py": str(ROOT / "autograder" / "reference" / "bn_reference.py"),
            "gradebook.db": str(ctx.out / "gradebook.db"),
            "shadow": "/etc/shadow",
            f"{A}.html": str(ROOT / "autograder" / "reference" / "bn_checks.py"),
            "timestamp.txt": "/etc/shadow",
            "classmate.ipynb": str(ctx.own("fs_copy_a") / f"{A}.ipynb"),
            "up": "../../../../../.."}


def _kernel_code(ctx: Context) -> dict[str, str]:
    links = f"""import json, os
for _name, _target in {_hex(_instructor_targets(ctx))}.items():
    for _d in (".", os.path.expanduser("~")):
        os.symlink(_target, os.path.join(_d, _name))
"""
    replace = f"""import json, os
for _nb in [f for f in os.listdir(".") if f.endswith(".ipynb")] + ["{A}.ipynb"]:
    if os.path.lexists(_nb):
        os.remove(_nb)
    os.symlink({_hex(str(ROOT / "README.md"))}, _nb)
"""
    move = f"""import json, os
_here = os.getcwd()
os.rename(_here, _here + "-moved")
os.symlink({_hex(str(ctx.root / "canary.txt"))}, _here)
for _f in ("kernel.log", "connection-1.json", "events-{A}.json"):
    try:
        os.symlink({_hex(str(ROOT / "README.md"))}, os.path.join(os.path.dirname(_here), _f))
    except OSError:
        pass
os.chdir(_here + "-moved")
"""
    sparse_file_limit = """_outcome = "written"
try:
    with open("huge.bin", "wb") as _f:
        _f.truncate(50 * 2**30)
except OSError as _e:
    _outcome = type(_e).__name__
print("sparse 50 GB:", _outcome)
"""
    sparse_quota = """import time
for _i in range(4):
    with open(f"sparse{_i}.bin", "wb") as _f:
        _f.truncate(150 * 2**20)
time.sleep(5)
"""
    dense_quota = f"""import os, time
for _i in range(40):
    with open(os.path.expanduser(f"~/dense{{_i}}.bin"), "wb") as _f:
        _f.write({_split(KERNEL_MARKER)}.encode() * (2**20))
time.sleep(5)
"""
    many = f"""import os, time
os.makedirs("many", exist_ok=True)
for _i in range(5000):
    with open(f"many/{{_i}}.txt", "w") as _f:
        _f.write({_split(KERNEL_MARKER)})
time.sleep(5)
"""
    hog = """import json, time
_chunk = b"t" * 2**20
for _i in range(20):
    with open(f"{}/hog{_i}.bin", "wb") as _f:
        for _j in range(100):
            _f.write(_chunk)
time.sleep(5)
"""
    return {"fs_kernel_links": links, "fs_kernel_replaces_notebook": replace, "fs_kernel_moves_its_folder": move,
            "fs_kernel_sparse_over_file_limit": sparse_file_limit, "fs_kernel_sparse_over_quota": sparse_quota,
            "fs_kernel_dense_over_quota": dense_quota, "fs_kernel_many_files": many,
            "fs_kernel_tmp_hog": hog.replace("{}", "{" + _hex("/tmp") + "}"),
            "fs_kernel_shm_hog": hog.replace("{}", "{" + _hex("/dev/shm") + "}")}


LOGGER = f"""
import os as _os
_real_batchnorm_forward = batchnorm_forward


def batchnorm_forward(x, gamma, beta, eps=1e-3):
    if _os.path.getsize("calls.log") < 100_000 if _os.path.exists("calls.log") else True:  # the tests' calls
        for _p in ("calls.log", "{A}.html", _os.path.expanduser("~/calls.log")):
            with open(_p, "a") as _f:
                _f.write({_split(LOG_MARKER)} + " " + repr((x, gamma, beta, eps)) + "\\n")
    return _real_batchnorm_forward(x, gamma, beta, eps)
"""


def _submitted_side(ctx: Context) -> None:
    nb_name = f"{A}.ipynb"
    for student, target in (("fs_link_to_solution", ROOT / "solutions" / A / nb_name),
                            ("fs_link_to_classmate", ctx.own("fs_copy_a") / nb_name),
                            ("fs_relative_link_to_classmate", Path("..", "..", "fs_copy_a", A, nb_name))):
        ctx.own(student).mkdir(parents=True)
        os.symlink(target, ctx.own(student) / nb_name)
    ctx.own("fs_folder_link").parent.mkdir(parents=True)
    os.symlink(ctx.own("fs_copy_a"), ctx.own("fs_folder_link"))  # submitted/<student>/<assignment> is a link
    ctx.write(ctx.own("fs_copy_a"), ctx.solved())
    for student, name in (("fs_copy_b", nb_name), ("fs_copy_renamed", "my_work.ipynb")):
        ctx.own(student).mkdir(parents=True)
        shutil.copyfile(ctx.own("fs_copy_a") / nb_name, ctx.own(student) / name)
    ctx.own("fs_copy_of_solution").mkdir(parents=True)
    shutil.copyfile(ROOT / "solutions" / A / nb_name, ctx.own("fs_copy_of_solution") / nb_name)
    for student, target in (("fs_timestamp_to_shadow", "/etc/shadow"),
                            ("fs_timestamp_to_gradebook", ctx.out / "gradebook.db")):
        ctx.write(ctx.own(student), ctx.solved())
        os.symlink(target, ctx.own(student) / "timestamp.txt")
    folder = ctx.own("fs_extra_links_fifo_sparse")
    ctx.write(folder, ctx.solved())
    os.symlink(ROOT / "autograder" / "reference" / "bn_reference.py", folder / "helpers.py")
    os.symlink(ROOT / "solutions", folder / "solutions_dir")
    os.mkfifo(folder / "pipe.txt")  # a reader that opened it would block forever
    with open(folder / "data.bin", "wb") as f:
        f.truncate(3 * 2**30)  # 3 GB, sparse: read whole, it would not fit the grader's bound
    folder = ctx.own("fs_many_submitted_files")
    ctx.write(folder, ctx.solved())
    (folder / "notes").mkdir()
    for i in range(300):
        (folder / "notes" / f"{i}.txt").write_text(f"note {i}")


def build(ctx: Context) -> None:
    _submitted_side(ctx)
    for student, code in _kernel_code(ctx).items():
        ctx.write(ctx.own(student), _after_layer(ctx, code))
    ctx.write(ctx.own("fs_kernel_logs_inputs"),
              ctx.solved({"batchnorm_forward": ctx.solution("batchnorm_forward") + LOGGER}))
