"""Pull throughput over loopback: `corral pull` (through the daemon, sha256 verified) vs curl.

Builds a registry holding a ~250 MB model (random weights, so nothing compresses), serves
it with `corral registry serve`, then times, best of --runs each:

- curl fetching the model blob to a file (no verification, left in the page cache);
- the same curl followed by an fsync of the file: on disk, as a pulled blob must be;
- a full `/api/pull` into an empty store: manifest, parallel ranged parts, sha256 checked
  before the blob is visible, fsynced before the rename (DESIGN.md), manifest written.

Prints MB/s for all three and corral's ratio to each. The target is on the like-for-like
anchor, curl + fsync: a durable write cannot outrun the disk, and plain curl never waits
for it. Exits 1 when corral is below --target (0.8) of it.

    python bench/pull_bench.py [--size-mb 250] [--runs 3] [--target 0.8]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from corral.registry.server import RegistryStorage, Repository
from corral.store.manifests import MEDIA_CONFIG, MEDIA_MODEL, Layer, Manifest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: process exited {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def build_registry(root: Path, size: int) -> tuple[str, int]:
    storage = RegistryStorage(root)
    hasher = hashlib.sha256()
    blob = root / "weights.tmp"
    root.mkdir(parents=True, exist_ok=True)
    with blob.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            hasher.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    digest = "sha256:" + hasher.hexdigest()
    storage.blobs.commit_file(blob, digest, size)
    config = json.dumps({"model_format": "gguf", "model_family": "bench"}).encode()
    config_digest, config_size = storage.blobs.write_bytes(config)
    manifest = Manifest(
        config=Layer(MEDIA_CONFIG, config_digest, config_size),
        layers=(Layer(MEDIA_MODEL, digest, size),),
    )
    storage.put_manifest(Repository("bench", "model"), "latest", manifest.to_json())
    return digest, size


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def curl_once(url: str, target: Path, *, durable: bool = False) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["curl", "-sf", "-o", str(target), url], check=True)
    if durable:
        fd = os.open(target, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    target.unlink()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def pull_once(daemon: str, pid: int, name: str, models: Path, digest: str) -> tuple[float, float]:
    cpu_before = cpu_seconds(pid)
    start = time.perf_counter()
    last: dict[str, object] = {}
    with httpx.stream(
        "POST",
        f"{daemon}/api/pull",
        json={"model": name, "insecure": True},
        timeout=httpx.Timeout(600, connect=5),
    ) as response:
        for line in response.iter_lines():
            if line:
                last = json.loads(line)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu_before
    if last != {"status": "success"}:
        raise SystemExit(f"pull failed: {last}")
    if not (models / "blobs" / digest.replace(":", "-")).is_file():
        raise SystemExit("pulled blob is missing")
    response = httpx.request("DELETE", f"{daemon}/api/delete", json={"model": name}, timeout=60)
    response.raise_for_status()
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=250)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.8)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        print("curl is not installed", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    work = Path(tempfile.mkdtemp(prefix="corral-pull-bench-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        digest, size = build_registry(work / "registry", args.size_mb * 1_000_000)
        registry_port, daemon_port = free_port(), free_port()
        registry = f"127.0.0.1:{registry_port}"
        log = (work / "registry.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "corral",
                    "registry",
                    "serve",
                    "--root",
                    str(work / "registry"),
                    "--host",
                    registry,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_http(f"http://{registry}/v2/", processes[-1])
        models = work / "models"
        daemon_env = dict(
            env,
            CORRAL_HOST=f"127.0.0.1:{daemon_port}",
            CORRAL_HOME=str(work / "home"),
            CORRAL_MODELS=str(models),
        )
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "corral", "serve"],
                env=daemon_env,
                stdout=(work / "daemon.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        daemon = f"http://127.0.0.1:{daemon_port}"
        wait_http(daemon, processes[-1])
        blob_url = f"http://{registry}/v2/bench/model/blobs/{digest}"
        name = f"{registry}/bench/model:latest"
        # Interleaved, so a burst of load elsewhere hits all three alike.
        curl_runs, durable_runs, pull_runs = [], [], []
        for _ in range(args.runs):
            curl_runs.append(curl_once(blob_url, work / "curl.out"))
            durable_runs.append(curl_once(blob_url, work / "curl.out", durable=True))
            pull_runs.append(pull_once(daemon, processes[-1].pid, name, models, digest))
        (curl_best, curl_cpu), (durable_best, _), (pull_best, pull_cpu) = (
            min(curl_runs),
            min(durable_runs),
            min(pull_runs),
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)
        shutil.rmtree(work, ignore_errors=True)
    curl_rate = size / curl_best / 1e6
    durable_rate = size / durable_best / 1e6
    pull_rate = size / pull_best / 1e6
    ratio = pull_rate / durable_rate
    print(f"blob size       {size / 1e6:.0f} MB, best of {args.runs}")
    print(f"curl            {curl_rate:8.1f} MB/s  ({curl_best:.3f} s, page cache, unverified)")
    print(f"curl + fsync    {durable_rate:8.1f} MB/s  ({durable_best:.3f} s, on disk)")
    print(
        f"corral pull     {pull_rate:8.1f} MB/s  ({pull_best:.3f} s, sha256 verified, on disk, "
        "manifest written)"
    )
    print(f"ratio           {ratio:8.2f}  of curl + fsync (target >= {args.target})")
    print(f"                {pull_rate / curl_rate:8.2f}  of plain curl")
    print(
        f"client CPU      curl {curl_cpu:.2f} s, corral daemon {pull_cpu:.2f} s (of the best runs)"
    )
    print(f"machine         {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    return 0 if ratio >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
