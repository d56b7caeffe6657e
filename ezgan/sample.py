"""Tutorial step 7: digits from a trained generator (``Sampler`` takes any generator: ``ezgan.lab.open_sampler``).

``sample(n, seed)`` restores the generator from a checkpoint (``pretrained/`` by default) and
returns n digits (n, 28, 28) in [0, 1]. Batch norm normalises with the batch in hand
(``ezgan.model.batch_norm``), so digits are generated in whole training-sized batches: ``seed``
draws noise for n rounded up to whole batches, the extra digits are dropped, and a digit does not
depend on how many were asked for.
"""
import math
import os

import numpy as np
import tensorflow as tf

from ezgan.errors import CheckpointError
from ezgan.hparams import BATCH_SIZE, Z_DIM
from ezgan.model import generator
from ezgan.paths import pretrained_dir
from ezgan.tfsetup import session_config

v1 = tf.compat.v1
PADDING_SEED = 2**31 - 1   # the noise that fills a last partial batch of given z (see ``whole_batches``)
MAX_DIGITS = 1_000_000     # 3 GB of float32 pixels, plus their noise: more would not fit in memory at once


def normal_noise(n, seed, z_dim=Z_DIM, batch_size=BATCH_SIZE):
    """The noise behind ``sample(n, seed)``: one standard normal draw of n rows rounded up to whole batches."""
    rows = math.ceil(n / batch_size) * batch_size
    return np.random.default_rng(seed).normal(0, 1, (rows, z_dim)).astype(np.float32)


def _check_noise(z, z_dim):
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != z_dim:
        raise ValueError(f"z must be shaped (n, {z_dim}), got {z.shape}")
    return z


def whole_batches(z, batch_size):
    """``z`` with rows of fixed noise appended to fill its last batch, so batch norm sees only whole batches."""
    missing = -len(z) % batch_size
    padding = np.random.default_rng(PADDING_SEED).normal(0, 1, (missing, z.shape[1])).astype(np.float32)
    return np.concatenate([z, padding])


def generate(sess, gan, z):
    """Run the generator ``gan.Gz`` of a built graph on noise ``z``, one whole batch a call; returns (n, 28, 28)."""
    z = _check_noise(z, gan.z_dim)
    padded = whole_batches(z, gan.batch_size)
    images = [sess.run(gan.Gz, {gan.z: padded[start:start + gan.batch_size]})
              for start in range(0, len(padded), gan.batch_size)]
    return np.concatenate(images)[:len(z), ..., 0]


def restore_session(graph, checkpoint):
    """A session on ``graph`` with its variables restored from ``checkpoint`` (a prefix, or a folder: its latest)."""
    prefix = v1.train.latest_checkpoint(str(checkpoint)) if os.path.isdir(checkpoint) else str(checkpoint)
    if prefix is None:
        raise CheckpointError(f"{checkpoint}: no checkpoint in this folder")
    with graph.as_default():
        saver = v1.train.Saver()
    sess = v1.Session(graph=graph, config=session_config())
    try:
        saver.restore(sess, prefix)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError, ValueError):
        sess.close()
        raise CheckpointError(f"{checkpoint}: not a checkpoint of this generator's variables (a recipe beyond "
                              f"the tutorial's? `ezgan.lab.open_sampler` reads any)") from None
    return sess


class Sampler:
    """A generator restored from a checkpoint, kept open to sample many times.

    ``generator``: the network the checkpoint holds (the tutorial's by default); ``restore(graph,
    checkpoint)``: how its session is opened (``ezgan.runs`` checks the checkpoint first).
    """

    def __init__(self, checkpoint=None, generator=generator, z_dim=Z_DIM, batch_size=BATCH_SIZE,
                 restore=restore_session):
        checkpoint = pretrained_dir() if checkpoint is None else checkpoint
        self.z_dim, self.batch_size = z_dim, batch_size
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.z = v1.placeholder(tf.float32, [None, z_dim], name="z")
            self.Gz = generator(self.z, batch_size, z_dim)
        self.sess = restore(self.graph, checkpoint)
        self.checkpoint = checkpoint

    def noise(self, n, seed=None):
        """The noise of ``sample(n, seed)``'s n digits: the first n rows of ``normal_noise``."""
        return normal_noise(n, seed, self.z_dim, self.batch_size)[:n]

    def generate(self, z):
        """Digits (n, 28, 28) for noise z (n, z_dim), in whole batches."""
        return generate(self.sess, self, z)

    def sample(self, n=64, seed=None):
        """n digits from ``normal_noise(n, seed)``: whole batches generated, the extra digits dropped."""
        if not 1 <= n <= MAX_DIGITS:
            raise ValueError(f"n must be in 1..{MAX_DIGITS:,}, got {n}")
        return self.generate(normal_noise(n, seed, self.z_dim, self.batch_size))[:n]

    def close(self):
        self.sess.close()


def sample(n=64, seed=None, checkpoint=None):
    """n generated digits (n, 28, 28) in [0, 1] from the tutorial's generator in ``checkpoint`` (default ``pretrained/``)."""
    sampler = Sampler(checkpoint)
    try:
        return sampler.sample(n, seed)
    finally:
        sampler.close()
