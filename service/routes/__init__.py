"""The HTTP routes: /v1/solve, /v1/critique, /healthz, /readyz, /metrics."""
