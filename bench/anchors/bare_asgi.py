"""The ceiling: a bare ASGI app on uvicorn + httptools + uvloop, with no framework at all.

`--echo` (default) reads the body and answers a fixed small JSON document: what one core can do
with the socket, HTTP parsing and the event loop alone. `--model FILE` also decodes a V2 JSON
body with orjson, runs the joblib model and encodes a V2 answer: the least a server can do per
request for the iris rows, without batching.

    python bench/anchors/bare_asgi.py --port 8080 [--model model.joblib]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import orjson
import uvicorn

FIXED = (
    b'{"model_name":"bare","outputs":'
    b'[{"name":"output-0","datatype":"INT64","shape":[2],"data":[0,0]}]}'
)
HEADERS = [(b"content-type", b"application/json")]


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def make_app(model_file: str | None) -> Any:
    estimator = None
    if model_file:
        import joblib

        estimator = joblib.load(model_file)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        answer = FIXED
        if estimator is not None and scope["method"] == "POST":
            tensor = orjson.loads(body)["inputs"][0]
            rows = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
            labels = estimator.predict(rows)
            answer = orjson.dumps(
                {
                    "model_name": "bare",
                    "outputs": [
                        {
                            "name": "output-0",
                            "datatype": "INT64",
                            "shape": [len(labels)],
                            "data": labels.tolist(),
                        }
                    ],
                }
            )
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": answer})

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.model),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
