"""A real S3 server on loopback for tests and benchmarks: moto's standalone server
(`moto_server`, PyPI `moto[server]`), which speaks S3's HTTP protocol and keeps objects in
memory, so a restart starts empty.

    store = s3_service(port, log_dir).start()
    wait_for_s3(store, endpoint_url(port), bucket="headshots-test")
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from devstack.processes import BIN, Service
from devstack.waiting import wait_until

# moto accepts any credentials; these only keep boto3 from looking for real ones (a
# developer's ~/.aws must never be used against a test server, nor a test run reach AWS).
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "moto-test", "AWS_SECRET_ACCESS_KEY": "moto-test"}
TEST_REGION = "us-east-1"


def endpoint_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def s3_service(port: int, log_dir: Path, *,
               base_env: Mapping[str, str] | None = None) -> Service:
    return Service("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                   log_dir=log_dir, base_env=base_env)


def wait_for_s3(service: Service, endpoint: str, *, bucket: str, timeout: float = 30) -> None:
    """Until the server answers, then make `bucket` (an operator's step in production)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=TEST_REGION,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )

    def bucket_made() -> bool:
        service.check_running()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
        return True

    wait_until(bucket_made, timeout=timeout, message=f"{service.name} on {endpoint}",
               ignore=(BotoCoreError, ClientError))
