"""Clients of paid remote APIs (not inference engines): :mod:`m1repro.api.chat`, the OpenAI-compatible chat client."""
