"""Batch jobs on Redis: the API's routes and client, the store, and the worker process."""
