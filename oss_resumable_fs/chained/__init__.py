"""``resumable::PROTO://``: the engine's downloads over any fsspec filesystem.

Example (``s3_options``: s3fs's constructor options)::

    import fsspec

    fs = fsspec.filesystem("resumable", target_protocol="s3", target_options=s3_options)
    fs.get("bucket/data/", "local/", recursive=True)
    with fsspec.open("resumable::s3://bucket/key", s3=s3_options) as f:
        f.read()
"""

from oss_resumable_fs.chained.filesystem import ResumableFileSystem

__all__ = ["ResumableFileSystem"]
