"""The peers the bench measures modelplane against: KServe and bare-ASGI anchors (scripts run
by their own interpreters; MLServer needs no script, only settings the bench writes)."""
