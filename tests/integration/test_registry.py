"""Pull and push against `corral registry serve` on loopback, with the real daemon and model.

A model created from SmolLM2 is pushed once per session; the tests then pull it into
empty stores through the real registry, or through `registry_wrapper.py` (the real app
with faults: throttled, corrupting, redirecting to another origin).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.registry_procs import Registries, stream
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

MODEL_DIGEST = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_SIZE = 98362432
REPO = "team/smol:v1"


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[Registries]:
    """Registry processes for one test; all are stopped afterwards."""
    started = Registries(tmp_path)
    yield started
    for registry in started.started:
        registry.stop()


def corral(daemon: Daemon, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "corral", *args],
        input=b"",
        capture_output=True,
        env=daemon.env(),
        timeout=timeout,
    )


def _blob_files(models: Path) -> list[str]:
    blobs = models / "blobs"
    return sorted(p.name for p in blobs.iterdir()) if blobs.is_dir() else []


def _manifests(models: Path) -> list[Path]:
    root = models / "manifests"
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory, daemon: Daemon) -> Iterator[Path]:
    """A registry directory holding `team/smol:v1`, a model created from SmolLM2 and pushed."""
    root = tmp_path_factory.mktemp("published")
    tmp = tmp_path_factory.mktemp("published-logs")
    procs = Registries(tmp)
    registry = procs.serve(root / "registry")
    try:
        name = f"{registry.host}/{REPO}"
        created = httpx.post(
            f"{daemon.url}/api/create",
            json={
                "model": name,
                "from": CATALOG_MODEL,
                "system": "You answer in one word.",
                "parameters": {"temperature": 0, "num_predict": 16},
                "stream": False,
            },
            timeout=120,
        )
        created.raise_for_status()
        events = stream(daemon, "/api/push", {"model": name, "insecure": True})
        assert events[-1] == {"status": "success"}, events[-3:]
        httpx.request("DELETE", f"{daemon.url}/api/delete", json={"model": name}, timeout=30)
    finally:
        registry.stop()
    yield root / "registry"


def _name(registry_host: str) -> str:
    return f"{registry_host}/{REPO}"


# -- the round trip --------------------------------------------------------------------------


def test_push_then_pull_into_an_empty_store_and_run(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon]
) -> None:
    registry = registries.serve(published)
    fresh = make_daemon()
    name = _name(registry.host)
    pulled = corral(fresh, "pull", "--insecure", name)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout == b""  # progress goes to stderr, and only as plain lines when piped
    assert b"\x1b" not in pulled.stderr
    for status in (
        b"pulling manifest",
        b"pulling b179c9523d0e",
        b"verifying sha256 digest",
        b"writing manifest",
        b"success",
    ):
        assert status in pulled.stderr
    answer = corral(fresh, "run", name, "What is the capital of France?")
    assert answer.returncode == 0, answer.stderr
    assert b"paris" in answer.stdout.lower()
    listed = corral(fresh, "list")
    assert name.encode() in listed.stdout
    # A second pull moves no blob bytes: everything is already there.
    before = len(registry.access_log())
    again = stream(fresh, "/api/pull", {"model": name, "insecure": True})
    assert again[-1] == {"status": "success"}
    assert not [line for line in registry.access_log()[before:] if "/blobs/" in line]


def test_pull_streams_ollama_progress_events(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon]
) -> None:
    registry = registries.serve(published)
    events = stream(make_daemon(), "/api/pull", {"model": _name(registry.host), "insecure": True})
    statuses = [e["status"] for e in events]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    model_events = [e for e in events if e.get("digest") == MODEL_DIGEST]
    assert model_events[0] == {
        "status": "pulling b179c9523d0e",
        "digest": MODEL_DIGEST,
        "total": MODEL_SIZE,
    }
    assert model_events[-1]["completed"] == MODEL_SIZE
    completed = [int(e.get("completed", 0)) for e in model_events]
    assert completed == sorted(completed)


def test_pull_over_http_needs_insecure(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon]
) -> None:
    registry = registries.serve(published)
    fresh = make_daemon()
    events = stream(fresh, "/api/pull", {"model": f"http://{_name(registry.host)}"})
    assert "insecure protocol http" in str(events[-1].get("error")), events
    assert not [line for line in registry.access_log() if "/v2/team" in line]


def test_push_skips_blobs_the_registry_has_and_cli_push_succeeds(
    published: Path, registries: Registries, daemon: Daemon, tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(published, root)
    registry = registries.serve(root)
    name = f"{registry.host}/team/other:v2"
    assert corral(daemon, "cp", CATALOG_MODEL, name).returncode == 0
    try:
        pushed = corral(daemon, "push", "--insecure", name)
        assert pushed.returncode == 0, pushed.stderr
        assert b"pushing manifest" in pushed.stderr and b"success" in pushed.stderr
        # The weights were already there (pushed as team/smol): HEAD, no upload.
        uploads = [line for line in registry.access_log() if "/blobs/uploads" in line]
        assert not [line for line in uploads if "PATCH" in line and MODEL_DIGEST in line]
        tags = httpx.get(f"{registry.url}/v2/team/other/tags/list", timeout=10).json()
        assert tags == {"name": "team/other", "tags": ["v2"]}
        catalog = httpx.get(f"{registry.url}/v2/_catalog", timeout=10).json()
        assert catalog == {"repositories": ["team/other", "team/smol"]}
    finally:
        corral(daemon, "rm", name)


def test_push_of_a_blob_with_a_wrong_digest_is_rejected(
    registries: Registries, make_daemon: Callable[..., Daemon], daemon: Daemon, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(daemon.models, models)
    registry = registries.serve(tmp_path / "registry")
    pusher = make_daemon(models)
    name = f"{registry.host}/team/bad:v1"
    assert corral(pusher, "cp", CATALOG_MODEL, name).returncode == 0
    manifest = json.loads(next(p for p in _manifests(models) if "team" in str(p)).read_bytes())
    template = next(
        layer for layer in manifest["layers"] if layer["mediaType"].endswith("template")
    )
    blob = models / "blobs" / template["digest"].replace(":", "-")
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0x01  # same size, different content: the name no longer matches
    blob.write_bytes(bytes(data))
    pushed = corral(pusher, "push", "--insecure", name)
    assert pushed.returncode == 1
    assert b"DIGEST_INVALID" in pushed.stderr, pushed.stderr
    assert template["digest"].encode() in pushed.stderr
    head = httpx.head(f"{registry.url}/v2/team/bad/blobs/{template['digest']}", timeout=10)
    assert head.status_code == 404
    assert httpx.get(f"{registry.url}/v2/team/bad/manifests/v1", timeout=10).status_code == 404
    assert not list((tmp_path / "registry" / "uploads").iterdir())


# -- resume ----------------------------------------------------------------------------------


def _part_completed(models: Path) -> int:
    total = 0
    for state in (models / "blobs").glob("sha256-*-partial-*"):
        try:
            total += int(json.loads(state.read_text())["Completed"])
        except (ValueError, KeyError, OSError):
            pass
    return total


def test_registry_killed_mid_blob_then_pull_resumes_with_only_the_remaining_bytes(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    slow = registries.wrapped(published, "--throttle", str(8 << 20))
    port = slow.port
    models = tmp_path / "models"
    first = make_daemon(models)
    result: dict[str, list[dict[str, object]]] = {}

    import threading

    def pull() -> None:
        result["events"] = stream(first, "/api/pull", {"model": _name(slow.host), "insecure": True})

    thread = threading.Thread(target=pull)
    thread.start()
    assert wait_for(lambda: _part_completed(models) > 20 << 20, 120)
    slow.kill()
    thread.join(120)
    assert "error" in result["events"][-1], result["events"][-3:]
    assert not _manifests(models)
    first.stop()  # the part files must survive a daemon restart too
    resumed_from = _part_completed(models)
    assert 20 << 20 <= resumed_from < MODEL_SIZE

    registry = registries.serve(published, port=port)
    second = make_daemon(models)
    events = stream(second, "/api/pull", {"model": _name(registry.host), "insecure": True})
    assert events[-1] == {"status": "success"}, events[-3:]
    ranges = [line for line in registry.access_log() if MODEL_DIGEST in line]
    data_ranges = [line for line in ranges if 'range="bytes=0-0"' not in line]
    assert len(data_ranges) == 1, ranges
    assert f'range="bytes={resumed_from}-{MODEL_SIZE - 1}"' in data_ranges[0]
    assert not list((models / "blobs").glob("*-partial*"))
    assert MODEL_DIGEST.replace(":", "-") in _blob_files(models)


# -- hostile registries ------------------------------------------------------------------------


def test_corrupted_blob_fails_with_a_digest_error_and_leaves_nothing(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    bad = registries.wrapped(published, "--corrupt")
    models = tmp_path / "models"
    fresh = make_daemon(models)
    events = stream(fresh, "/api/pull", {"model": _name(bad.host), "insecure": True})
    error = str(events[-1].get("error"))
    assert "digest mismatch" in error and MODEL_DIGEST in error, events[-3:]
    assert _blob_files(models) == []
    assert _manifests(models) == []
    cli = corral(fresh, "pull", "--insecure", _name(bad.host))
    assert cli.returncode == 1 and b"digest mismatch" in cli.stderr


def _token_setup(tmp_path: Path, registry_host_port: int) -> tuple[Path, Path]:
    token_file = tmp_path / "tokens"
    token_file.write_text("s3cret-pull-token read\n")
    auth = tmp_path / "registry-auth.json"
    auth.write_text(json.dumps({f"127.0.0.1:{registry_host_port}": {"token": "s3cret-pull-token"}}))
    return token_file, auth


def test_redirect_to_another_host_does_not_receive_the_token(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    storage = registries.wrapped(published, "--storage", address="127.0.0.2")
    from tests.integration.conftest import free_port

    port = free_port()
    token_file, auth = _token_setup(tmp_path, port)
    registry = registries.wrapped(
        published, "--redirect-to", storage.url, "--token-file", str(token_file), port=port
    )
    fresh = make_daemon(tmp_path / "models", CORRAL_REGISTRY_AUTH=str(auth))
    events = stream(fresh, "/api/pull", {"model": _name(registry.host), "insecure": True})
    assert events[-1] == {"status": "success"}, events[-3:]
    seen = [r for r in storage.records() if r["path"] != "/v2/"]  # not the readiness probe
    assert seen and all(r["path"].startswith("/storage/sha256:") for r in seen)
    assert all(r["authorization"] is None for r in seen), seen
    # The registry itself was asked with the token (so there was one to leak).
    authorized = [r for r in registry.records() if r["authorization"]]
    assert any("/manifests/" in str(r["path"]) for r in authorized)


def test_realm_on_another_host_is_refused_before_it_is_asked(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    attacker = registries.wrapped(published, "--storage", address="127.0.0.2")
    from tests.integration.conftest import free_port

    port = free_port()
    token_file, auth = _token_setup(tmp_path, port)
    registry = registries.wrapped(
        published, "--token-file", str(token_file), "--realm", f"{attacker.url}/token", port=port
    )
    fresh = make_daemon(tmp_path / "models", CORRAL_REGISTRY_AUTH=str(auth))
    events = stream(fresh, "/api/pull", {"model": _name(registry.host), "insecure": True})
    assert "does not match original host" in str(events[-1].get("error")), events
    assert [r for r in attacker.records() if r["path"] != "/v2/"] == []


def test_pull_without_a_token_from_a_protected_registry_fails_clearly(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    token_file, _ = _token_setup(tmp_path, 1)
    registry = registries.serve(published, token_file=token_file)
    events = stream(make_daemon(), "/api/pull", {"model": _name(registry.host), "insecure": True})
    assert "refused authentication" in str(events[-1].get("error")), events


def test_traversal_digest_in_a_manifest_is_rejected_before_any_blob_request(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    bad = registries.wrapped(published, "--bad-manifest", str(canary))
    models = tmp_path / "models"
    fresh = make_daemon(models)
    events = stream(fresh, "/api/pull", {"model": _name(bad.host), "insecure": True})
    assert "invalid digest" in str(events[-1].get("error")), events
    assert [r for r in bad.records() if "/blobs/" in str(r["path"])] == []
    assert not canary.exists()
    assert _blob_files(models) == [] and _manifests(models) == []


@pytest.mark.parametrize(
    "name",
    [
        "127.0.0.1:5000/../etc/passwd",
        "127.0.0.1:5000/team/..:v1",
        "127.0.0.1:5000/team/m:../../x",
        "127.0.0.1:5000/team/%2e%2e:v1",
        "127.0.0.1:5000/te am/m:v1",
    ],
)
def test_traversal_names_are_rejected_before_any_request(
    name: str, registries: Registries, daemon: Daemon, tmp_path: Path
) -> None:
    registry = registries.wrapped(tmp_path / "empty")
    target = name.replace("127.0.0.1:5000", registry.host)
    for path in ("/api/pull", "/api/push"):
        response = httpx.post(
            f"{daemon.url}{path}", json={"model": target, "insecure": True}, timeout=10
        )
        assert response.status_code == 400, response.text
        assert "invalid" in response.json()["error"]
    assert [r for r in registry.records() if r["path"] != "/v2/"] == []


# -- store hygiene -----------------------------------------------------------------------------


def test_rm_prunes_pulled_blobs_unless_noprune(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    registry = registries.serve(published)
    name = _name(registry.host)
    for env, kept in (({}, False), ({"CORRAL_NOPRUNE": "1"}, True)):
        models = tmp_path / f"models-{kept}"
        fresh = make_daemon(models, **env)
        assert stream(fresh, "/api/pull", {"model": name, "insecure": True})[-1] == {
            "status": "success"
        }
        manifest = json.loads(_manifests(models)[0].read_bytes())
        pulled = sorted(
            d["digest"].replace(":", "-") for d in [manifest["config"], *manifest["layers"]]
        )
        assert _blob_files(models) == pulled
        removed = corral(fresh, "rm", name)
        assert removed.returncode == 0, removed.stderr
        assert _manifests(models) == []
        assert _blob_files(models) == (pulled if kept else [])


def test_daemon_start_removes_day_old_partial_downloads(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    import os

    blobs = tmp_path / "models" / "blobs"
    blobs.mkdir(parents=True)
    old = [
        blobs / ("sha256-" + "a" * 64 + "-partial"),
        blobs / ("sha256-" + "a" * 64 + "-partial-0"),
    ]
    fresh = [
        blobs / ("sha256-" + "b" * 64 + "-partial"),
        blobs / ("sha256-" + "b" * 64 + "-partial-0"),
    ]
    for path in old + fresh:
        path.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    for path in old:
        os.utime(path, (two_days_ago, two_days_ago))
    make_daemon(tmp_path / "models")
    assert [p.exists() for p in old] == [False, False]
    assert [p.exists() for p in fresh] == [True, True]


def test_concurrent_pulls_of_one_model_download_its_blob_once(
    published: Path, registries: Registries, make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    import threading

    registry = registries.serve(published)
    fresh = make_daemon(tmp_path / "models")
    results: list[list[dict[str, object]]] = []

    def pull() -> None:
        results.append(
            stream(fresh, "/api/pull", {"model": _name(registry.host), "insecure": True})
        )

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert [events[-1] for events in results] == [{"status": "success"}] * 3
    data = [
        line
        for line in registry.access_log()
        if MODEL_DIGEST in line and 'range="bytes=0-0"' not in line
    ]
    assert len(data) == 1, data  # the others waited for it, then found the blob stored
    assert not list((tmp_path / "models" / "blobs").glob("*-partial*"))
