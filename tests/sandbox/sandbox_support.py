"""Helpers shared by the sandbox tests (a plain module: conftest.py is not importable)."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from sandbox.ghl import CONTACTS_VERSION

GHL_LOCATION = "locSandboxA"
GHL_TOKEN = "pit-sandbox-a"
OTHER_LOCATION = "locSandboxB"
OTHER_TOKEN = "pit-sandbox-b"
ST_WORKSPACE = "ws_sandbox"
ST_KEY = "st-key-sandbox"


class GhlApi:
    """Django test client calls to the GHL sandbox with auth and Version headers filled in."""

    def __init__(self, client: Client, token: str = GHL_TOKEN, version: str | None = CONTACTS_VERSION) -> None:
        self.client = client
        self.token = token
        self.version = version

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.version:
            headers["Version"] = self.version
        headers.update(extra)
        return headers

    def __call__(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None, **headers: str
    ) -> Any:
        url = "/sandbox/ghl" + path
        if method == "GET":
            return self.client.get(url, data=params or {}, headers=self.headers(**headers))
        data = "" if body is None else json.dumps(body)
        return self.client.generic(
            method, url, data=data, content_type="application/json", headers=self.headers(**headers)
        )


class StreetTextApi:
    def __init__(self, client: Client, key: str = ST_KEY) -> None:
        self.client = client
        self.key = key

    def __call__(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        url = "/sandbox/streettext" + path
        headers = {"X-Api-Key": self.key} if self.key else {}
        if method == "GET":
            return self.client.get(url, data=params or {}, headers=headers)
        data = "" if body is None else json.dumps(body)
        return self.client.generic(method, url, data=data, content_type="application/json", headers=headers)
