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
* Timeouts: `connect_timeout_s` (5 s, at most `timeout_s`) to open a connection;
  `timeout_s` (60 s) for one request's answer, which is sent whole when the completion is
  done, so it counts the server's queue as well as the generation; `deadline_s` (120 s) for
  one `generate` / `score` call, its retries, backoff and top-ups included, after which it
  raises `BackendError(retryable=True)` and cancels its requests, closing their connections
  (vLLM aborts a request whose client has gone).
* Requests carry at most `max_prompts_per_request` / `max_items_per_request` (256) prompts.
  A 500 with an empty message to a multi-prompt request marks the server as one that takes
  one prompt per request (llama.cpp's Python server): not retried, logged once, and every
  backend sends it one prompt per request from then on.
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
