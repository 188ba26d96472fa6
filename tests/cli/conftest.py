"""A scripted daemon behind httpx.MockTransport, and a runner that invokes `corral` against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from corral.cli import cli
from corral.cli._daemon import CliState
from corral.client import Client

Route = Callable[[dict[str, Any]], httpx.Response]


def ndjson(*objects: dict[str, Any], status: int = 200) -> httpx.Response:
    body = b"".join(json.dumps(o).encode() + b"\n" for o in objects)
    return httpx.Response(status, content=body, headers={"content-type": "application/x-ndjson"})


def error(status: int, message: str, code: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"error": message}
    if code:
        body["code"] = code
    return httpx.Response(status, json=body)


@dataclass
class FakeDaemon:
    """Answers requests from `routes[(method, path)]`; records every request body."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        raw = request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append((request.method, path, body))
        if (request.method, path) == ("HEAD", "/"):
            return httpx.Response(200, text="corral is running")
        route = self.routes.get((request.method, path))
        if route is None:
            return httpx.Response(404, text="404 page not found")
        return route(body)

    def calls(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.requests if (m, p) == (method, path)]


@dataclass
class Invoker:
    daemon: FakeDaemon
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None) -> Result:
        client = Client("127.0.0.1:11434", transport=httpx.MockTransport(self.daemon.handle))
        state = CliState(autostart=False, client=client)
        return self.runner.invoke(cli, list(args), input=input, obj=state, catch_exceptions=False)


@pytest.fixture
def daemon() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
def corral(daemon: FakeDaemon) -> Invoker:
    return Invoker(daemon, CliRunner())
