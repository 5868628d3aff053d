"""Posting a webhook: resolve, check every address, connect to a checked one, no redirects.

The host is resolved here and the connection made to the address that was checked (the
TLS name and `Host` stay the URL's), so a DNS answer that changes between a check and the
connection (DNS rebinding) cannot reach a private address. Redirects are answers like any
other: not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from backorders.domain import webhooks

MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None = None


class Refused(Exception):
    """The URL may not be posted to (its text, or what its host resolves to)."""


def _addresses(host: str, port: int, allow_local: bool) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise Refused(f"{host} does not resolve: {e}") from None
    found = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        local = allow_local and address.is_loopback
        if not local and not webhooks.is_public(address):
            raise Refused(f"{host} resolves to {address}, which is not a public address")
        found.append(str(address))
    if not found:
        raise Refused(f"{host} has no address")
    return found


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def check(url: str, *, allow_local: bool) -> None:
    """Refuse a URL that may not receive webhooks: its text, then what its host resolves to."""
    problem = webhooks.url_problem(url, allow_local=allow_local)
    if problem:
        raise Refused(problem)
    parts = urlsplit(url)
    _addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), allow_local)


def post(url: str, body: str, headers: dict[str, str], *, allow_local: bool, timeout_s: float = webhooks.TIMEOUT_S) -> Answer:
    """POST `body`; the answer's status, or why there was none (a time-out, a refusal)."""
    problem = webhooks.url_problem(url, allow_local=allow_local)
    if problem:
        raise Refused(problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _addresses(host, port, allow_local)[0]
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = kind(host, address, port, timeout_s)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER_BYTES)
        return Answer(response.status)
    except TimeoutError:
        return Answer(None, f"no answer within {timeout_s:g} s")
    except (OSError, http.client.HTTPException) as e:
        return Answer(None, f"{type(e).__name__}: {e}"[:300])
    finally:
        connection.close()
