"""The baseline of the intake benchmark: a minimal FastAPI endpoint on the same server settings,
parsing JSON and answering 202, with no database."""

from __future__ import annotations

import uuid

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/incidents", status_code=202)
async def report(request: Request) -> dict[str, str]:
    await request.json()
    return {"id": str(uuid.uuid4()), "status": "received"}


if __name__ == "__main__":
    import sys

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False, loop="uvloop",
                http="httptools")
