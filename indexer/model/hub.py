"""Fail fast when a model must come from the Hugging Face hub and the hub cannot be reached.

Without this check a missing network costs about 50 s of retries and dozens of log lines
(huggingface_hub retries every request five times with back-off) before one error surfaces.
One short request tells the same: when it fails, loading stops at once with one line naming
the model, what was tried, and the two ways out (a model folder, or the local cache).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping

from indexer.errors import ModelLoadError
from indexer.invocation import indexer_command

#: The hub answers in well under a second where it is reachable at all.
PROBE_TIMEOUT_SECONDS = 3.0
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}


def offline_requested(environ: Mapping[str, str]) -> bool:
    """Whether the user asked huggingface_hub to use its cache only (``HF_HUB_OFFLINE``)."""
    return any(
        environ.get(key, "").strip().lower() in _TRUE
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_endpoint(environ: Mapping[str, str]) -> str:
    """The hub's address, as huggingface_hub itself reads it."""
    return environ.get("HF_ENDPOINT", "").rstrip("/") or DEFAULT_ENDPOINT


def unreachable_reason(endpoint: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """Why ``endpoint`` cannot be reached, or None if it answers at all (any HTTP status)."""
    try:
        with urllib.request.urlopen(
            urllib.request.Request(endpoint, method="HEAD"), timeout=timeout
        ):
            return None
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except (OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__


def require_hub_for(model: str, environ: Mapping[str, str] | None = None) -> None:
    """Raises one :class:`ModelLoadError` if ``model`` would need an unreachable hub.

    With ``HF_HUB_OFFLINE`` set nothing is asked of the network (huggingface_hub then reads
    its cache only and fails at once if a file is not there).
    """
    environ = os.environ if environ is None else environ
    if offline_requested(environ):
        return
    endpoint = hub_endpoint(environ)
    reason = unreachable_reason(endpoint)
    if reason is None:
        return
    raise ModelLoadError(
        f"cannot load model {model}: it comes from the model hub and {endpoint} is unreachable "
        f"({reason}); on a machine with network run `{indexer_command()} model export --out DIR`, "
        'copy DIR here and set model.path = "DIR", or set HF_HUB_OFFLINE=1 if the model is in '
        "the Hugging Face cache already"
    )
