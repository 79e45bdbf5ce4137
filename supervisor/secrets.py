"""Which secrets each child may see: every secret a child does not need is removed from its environment.

ComfyUI runs third-party custom nodes, so it gets none (the executor hands it the Comfy.org key per prompt).
The executor stores outputs in S3 and passes the Comfy.org key; the HTTP transport checks API keys; the RunPod
transport talks to RunPod's job API and may offload large results to S3; the webhook deliverer signs with
WEBHOOK_SECRET. The forwarder (overflow to a RunPod endpoint) needs the RunPod API key and nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from config.settings import env_name


class Secret(enum.Enum):
    """A group of secret variables that one use needs together."""

    # the keys, and where the named keys' hashes are and their default limits: the HTTP transport's alone
    API_KEYS = (env_name("api_key"), env_name("admin_api_key"), env_name("api_keys_file"), env_name("metrics_api_key"),
                env_name("key_default_requests_per_second"), env_name("key_default_max_pending"),
                env_name("key_default_max_priority"), env_name("key_default_max_request_mb"))
    BUCKET = (env_name("bucket_access_key_id"), env_name("bucket_secret_access_key"),
              # boto3's own variables: used when BUCKET_* are unset
              "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    COMFY_ORG = (env_name("comfy_org_api_key"),)
    RUNPOD = ("RUNPOD_AI_API_KEY", "RUNPOD_API_KEY")  # the RunPod SDK's key to its job API
    WEBHOOK = (env_name("webhook_secret"),)  # signs webhooks

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.value)


NEEDS: dict[str, frozenset[Secret]] = {
    "comfyui": frozenset(),
    "executor": frozenset({Secret.BUCKET, Secret.COMFY_ORG}),
    "forwarder": frozenset({Secret.RUNPOD}),
    "http": frozenset({Secret.API_KEYS}),
    "runpod": frozenset({Secret.BUCKET, Secret.RUNPOD}),
    "webhooks": frozenset({Secret.WEBHOOK}),
}

ALL: frozenset[str] = frozenset(name for secret in Secret for name in secret.names)


def withheld(kind: str) -> frozenset[str]:
    """The secret variables a child of this kind must not see (all of them for an unknown kind)."""
    kept = {name for secret in NEEDS.get(kind, frozenset()) for name in secret.names}
    return ALL - kept


def environment(kind: str, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the secrets a child of this kind does not need."""
    drop = withheld(kind)
    return {name: value for name, value in environ.items() if name not in drop}
