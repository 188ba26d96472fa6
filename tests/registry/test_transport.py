"""Where a registry conversation may go: redirect limits, the SSRF policy, https only."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from corral.errors import RegistryError
from corral.names import ModelName
from corral.registry.client import RegistryRef, RegistrySession


async def test_a_redirect_loop_stops_after_ten_hops() -> None:
    hops: list[str] = []

    async def loop(request: web.Request) -> web.Response:
        hops.append(request.path)
        raise web.HTTPTemporaryRedirect(f"/v2/team/m/manifests/hop{len(hops)}")

    app = web.Application()
    app.router.add_get("/v2/team/m/manifests/{tag}", loop)
    server = TestServer(app)
    await server.start_server()
    try:
        ref = RegistryRef(ModelName.parse(f"127.0.0.1:{server.port}/team/m:v1"), insecure=True)
        async with RegistrySession(ref) as session:
            with pytest.raises(RegistryError, match="too many redirects"):
                await session.open("GET", ref.manifest_url())
        assert len(hops) == 11
    finally:
        await server.close()


async def test_public_registry_may_not_redirect_to_private_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = RegistryRef(ModelName.parse("registry.example/team/m:v1"))
    addresses = {
        "registry.example": ["93.184.216.34"],
        "metadata.internal": ["169.254.169.254"],
        "cdn.example": ["151.101.1.1"],
    }

    async def resolve(self: RegistrySession, host: str, port: int) -> list[str]:
        return addresses[host]

    monkeypatch.setattr(RegistrySession, "_addresses", resolve)
    async with RegistrySession(ref) as session:
        with pytest.raises(RegistryError, match=r'disallowed address "metadata\.internal"'):
            await session._check_target("https://metadata.internal/latest/meta-data")
        await session._check_target("https://cdn.example/blob")  # a public CDN is fine
        with pytest.raises(RegistryError, match="is not https"):
            await session._check_target("http://cdn.example/blob")
        assert session.trusted("https://registry.example/v2/x")
        assert not session.trusted("https://registry.example:444/v2/x")
        assert not session.trusted("http://registry.example/v2/x")
