"""Configuration of a function, read once from the environment at cold start."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache

from backorders import topology


@dataclass(frozen=True)
class Settings:
    tables: dict[str, str]
    event_bus: str
    # Admin credential: either the SHA-256 of the token (local runtime, tests) or the
    # ARN of a Secrets Manager secret holding the token (the deployed stack).
    admin_token_sha256: str | None
    admin_token_secret_arn: str | None
    # The reconciler: work younger than this is not stuck yet; the queues it replays.
    reconcile_after_minutes: float = 15.0
    dead_letter_queue_urls: tuple[str, ...] = ()

    def table(self, table: topology.Table) -> str:
        return self.tables[table.name]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            tables={t.name: env.get(t.env_var, t.name) for t in topology.TABLES},
            event_bus=env.get(topology.EVENT_BUS_ENV_VAR, topology.EVENT_BUS),
            admin_token_sha256=env.get("ADMIN_TOKEN_SHA256") or None,
            admin_token_secret_arn=env.get("ADMIN_TOKEN_SECRET_ARN") or None,
            reconcile_after_minutes=float(env.get(topology.RECONCILE_AFTER_ENV_VAR) or 15),
            dead_letter_queue_urls=tuple(json.loads(env.get(topology.DEAD_LETTER_QUEUES_ENV_VAR) or "[]")),
        )


@cache
def settings() -> Settings:
    return Settings.from_env()


