"""The transfer engine: parallel, checkpointed, verified ranged downloads.

It knows nothing of OSS or fsspec. It reads from a :class:`RangeSource` and
writes a local file; ``tests/engine`` drives it with a scripted fake source.
"""
