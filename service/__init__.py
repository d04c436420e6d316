"""The GLoRe service: a FastAPI gateway and a Redis-backed job worker, thin over `glore`."""
