import pickle

import pytest

from oss_resumable_fs.config import MAX_PARTS, MIN_PART_SIZE, GiB, MiB, TransferConfig


def test_default_part_size_is_8_mib_until_the_part_limit_forces_more():
    config = TransferConfig()
    assert config.resolve_part_size(1 * GiB) == 8 * MiB
    assert config.resolve_part_size(78 * GiB) == 8 * MiB
    big = 200 * GiB
    part = config.resolve_part_size(big)
    assert part % MiB == 0
    assert -(-big // part) <= MAX_PARTS


def test_explicit_part_size_is_raised_to_respect_the_part_limit():
    config = TransferConfig(part_size=MIN_PART_SIZE)
    assert config.resolve_part_size(10 * MiB) == MIN_PART_SIZE
    size = 10 * GiB
    assert -(-size // config.resolve_part_size(size)) <= MAX_PARTS


def test_concurrency_never_exceeds_the_number_of_parts():
    config = TransferConfig()
    assert config.resolve_concurrency(20 * MiB, 8 * MiB) == 3
    assert config.resolve_concurrency(1 * GiB, 8 * MiB) == 16
    assert TransferConfig(concurrency=4).resolve_concurrency(1 * GiB, 8 * MiB) == 4


@pytest.mark.parametrize(
    "changes",
    [
        {"part_size": 1},
        {"part_size": 6 * GiB},
        {"concurrency": 0},
        {"buffer_size": 10},
        {"read_timeout": 0},
        {"max_attempts": 0},
        {"backoff_base": 5.0, "backoff_max": 1.0},
    ],
)
def test_invalid_settings_are_refused_with_a_clear_error(changes):
    with pytest.raises(ValueError):
        TransferConfig(**changes)


def test_replace_ignores_none_and_config_pickles():
    config = TransferConfig(concurrency=4).replace(concurrency=None, part_size=16 * MiB)
    assert config.concurrency == 4 and config.part_size == 16 * MiB
    assert pickle.loads(pickle.dumps(config)) == config
