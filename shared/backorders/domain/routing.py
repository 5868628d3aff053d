"""The one route table: which route a request is, before anyone looks at it.

Both the credential gate and the local runtime ask `match`; the resolver is then handed
only the canonical form of a path that matched exactly. So the gate and the router
cannot disagree on what a path means: a trailing slash, an empty segment, `.`/`..`, an
encoded `/` in an id or a path id that is not a valid id matches nothing (404), before
any credential check or write. A `{sku}` segment is a percent-encoded SKU (the rule in
`domain.skus`): an encoded `/`, `#` or space in it is part of the SKU. A path known
under other methods is a 405 with `Allow`; `HEAD` is answered like `GET`.

Pure: the standard library, the topology and the domain's SKU rule only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from backorders import topology
from backorders.domain.skus import is_valid_sku

# The v1.1 id rule; fullmatch, so no trailing newline sneaks through (`$` would allow it).
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")
ASSET = re.compile(r"[a-z0-9][a-z0-9_\-]*\.[a-z]+")
# What a decoded path parameter must be, by name; any other name is an id.
PARAM_RULES: dict[str, Callable[[str], bool]] = {
    "sku": is_valid_sku,
    "asset": lambda value: ASSET.fullmatch(value) is not None,
}


def _is_id(value: str) -> bool:
    return ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Match:
    route: topology.Route
    function: topology.Function
    params: dict[str, str]

    def canonical_path(self) -> str:
        """The path rebuilt from the template: what the resolver is given, and itself a
        path that matches this route with these params."""
        path = self.route.path
        for name, value in self.params.items():
            path = path.replace("{" + name + "}", encode_segment(value))
        return path


def encode_segment(value: str) -> str:
    """A param as one path segment: encoded whole (a SKU's `/`, `#`, `%`, spaces and
    non-ASCII too), and a value of only dots as well, since a bare `.`/`..` is no value."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


@dataclass(frozen=True)
class NoMatch:
    """404 (`allow` empty) or 405 (the path exists under the methods in `allow`)."""

    allow: tuple[str, ...] = ()

    @property
    def status(self) -> int:
        return 405 if self.allow else 404


def _segments(template: str) -> tuple[str, ...]:
    return tuple(template.strip("/").split("/"))


_TABLE: list[tuple[topology.Route, topology.Function, tuple[str, ...]]] = [
    (route, fn, _segments(route.path)) for route, fn in topology.all_routes()
]


# A `%` that does not start an escape: such a segment has no one meaning.
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _decode(segment: str) -> str | None:
    """One path segment, percent-decoded once (an encoded `/` or `%` then fails the id
    rule, a control character the id and SKU rules); None when a `%` starts no escape or
    the bytes are not UTF-8."""
    if _STRAY_PERCENT.search(segment):
        return None
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return None


def _match_path(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(template) != len(segments):
        return None
    params: dict[str, str] = {}
    for part, segment in zip(template, segments, strict=True):
        if part.startswith("{"):
            name = part[1:-1]
            value = _decode(segment)
            if value is None or not PARAM_RULES.get(name, _is_id)(value):
                return None
            params[name] = value
        elif segment != part:
            return None
    return params


def match(method: str, path: str) -> Match | NoMatch:
    """The route of `method path` (the raw path, still percent-encoded), or why none."""
    if not path.startswith("/") or (path != path.rstrip("/") and path != "/"):
        return NoMatch()
    segments = path[1:].split("/")
    if any(segment in (".", "..") for segment in segments):
        # A SKU may be "." but is then sent encoded: a bare dot segment is a path trick.
        return NoMatch()
    wanted = "GET" if method == "HEAD" else method
    allow: set[str] = set()
    for route, fn, template in _TABLE:
        params = _match_path(template, segments)
        if params is None:
            continue
        if route.method == wanted:
            return Match(route, fn, params)
        allow.add(route.method)
    if "GET" in allow:
        allow.add("HEAD")
    return NoMatch(tuple(sorted(allow)))
