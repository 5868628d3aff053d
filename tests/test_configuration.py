"""What a function reads from its environment: on Lambda nothing is guessed, and the
admin token follows its secret without a cold start."""

from __future__ import annotations

import boto3
import pytest

from backorders import topology
from backorders.adapters import config
from backorders.adapters.store import Store
from backorders.http import gate as http
from tests.chain import ADMIN_TOKEN


def deployed_environment() -> dict[str, str]:
    env = {t.env_var: f"Backorders-{t.name}-1A2B" for t in topology.TABLES}
    return {**env, topology.EVENT_BUS_ENV_VAR: "backorders", "AWS_LAMBDA_FUNCTION_NAME": "Backorders-api"}


def test_on_lambda_a_missing_table_name_fails_the_cold_start_naming_it():
    env = deployed_environment()
    del env[topology.ORDERS.env_var]
    with pytest.raises(config.MissingConfiguration, match=topology.ORDERS.env_var):
        config.Settings.from_env(env)


def test_on_lambda_the_stacks_names_are_used():
    settings = config.Settings.from_env(deployed_environment())
    assert settings.table(topology.ORDERS) == "Backorders-orders-1A2B"


def test_elsewhere_the_topologys_names_are_the_defaults():
    assert config.Settings.from_env({}).table(topology.ORDERS) == "orders"


def test_a_rotated_admin_token_is_taken_without_a_cold_start(chain, monkeypatch):
    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="admin-token-rotation", SecretString=ADMIN_TOKEN)["ARN"]
    monkeypatch.delenv("ADMIN_TOKEN_SHA256")
    monkeypatch.setenv("ADMIN_TOKEN_SECRET_ARN", arn)
    config.settings.cache_clear()
    monkeypatch.setattr(http, "ADMIN_TOKEN_MAX_AGE_S", 0)  # as if the 5 minutes had passed
    try:
        gate = http.Gate(Store())
        event = {"httpMethod": "GET", "path": "/v1/sellers/s1", "headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
        assert gate.check(event)[0].kind == "admin"
        secrets.put_secret_value(SecretId=arn, SecretString="a-new-token")
        with pytest.raises(http.Unauthorized):
            gate.check(event)
        event["headers"]["Authorization"] = "Bearer a-new-token"
        assert gate.check(event)[0].kind == "admin"
    finally:
        config.settings.cache_clear()
