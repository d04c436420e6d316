"""Which models a server serves (`GET /v1/models`), asked once per server at start-up so a
wrong `model` name fails before any request, naming the models the server does serve."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from glore.backends.remote.http import CONNECT_TIMEOUT_S
from glore.backends.remote.vllm_contract import MODELS_PATH, ContractError, parse_models
from glore.errors import ModelNotFoundError

log = logging.getLogger("glore.backends.remote")

CHECK_TIMEOUT_S = 10.0
"""The longest wait for a server's models list at start-up."""


def served_models(base_url: str) -> list[str] | str:
    """The ids `GET /v1/models` lists, or, when the list cannot be had, why not."""
    url = base_url.rstrip("/") + MODELS_PATH
    timeout = httpx.Timeout(CHECK_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"GET {url} failed ({type(exc).__name__})"
    if response.status_code != 200:
        return f"GET {url} answered HTTP {response.status_code}"
    try:
        return parse_models(response.json())
    except (ValueError, ContractError) as exc:
        return f"GET {url} answered a body that is not a models list ({exc})"


def check_served(models: Mapping[str, tuple[str, str]]) -> None:
    """Check each role's (base URL, model) against its server's models list, one request
    per server. A name the server does not list raises `ModelNotFoundError` naming the
    names it does; a server without the list (or not answering) is logged as unchecked."""
    by_url: dict[str, list[tuple[str, str]]] = {}
    for role, (url, model) in models.items():
        by_url.setdefault(url.rstrip("/"), []).append((role, model))
    for url, roles in by_url.items():
        served = served_models(url)
        if isinstance(served, str):
            names = ", ".join(f"{role}={model!r}" for role, model in roles)
            log.warning(
                "%s; the model names of %s are not checked (a server such as llama.cpp's "
                "answers any name with its own model)",
                served,
                names,
            )
            continue
        for role, model in roles:
            if model not in served:
                raise ModelNotFoundError(
                    f"role {role!r}: model {model!r} is not served at {url}; it serves "
                    f"{', '.join(map(repr, served)) or 'nothing'} (GET {MODELS_PATH}); a "
                    "LoRA adapter must be named in the server's --lora-modules"
                )
