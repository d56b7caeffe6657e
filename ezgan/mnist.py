"""Tutorial step 1: MNIST, read the way TF1's ``input_data`` did (the files themselves: ``ezgan.mnist_files``).

``read_data_sets("MNIST_data/")`` returns ``train`` (55,000), ``validation`` (the first 5,000
training images, as TF1 split them) and ``test`` (10,000). ``next_batch(n)`` hands out
``(images, labels)``, images float32 in [0, 1] shaped (n, 784), reshuffled every epoch as a pure
function of (seed, epoch): a resumed run can ``seek`` to where it stopped and see the same batches.
"""
import collections

import numpy as np

from ezgan.mnist_files import load_idx
from ezgan.paths import REPO, mnist_dir

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
