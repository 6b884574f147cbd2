"""Files through the router: uploads bigger than its request buffer stream to the cell, downloads stream back."""

from __future__ import annotations

import hashlib
import os

import httpx
from slack_sdk import WebClient

from tests.router.conftest import Routed


def test_a_big_file_goes_up_and_down_through_the_router(routed: Routed) -> None:
    """files_upload_v2 of 3 MiB (above the router's 2 MiB request buffer) through the router; the
    upload URL and url_private_download point at the router, and the download is byte-identical."""
    made = routed.deployment.control_plane.create_workspace("eu")
    client = WebClient(token=made["token"], base_url=routed.router.api)
    data = os.urandom(3 * 1024 * 1024)
    upload = client.files_getUploadURLExternal(filename="big.bin", length=len(data))
    assert upload["upload_url"].startswith(routed.router.url + "/upload/v1/")
    file = client.files_upload_v2(content=data, filename="big.bin")["file"]
    assert file["url_private_download"].startswith(routed.router.url + "/files-pri/")
    with httpx.stream("GET", file["url_private_download"],
                      headers={"Authorization": f"Bearer {made['token']}"}) as answer:
        digest = hashlib.sha256()
        for chunk in answer.iter_bytes():
            digest.update(chunk)
    assert (answer.status_code, digest.hexdigest()) == (200, hashlib.sha256(data).hexdigest())
