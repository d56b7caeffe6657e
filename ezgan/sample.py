"""Tutorial step 7: digits from a trained generator.

``sample(n, seed)`` restores the generator from a checkpoint (``pretrained/`` by default) and
returns n digits as an (n, 28, 28) float array in [0, 1]. The generator's batch norm always
normalises with the statistics of the batch in hand (see ``ezgan.model.batch_norm``), so digits
are generated in batches of the training batch size, as they were during training.
"""
import math
import pathlib

import numpy as np
import tensorflow as tf

from ezgan.graph import session_config
from ezgan.hparams import BATCH_SIZE, Z_DIM
from ezgan.model import generator

v1 = tf.compat.v1
PRETRAINED_DIR = pathlib.Path(__file__).resolve().parent.parent / "pretrained"


class CheckpointError(ValueError):
    """A checkpoint is missing or does not hold the variables the model needs; the message names them."""


def resolve_checkpoint(path):
    """A checkpoint prefix from a directory (its latest model checkpoint) or a prefix."""
    path = pathlib.Path(path)
    if path.is_dir():
        for index in ("model_checkpoint", "checkpoint"):
            found = v1.train.latest_checkpoint(str(path), latest_filename=index)
            if found:
                return found
        raise CheckpointError(f"{path}: no checkpoint in this directory")
    if not pathlib.Path(f"{path}.index").exists():
        raise CheckpointError(f"{path}: no such checkpoint (neither a directory nor a prefix with an .index file)")
    return str(path)


def check_variables(prefix, variables):
    """Refuse a checkpoint that lacks any of ``variables`` or holds them with other shapes."""
    stored = dict(v1.train.list_variables(prefix))
    problems = []
    for var in variables:
        name = var.op.name
        if name not in stored:
            problems.append(f"{name} missing")
        elif list(stored[name]) != var.shape.as_list():
            problems.append(f"{name} has shape {list(stored[name])}, the model needs {var.shape.as_list()}")
    if problems:
        raise CheckpointError(f"{prefix}: " + "; ".join(problems))


def restored_session(graph, prefix):
    """A session on ``graph`` with all its variables restored from ``prefix`` (checked first)."""
    with graph.as_default():
        variables = v1.global_variables()
        check_variables(prefix, variables)
        saver = v1.train.Saver(var_list=variables)
    sess = v1.Session(graph=graph, config=session_config())
    saver.restore(sess, prefix)
    return sess


def _check_noise(z, z_dim):
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != z_dim:
        raise ValueError(f"z must be shaped (n, {z_dim}), got {z.shape}")
    return z


def _run_in_chunks(sess, images, z_placeholder, z, rows):
    return [sess.run(images, {z_placeholder: z[start:start + rows]}) for start in range(0, len(z), rows)]


def generate(sess, g, z):
    """Run the generator ``g.Gz`` of a built graph on noise ``z``, one batch a call; returns (n, 28, 28)."""
    z = _check_noise(z, g.z_dim)
    return np.concatenate(_run_in_chunks(sess, g.Gz, g.z, z, g.batch_size))[..., 0]


class Sampler:
    """A generator restored from a checkpoint, kept open to sample many times."""

    def __init__(self, checkpoint=PRETRAINED_DIR, z_dim=Z_DIM, batch_size=BATCH_SIZE, copies=4):
        prefix = resolve_checkpoint(checkpoint)
        self.z_dim, self.batch_size, self.copies = z_dim, batch_size, copies
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.z = v1.placeholder(tf.float32, [None, z_dim], name="z")
            # `copies` generators sharing one set of weights, each on its own batch of the rows fed
            # (each normalising with its own batch's statistics, as one generator on one batch
            # would): independent ops that TF runs side by side, with fewer session calls.
            outputs = []
            for copy in range(copies):
                with v1.variable_scope(v1.get_variable_scope(), reuse=copy > 0):
                    outputs.append(generator(self.z[copy * batch_size:(copy + 1) * batch_size], batch_size, z_dim))
            self.Gz_copies = tf.concat(outputs, axis=0)
            self.Gz = outputs[0]
        self.sess = restored_session(self.graph, prefix)
        self.checkpoint = prefix

    def noise(self, n, seed=None):
        """Noise for n digits, drawn in whole batches so every batch-norm batch is full."""
        rows = math.ceil(n / self.batch_size) * self.batch_size
        return np.random.default_rng(seed).normal(0, 1, (rows, self.z_dim)).astype(np.float32)[:n]

    def generate(self, z):
        """Digits (n, 28, 28) for noise z (n, z_dim): whole groups through the copies, the rest batch by batch."""
        z = _check_noise(z, self.z_dim)
        group = self.batch_size * self.copies
        whole = len(z) // group * group
        chunks = (_run_in_chunks(self.sess, self.Gz_copies, self.z, z[:whole], group)
                  + _run_in_chunks(self.sess, self.Gz, self.z, z[whole:], self.batch_size))
        return np.concatenate(chunks)[..., 0]

    def sample(self, n=64, seed=None):
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        return self.generate(self.noise(n, seed))

    def close(self):
        self.sess.close()


def sample(n=64, seed=None, checkpoint=PRETRAINED_DIR):
    """n generated digits (n, 28, 28) in [0, 1] from the generator in ``checkpoint``."""
    sampler = Sampler(checkpoint)
    try:
        return sampler.sample(n, seed)
    finally:
        sampler.close()


def grid(images, columns=None, pad=2):
    """Tile (n, 28, 28) images into one array, white lines between them."""
    images = np.asarray(images)
    n = len(images)
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    size = 28 + pad
    canvas = np.ones((rows * size + pad, columns * size + pad), np.float32)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        canvas[pad + r * size: pad + r * size + 28, pad + c * size: pad + c * size + 28] = 1 - image
    return canvas


def save_grid(images, path, columns=None, scale=3):
    """Write a grid of digits as a PNG: dark strokes on white, each pixel scaled up ``scale`` times."""
    from PIL import Image

    pixels = (np.clip(grid(images, columns), 0, 1) * 255).astype(np.uint8)
    image = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
