"""The observability room: logging set-up, request ids and metric definitions.

Metrics live on a registry passed in by the caller, never on a global one, so two servers in one
process (as in tests) do not share counters.
"""
