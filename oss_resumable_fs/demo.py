"""``make demo``: the whole story on the embedded OSS server, in under two minutes.

1. start the local OSS server in its own process;
2. upload a ~1 GiB object with the real oss2 client (multipart upload);
3. download it with ``oss-resumable get`` in a child process, and SIGKILL that
   child midway, as a crash or a lost notebook kernel would;
4. run the same download again: it resumes, fetching only what is missing;
5. check the file's CRC-64 against the server's ``x-oss-hash-crc64ecma``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from fsspec.callbacks import TqdmCallback

from oss_resumable_fs.config import parse_size
from oss_resumable_fs.engine.status import human_size
from oss_resumable_fs.engine.transfer import list_unfinished
from oss_resumable_fs.fs import ResumableOSSFileSystem
from oss_resumable_fs.testing.data import file_crc64, write_pattern_file
from oss_resumable_fs.testing.server import OSSServer
from oss_resumable_fs.testing.uploads import upload_with_oss2

BUCKET = "demo"
KEY = "datasets/big.bin"


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _kill_midway(command: list[str], env: dict[str, str], workdir: str, size: int) -> float:
    """Run ``command``; SIGKILL it once ~40% of the object is recorded. Returns that fraction."""
    child = subprocess.Popen(command, env=env)
    done = 0.0
    try:
        while child.poll() is None:
            unfinished = list_unfinished(workdir)
            done = unfinished[0].bytes_done / size if unfinished else 0.0
            if done >= 0.4:
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    if child.returncode != -signal.SIGKILL:
        raise SystemExit("the first download ended before it could be killed; try a larger --size")
    return done


def run(size: int, workdir: str) -> None:
    source_file = os.path.join(workdir, "source.bin")
    download_dir = os.path.join(workdir, "downloads")
    os.makedirs(download_dir)
    destination = os.path.join(download_dir, "big.bin")

    with OSSServer(mode="process") as server:
        _say(f"local OSS server at {server.endpoint} (its own process)")
        server.create_bucket(BUCKET, acl="private")

        _say(f"uploading a {human_size(size)} object with oss2 (multipart upload)")
        write_pattern_file(source_file, size)
        started = time.monotonic()
        etag, crc64 = upload_with_oss2(server, BUCKET, KEY, source_file, workdir)
        os.unlink(source_file)
        print(f"uploaded in {time.monotonic() - started:.1f} s; ETag {etag}, CRC-64 {crc64}")

        env = server.environment()
        url = f"oss://{BUCKET}/{KEY}"
        _say(f"run 1: oss-resumable get {url} (killed with SIGKILL midway)")
        server.reset_stats()
        command = [sys.executable, "-m", "oss_resumable_fs.cli", "get", url, destination]
        recorded = _kill_midway(command, env, download_dir, size)
        first = server.stats().bytes_served.get(f"{BUCKET}/{KEY}", 0)
        print(
            f"\nkilled with {recorded:.0%} of the parts recorded in the journal; "
            f"the server had sent {human_size(first)}"
        )
        print(f"destination exists after the crash: {os.path.exists(destination)}")
        for item in list_unfinished(download_dir):
            print(f"oss-resumable status: {item.describe()}")

        _say("run 2: the same download again, in this process")
        server.reset_stats()
        fs = ResumableOSSFileSystem(
            endpoint=server.endpoint, key=server.access_key_id, secret=server.access_key_secret
        )
        progress = TqdmCallback(
            tqdm_kwargs={"unit": "B", "unit_scale": True, "unit_divisor": 1024, "desc": "big.bin"}
        )
        result = fs.get_file(f"{BUCKET}/{KEY}", destination, callback=progress)
        progress.close()
        second = server.stats().bytes_served.get(f"{BUCKET}/{KEY}", 0)
        print(
            f"resumed: reused {human_size(result.bytes_reused)} verified on disk, fetched "
            f"{human_size(result.bytes_fetched)} (server sent {human_size(second)}) in "
            f"{result.elapsed:.1f} s: {human_size(result.bytes_fetched / result.elapsed)}/s"
        )
        print(
            f"bytes fetched: run 1 {human_size(first)} + run 2 {human_size(second)} = "
            f"{(first + second) / size:.2f} x the object"
        )

        _say("verifying")
        local_crc = file_crc64(destination)
        server_crc = crc64  # as oss2 read it back right after the upload
        leftovers = [name for name in os.listdir(download_dir) if name != "big.bin"]
        print(
            f"CRC-64 of the file {local_crc} vs OSS {server_crc}: "
            f"{'match' if local_crc == server_crc else 'MISMATCH'}; leftover files: {leftovers}"
        )
        if local_crc != server_crc or leftovers:
            raise SystemExit(1)
    _say("done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1GiB"))
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="ossr-demo-", dir=args.dir)
    try:
        run(args.size, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
