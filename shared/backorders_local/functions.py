"""Loads each function's handler from `functions/<name>/`, as Lambda would."""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from backorders import topology

ROOT = Path(__file__).resolve().parents[2]

Handler = Callable[[dict, object], dict]

# The function whose handler is running (None outside any handler). On Lambda each
# function has its own role; this says whose role an AWS call would be made with.
CURRENT_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("backorders_function", default=None)


@contextmanager
def invoking(name: str) -> Iterator[None]:
    token = CURRENT_FUNCTION.set(name)
    try:
        yield
    finally:
        CURRENT_FUNCTION.reset(token)


def named(name: str, handler: Handler) -> Handler:
    """`handler`, run as function `name` (see CURRENT_FUNCTION)."""

    @functools.wraps(handler)
    def invoke(event: dict, context: object) -> dict:
        with invoking(name):
            return handler(event, context)

    return invoke


def handler_path(fn: topology.Function, root: Path = ROOT) -> Path:
    module_name = fn.handler.rsplit(".", 1)[0]
    return root / fn.directory / f"{module_name.replace('.', '/')}.py"


def load_module(fn: topology.Function, root: Path = ROOT, instance: int = 0):
    """The module holding `fn`'s handler. Each `instance` is a separate copy of it, with
    its own module-level state, as separate Lambda execution environments would have;
    instance 0 is the one `load` returns."""
    path = handler_path(fn, root)
    unique = f"backorders_fn_{fn.name}" + (f"__{instance}" if instance else "")
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique]
            raise
    return module


def load(fn: topology.Function, root: Path = ROOT) -> Handler:
    return getattr(load_module(fn, root), fn.handler.rsplit(".", 1)[1])


def load_all(root: Path = ROOT) -> dict[str, Handler]:
    return {fn.name: named(fn.name, load(fn, root)) for fn in topology.FUNCTIONS}


@dataclass
class LambdaContext:
    """What a handler may ask of the Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 512
    timeout_s: int = 30
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


def context_for(fn: topology.Function) -> LambdaContext:
    return LambdaContext(function_name=fn.name, memory_limit_in_mb=fn.memory_mb, timeout_s=fn.timeout_s)
