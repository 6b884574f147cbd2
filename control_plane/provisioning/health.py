"""Waiting for a cell to be live and ready: ``GET /v1/health`` answers ok from the right region."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import httpx

from control_plane.provisioning import ProvisioningFailed


async def check(client: httpx.AsyncClient, api: str, region: str) -> str | None:
    """None when the cell at ``api`` is ready and serves ``region``; else what is wrong."""
    try:
        response = await client.get(f"{api.rstrip('/')}/v1/health", timeout=5.0)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"{api} does not answer: {exc.__class__.__name__}"
    if response.status_code != 200 or not body.get("ok"):
        return f"{api} is not ready: {body.get('error', response.status_code)}"
    if body.get("region") != region:
        return f"{api} serves region {body.get('region')!r}, the inventory says {region!r}"
    return None


async def wait_ready(
    api: str,
    region: str,
    *,
    within: float,
    gave_up: Callable[[], str | None] = lambda: None,
) -> None:
    """Return once the cell is ready; ``ProvisioningFailed`` after ``within`` seconds or when ``gave_up`` says why."""
    deadline = time.monotonic() + within
    problem: str | None = "not checked yet"
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            problem = await check(client, api, region)
            if problem is None:
                return
            if "serves region" in problem:
                raise ProvisioningFailed(problem)
            reason = gave_up()
            if reason is not None:
                raise ProvisioningFailed(reason)
            await anyio.sleep(0.1)
    raise ProvisioningFailed(f"cell not ready after {within:.0f}s: {problem}")
