"""Cold start: each handler's import time in a fresh interpreter, against the import
every Python Lambda that talks to DynamoDB pays (`import boto3; boto3.client('dynamodb')`).

Runs are interleaved (baseline, fn1, baseline, fn2, ..., then the next round) so that a
machine getting busier or quieter affects both sides alike; medians per function and of
all the baseline runs; ratio = function median / baseline median.

Each run is `python -c` in a fresh interpreter with `sys.path = [functions/<name>, shared,
...]` as in the Lambda bundle (function folder + the domain package), no network (dummy
credentials and region), from a neutral working directory.

Two bytecode modes, both sides alike:
- `bytecode` (the headline): every module has its bytecode ready, in a cache outside the
  repository (`-X pycache_prefix`, filled by one unmeasured run). This is the import work
  itself, what a deployment pays: it ships bytecode for the runtime's Python in the layer
  and every function (infra/assets.py, when python3.12 is on the deploying machine).
- `source`: no bytecode for anything but the standard library, so third-party packages
  and our code are compiled on every start: what a deployment made without python3.12
  pays (/opt and /var/task are read-only, so Lambda compiles them at every cold start).

Besides the import alone, `init` also makes the boto3 clients the function makes on its
first invocation (`backorders.adapters.dynamo.client()`, plus `backorders.adapters.events.client()` where it
publishes), so that moving work from import time into the first call cannot look like a
gain.

`libraries` is the same init without our code: the baseline, then every third-party
package the function's init loaded (pydantic, powertools' modules, ...), imported by name in
the order it loaded them, and the same boto3 clients. It is the floor the fixed shape
(pydantic at every boundary, powertools in every handler) sets; `ours_ratio` is what our
own modules add on top of it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BASELINE = "import boto3; boto3.client('dynamodb', region_name='us-east-1')"

_TIMED = """
import sys, time
sys.path[:0] = {paths!r}
t0 = time.perf_counter()
{code}
t1 = time.perf_counter()
{after}
t2 = time.perf_counter()
sys.stdout.write("%.6f %.6f" % (t1 - t0, t2 - t0))
"""


PYCACHE = Path(tempfile.gettempdir()) / "backorders-bench-pycache"
MODES = ("bytecode", "source")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "BACKORDERS_"))}
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "POWERTOOLS_SERVICE_NAME": "backorders-bench",
            "POWERTOOLS_METRICS_NAMESPACE": "Backorders",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.pop("PYTHONPATH", None)
    return env


def _functions() -> list:
    sys.path[:0] = [str(ROOT / "shared")] if str(ROOT / "shared") not in sys.path else []
    from backorders import topology

    return list(topology.FUNCTIONS)


def _clients(fn) -> str:
    """The boto3 clients the function makes on its first invocation."""
    clients = ["from backorders.adapters import dynamo", "dynamo.client()"]
    if fn.publishes_events:
        clients += ["from backorders.adapters import events", "events.client()"]
    return "\n".join(clients)


def _program(fn) -> str:
    if fn is None:
        return _TIMED.format(paths=[], code=BASELINE, after="")
    paths = [str(ROOT / fn.directory), str(ROOT / "shared")]
    return _TIMED.format(paths=paths, code="import app", after=_clients(fn))


# Prints the third-party modules a function's init loaded, in load order (sys.modules keeps it).
_LOADED = """
import json, sys, sysconfig
sys.path[:0] = {paths!r}
import app
{after}
site = sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]
print(json.dumps([n for n, m in list(sys.modules.items()) if (getattr(m, "__file__", None) or "").startswith(site)]))
"""


def _libraries_program(fn, modules: list[str]) -> str:
    """The function's init with the libraries alone: what it loaded from site-packages, the
    same clients, none of our code."""
    clients = "boto3.client('events', region_name='us-east-1')" if fn.publishes_events else ""
    code = f"{BASELINE}\nimport importlib\nfor _m in {modules!r}:\n    importlib.import_module(_m)"
    return _TIMED.format(paths=[], code=code, after=clients)


def _loaded_modules(fn, env: dict[str, str], cwd: Path) -> list[str]:
    program = _LOADED.format(paths=[str(ROOT / fn.directory), str(ROOT / "shared")], after=_clients(fn))
    out = subprocess.run([sys.executable, "-c", program], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"listing a function's modules failed:\n{out.stderr}")
    return json.loads(out.stdout)


def _run(program: str, env: dict[str, str], cwd: Path, mode: str = "source", fill: bool = False) -> tuple[float, float]:
    args = [sys.executable]
    if mode == "bytecode":
        args += ["-X", f"pycache_prefix={PYCACHE}"]
        if fill:
            env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run([*args, "-c", program], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"cold start run failed:\n{out.stderr}")
    imported, init = out.stdout.split()
    return float(imported), float(init)


def measure(rounds: int = 7, mode: str = "bytecode", warm: bool = False) -> dict:
    """{"baseline_s", "functions": {name: {"import_s", "init_s", "ratio", "init_ratio",
    "libraries_s", "libraries_ratio", "ours_ratio"}}, "cold_start_ratio_max" (of init_ratio), ...}: medians
    over `rounds` interleaved rounds. `warm`: one
    unmeasured run of each program first even in source mode (the bytecode mode always
    does one; run it first and the file cache is warm for the source mode too)."""
    env = _env()
    fns = _functions()
    cwd = Path("/")  # nothing of ours importable unless put on sys.path
    baseline: list[float] = []
    imports: dict[str, list[float]] = {fn.name: [] for fn in fns}
    inits: dict[str, list[float]] = {fn.name: [] for fn in fns}
    libraries: dict[str, list[float]] = {fn.name: [] for fn in fns}
    floors = {fn.name: _libraries_program(fn, _loaded_modules(fn, env, cwd)) for fn in fns}
    # One unmeasured run of each program: fills the bytecode cache, and the OS file cache
    # for both sides alike (the source mode reads the same files).
    if mode == "bytecode" or warm:
        _run(_program(None), env, cwd, mode, fill=True)
        for fn in fns:
            _run(_program(fn), env, cwd, mode, fill=True)
            _run(floors[fn.name], env, cwd, mode, fill=True)
    started = time.perf_counter()
    for r in range(rounds):
        order = fns if r % 2 == 0 else list(reversed(fns))
        for fn in order:
            baseline.append(_run(_program(None), env, cwd, mode)[1])
            imported, init = _run(_program(fn), env, cwd, mode)
            imports[fn.name].append(imported)
            inits[fn.name].append(init)
            libraries[fn.name].append(_run(floors[fn.name], env, cwd, mode)[1])
    base = statistics.median(baseline)
    per_fn = {}
    for fn in fns:
        imp, ini = statistics.median(imports[fn.name]), statistics.median(inits[fn.name])
        lib = statistics.median(libraries[fn.name])
        per_fn[fn.name] = {
            "import_s": round(imp, 4),
            "init_s": round(ini, 4),
            "ratio": round(imp / base, 3),
            "init_ratio": round(ini / base, 3),
            "libraries_s": round(lib, 4),
            "libraries_ratio": round(lib / base, 3),
            "ours_ratio": round((ini - lib) / base, 3),
        }
    return {
        "mode": mode,
        "rounds": rounds,
        "baseline_s": round(base, 4),
        "baseline_runs": len(baseline),
        "functions": per_fn,
        # the headline: import and clients, all a cold start does before its first request
        "cold_start_ratio_max": max(v["init_ratio"] for v in per_fn.values()),
        "cold_start_import_ratio_max": max(v["ratio"] for v in per_fn.values()),
        "cold_start_libraries_ratio_min": min(v["libraries_ratio"] for v in per_fn.values()),
        "cold_start_ours_ratio_max": max(v["ours_ratio"] for v in per_fn.values()),
        "wall_s": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    import json

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for m in sys.argv[2:] or MODES:
        print(json.dumps(measure(rounds, m, warm=True), indent=2))
