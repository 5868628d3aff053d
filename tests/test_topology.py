"""The topology is the one declaration of what runs where: the code must agree with it."""

import importlib
import sys

from backorders import topology
from backorders_local import functions


def served_routes(fn: topology.Function) -> set[tuple[str, str]]:
    functions.load(fn)
    app = sys.modules[f"backorders_fn_{fn.name}"].app
    paths = app.get_openapi_schema().paths or {}
    return {(method.upper(), path) for path, item in paths.items() for method in ("get", "put", "post", "delete") if getattr(item, method, None)}


def test_every_route_of_the_topology_is_served_by_its_function():
    for fn in topology.FUNCTIONS:
        if fn.routes:
            assert {(r.method, r.path) for r in fn.routes} <= served_routes(fn), fn.name


def test_the_api_document_covers_the_whole_contract_and_nothing_else():
    declared = {(route.method, route.path) for route, _ in topology.all_routes()}
    assert served_routes(topology.function("api")) == declared


def test_every_function_has_a_folder_with_its_handler_and_no_two_share_a_route():
    seen = set()
    for fn in topology.FUNCTIONS:
        assert callable(functions.load(fn)), fn.name
        for route in fn.routes:
            assert (route.method, route.path) not in seen
            seen.add((route.method, route.path))


def test_stream_and_rule_triggers_point_at_what_exists():
    for fn in topology.FUNCTIONS:
        if fn.stream:
            assert fn.stream.table.stream, f"{fn.name} listens to a table without a stream"
            assert fn.stream.table.name in fn.tables
        if fn.rule:
            assert fn.rule.pattern["source"] == [topology.EVENT_SOURCE]


def test_the_domain_never_imports_aws_handlers_or_infra_in_its_rules():
    for name in ("backorders.rules", "backorders.models", "backorders.security", "backorders.topology", "backorders.ids"):
        module = importlib.import_module(name)
        source = open(module.__file__).read()
        for banned in ("boto3", "botocore", "aws_cdk", "aws_lambda_powertools", "backorders_local", "moto"):
            assert f"import {banned}" not in source and f"from {banned}" not in source, (name, banned)
