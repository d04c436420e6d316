"""Remote backends: a vLLM server for generation (`/v1/completions`) and step scoring
(`/pooling`, task `token_classify`).

The wire shapes, the vLLM version they come from (0.26) and the doc URLs are in
`glore.backends.remote.vllm_contract`. Serving:

* generator: `vllm serve STUDENT` (or a refiner); a LoRA adapter is served with
  `vllm serve BASE --enable-lora --lora-modules NAME=PATH` and chosen with `model=NAME`;
* scorer: `vllm serve SORM --runner pooling` (a 1-label token-classification model).

Policy shared by both backends:

* One pooled `httpx.AsyncClient` per backend (or the caller's client, which the backend then
  never closes). In-flight requests are capped at `max_connections`; the cap is taken before
  a request's timeout starts, so queued requests never time out waiting for a connection.
  Calls may come from successive event loops (repeated `asyncio.run`): the owned client is
  rebuilt for each new loop, and the old loop's idle connections, which cannot be closed once
  that loop is gone, are left to the garbage collector; `async with` / `close()` inside one
  loop closes them cleanly. A caller's client must stay in the loop it was made in.
* Bounded retries: connection errors, timeouts, HTTP 5xx and HTTP 429 are retried up to
  `max_retries` times after `backoff_s * 2**k` seconds (k = 0, 1, ...; at most 8 s), then
  raise `BackendError(retryable=True)`. Other 4xx answers are not retried: a 404 naming the
  model raises `ModelNotFoundError` (model and base URL in the message); the rest raise
  `BackendError(retryable=False)` carrying the server's message. A 200 whose body is not the
  documented shape raises `BackendError(retryable=False)`.
"""

from glore.backends.remote.generator import RemoteGenerator
from glore.backends.remote.scorer import RemoteScorer

__all__ = ["RemoteGenerator", "RemoteScorer"]
