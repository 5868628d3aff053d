"""The topology is the one declaration of what runs where: the code must agree with it."""

import sys
from typing import get_args

from backorders import topology
from backorders_local import functions


def _app(fn: topology.Function):
    functions.load(fn)
    return sys.modules[f"backorders_fn_{fn.name}"].app


def served_routes(fn: topology.Function) -> set[tuple[str, str]]:
    """The routes of the function's OpenAPI document."""
    paths = _app(fn).get_openapi_schema().paths or {}
    return {(method.upper(), path) for path, item in paths.items() for method in ("get", "put", "post", "delete") if getattr(item, method, None)}


def resolved_routes(fn: topology.Function) -> set[tuple[str, str]]:
    """Every route the function's resolver answers, in the document or not."""
    app = _app(fn)
    return {(r.method, r.openapi_path) for r in [*app._static_routes, *app._dynamic_routes]}


def contract(routes) -> set[tuple[str, str]]:
    """The API contract: every route but the web pages'."""
    return {(r.method, r.path) for r in routes if r not in topology.PANEL_ROUTES}


def test_every_route_of_the_topology_is_served_by_its_function():
    for fn in topology.FUNCTIONS:
        if fn.routes:
            assert contract(fn.routes) <= served_routes(fn), fn.name
            assert {(r.method, r.path) for r in fn.routes} <= resolved_routes(fn), fn.name


def test_the_api_document_covers_the_whole_contract_and_nothing_else():
    declared = contract(route for route, _ in topology.all_routes())
    assert served_routes(topology.function("api")) == declared


def test_the_web_pages_are_public_static_routes_of_the_api_function_outside_its_document():
    api = topology.function("api")
    assert set(topology.PANEL_ROUTES) <= set(api.routes)
    assert all(r.method == "GET" and r.auth == "none" and r.path.startswith(topology.PANEL) for r in topology.PANEL_ROUTES)
    # nothing else is public: only health, the OpenAPI document and the pages
    public = {(r.method, r.path) for r, _ in topology.all_routes() if r.auth == "none"}
    assert public == {("GET", "/v1/health"), ("GET", "/v1/openapi.json")} | {(r.method, r.path) for r in topology.PANEL_ROUTES}
    assert not any(path.startswith(topology.PANEL) for _, path in served_routes(api))


def test_every_function_has_a_folder_with_its_handler_and_no_two_share_a_route():
    seen = set()
    for fn in topology.FUNCTIONS:
        assert callable(functions.load(fn)), fn.name
        for route in fn.routes:
            assert (route.method, route.path) not in seen
            seen.add((route.method, route.path))


def test_stream_and_rule_triggers_point_at_what_exists():
    # A stream's function needs no access to the table itself (on_goods_received gets the
    # GRN from the record): the event source mapping reads the stream.
    for fn in topology.FUNCTIONS:
        if fn.stream:
            assert fn.stream.table.stream, f"{fn.name} listens to a table without a stream"
        if fn.rule:
            assert fn.rule.pattern["source"] == [topology.EVENT_SOURCE]


def levels(access) -> set[str]:
    return {access} if isinstance(access, str) else set(access)


def test_table_access_names_real_tables_and_known_levels():
    for fn in topology.FUNCTIONS:
        for name, access in fn.tables.items():
            topology.table(name)
            assert levels(access) and levels(access) <= set(get_args(topology.Access)), (fn.name, name, access)


def test_rule_retry_settings_are_within_what_eventbridge_and_lambda_accept():
    for fn in topology.FUNCTIONS:
        if fn.rule:
            assert 0 <= fn.rule.retry_attempts <= 185 and 60 <= fn.rule.max_event_age_s <= 86400, fn.name
            assert 0 <= fn.rule.async_retry_attempts <= 2 and 60 <= fn.rule.async_max_event_age_s <= 21600, fn.name
