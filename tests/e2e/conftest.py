"""One `backorders local` process for the whole end-to-end session, started as a person
would start it (a subprocess), and stopped with SIGTERM at the end."""

from __future__ import annotations

import secrets

import pytest
import requests

from tests.e2e.local import Api, LocalProcess


@pytest.fixture(scope="session")
def local_api():
    token = secrets.token_urlsafe(16)
    process = LocalProcess("--no-walkthrough", "--port", "0", f"--admin-token={token}")
    try:
        serving = process.wait_for(r"Serving on (http://127\.0\.0\.1:\d+)")
        aws = process.wait_for(r"embedded AWS\s+(http://127\.0\.0\.1:\d+)")
        api = Api(serving.group(1), token, aws.group(1))
        assert requests.get(api.url + "/v1/health", timeout=5).json() == {"status": "ok"}
        yield api
    finally:
        code = process.terminate()
    output = process.output()
    assert code == 0, f"exit status {code}\n{output}\n{process.errors()}"
    assert "Stopped." in output
    process.cleanup()


@pytest.fixture
def api(local_api: Api) -> Api:
    return local_api
