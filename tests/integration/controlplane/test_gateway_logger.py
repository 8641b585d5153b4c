"""The gateway's request logger sends KServe's `metadata` extension and the caller's request id.

A real gateway and real stand-in replicas (one of them the CloudEvent sink) on port 0.
"""

from __future__ import annotations

import asyncio
import json

from modelplane.controlplane.gateway import LoggerSpec
from tests.integration.controlplane.test_gateway_http import gateway, replicas, revision, route


async def test_metadata_headers_ride_on_both_events_and_the_id_is_the_callers() -> None:
    async with replicas("a", "sink") as r, gateway() as (gw, client):
        spec = LoggerSpec(f"{r['sink'].url}/log", "all", ("X-Tenant", "X-Absent", "Ce-Id"))
        gw.set_routes([route("iris", revision("iris-1", 100, r["a"]), logger=spec)])
        answer = await client.post(
            "/v1/models/iris:predict",
            content=b'{"instances": [[1]]}',
            headers=[
                ("x-tenant", "t1"),
                ("x-tenant", "t2"),
                ("ce-id", "graph-42"),
                ("x-other", "not listed"),
            ],
        )
        assert answer.status_code == 200
        events = [await asyncio.wait_for(r["sink"].logged.get(), 10) for _ in range(2)]
        for headers, _body in events:
            assert headers["ce-id"] == "graph-42"
            # As KServe's agent: the listed headers found, each with all its values.
            assert json.loads(headers["ce-metadata"]) == {
                "X-Tenant": ["t1", "t2"],
                "Ce-Id": ["graph-42"],
            }


async def test_no_metadata_headers_is_an_empty_object() -> None:
    async with replicas("a", "sink") as r, gateway() as (gw, client):
        spec = LoggerSpec(f"{r['sink'].url}/log", "request")
        gw.set_routes([route("iris", revision("iris-1", 100, r["a"]), logger=spec)])
        answer = await client.post("/v1/models/iris:predict", headers={"x-request-id": "r-1"})
        assert answer.status_code == 200
        headers, _ = await asyncio.wait_for(r["sink"].logged.get(), 10)
        assert headers["ce-id"] == "r-1" and json.loads(headers["ce-metadata"]) == {}
