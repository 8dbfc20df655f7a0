import fastcrc

from oss_resumable_fs.testing.data import file_crc64, write_pattern_file


def test_pattern_file_has_the_size_and_no_two_blocks_alike(tmp_path):
    path = tmp_path / "data.bin"
    write_pattern_file(path, 10_000 + 17, block=1000)
    data = path.read_bytes()
    assert len(data) == 10_017
    blocks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    assert len(set(blocks)) == len(blocks)


def test_file_crc64_is_the_crc64_xz_of_the_content(tmp_path):
    path = tmp_path / "data.bin"
    write_pattern_file(path, 3 * 1024 * 1024 + 5)
    assert file_crc64(path, chunk=1 << 20) == fastcrc.crc64.xz(path.read_bytes())
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_crc64(empty) == 0
