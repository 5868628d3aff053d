"""Configuration of a function, read once from the environment at cold start.

On Lambda every name must come from the environment the stack sets: a missing one fails
the cold start, naming it, rather than quietly using a default table that does not exist.
Elsewhere (the local runtime, tests) the topology's own names are the defaults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict

from backorders import topology
from backorders.domain import webhooks

WEBHOOK_SCHEDULE_ENV_VAR = "BACKORDERS_WEBHOOK_RETRY_SCHEDULE"
WEBHOOKS_ALLOW_LOCAL_ENV_VAR = "BACKORDERS_WEBHOOKS_ALLOW_LOCAL"


class MissingConfiguration(RuntimeError):
    """The function's environment lacks what the stack always sets."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    tables: dict[str, str]
    event_bus: str
    # Admin credential: either the SHA-256 of the token (local runtime, tests) or the
    # ARN of a Secrets Manager secret holding the token (the deployed stack).
    admin_token_sha256: str | None = None
    admin_token_secret_arn: str | None = None
    # The reconciler: work younger than this is not stuck yet; the queues it replays.
    reconcile_after_minutes: float = 15.0
    dead_letter_queue_urls: tuple[str, ...] = ()
    # The queues of the topology this function uses (name -> URL); locally found by name.
    queue_urls: dict[str, str] = {}
    deployed: bool = False
    # Outbound webhooks: the retry schedule (seconds), and whether http://127.0.0.1 and
    # http://localhost may receive them (`backorders local` and tests; never deployed).
    webhook_schedule_s: tuple[int, ...] = webhooks.DEFAULT_SCHEDULE_S
    webhooks_allow_local: bool = False

    def table(self, table: topology.Table) -> str:
        return self.tables[table.name]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        if env.get("AWS_LAMBDA_FUNCTION_NAME"):  # deployed: nothing may be guessed
            required = [t.env_var for t in topology.TABLES] + [topology.EVENT_BUS_ENV_VAR]
            missing = [name for name in required if not env.get(name)]
            if missing:
                raise MissingConfiguration(f"environment variable(s) not set: {', '.join(missing)}")
        return cls(
            tables={t.name: env.get(t.env_var) or t.name for t in topology.TABLES},
            event_bus=env.get(topology.EVENT_BUS_ENV_VAR) or topology.EVENT_BUS,
            admin_token_sha256=env.get("ADMIN_TOKEN_SHA256") or None,
            admin_token_secret_arn=env.get("ADMIN_TOKEN_SECRET_ARN") or None,
            reconcile_after_minutes=float(env.get(topology.RECONCILE_AFTER_ENV_VAR) or 15),
            dead_letter_queue_urls=tuple(json.loads(env.get(topology.DEAD_LETTER_QUEUES_ENV_VAR) or "[]")),
            queue_urls={q.name: env[q.env_var] for q in topology.QUEUES if env.get(q.env_var)},
            deployed=bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
            webhook_schedule_s=webhooks.schedule(env.get(WEBHOOK_SCHEDULE_ENV_VAR)),
            webhooks_allow_local=env.get(WEBHOOKS_ALLOW_LOCAL_ENV_VAR) == "1" and not env.get("AWS_LAMBDA_FUNCTION_NAME"),
        )


@cache
def settings() -> Settings:
    return Settings.from_env()
