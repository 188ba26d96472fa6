"""The registry client: names to URLs, auth, downloads and uploads, pull and push."""

from __future__ import annotations

from corral.registry.client.auth import Challenge, load_credentials, parse_challenge, token_url
from corral.registry.client.download import BlobDownload
from corral.registry.client.pull import fetch_manifest, pull_model
from corral.registry.client.push import push_model
from corral.registry.client.refs import RegistryRef, origin_of
from corral.registry.client.transport import RegistrySession
from corral.registry.client.upload import BlobUpload, blob_exists

__all__ = [
    "BlobDownload",
    "BlobUpload",
    "Challenge",
    "RegistryRef",
    "RegistrySession",
    "blob_exists",
    "fetch_manifest",
    "load_credentials",
    "origin_of",
    "parse_challenge",
    "pull_model",
    "push_model",
    "token_url",
]
