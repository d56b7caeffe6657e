"""Tutorial step 7: digits from a trained generator.

``sample(n, seed)`` restores the generator from a checkpoint (``pretrained/`` by default) and
returns n digits as an (n, 28, 28) float array in [0, 1]. The generator's batch norm always
normalises with the statistics of the batch in hand (see ``ezgan.model.batch_norm``), so digits
are always generated in whole batches of the training batch size, as they were in training: for
n digits, ``seed`` draws noise for n rounded up to whole batches and the extra digits are dropped.
A digit therefore does not depend on how many were asked for. A checkpoint trained with a recipe
beyond the tutorial's (``ezgan.recipes``) gets that recipe's generator.

Many digits are generated a chunk at a time (``Sampler.sample_into``), the noise drawn as it is
needed, so that ``ezgan sample --n 1000000 --out x.npy`` streams them into the file through a
memory map: memory holds one chunk, not the 3 GB array.
"""
import math

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ezgan.checkpoints import resolve_checkpoint, restored_session
from ezgan.hparams import BATCH_SIZE, Z_DIM
from ezgan.paths import pretrained_dir
from ezgan.recipes import checkpoint_generator, checkpoint_recipe, recipe_name
from ezgan.outputs import atomic_output, npy_output

v1 = tf.compat.v1
PADDING_SEED = 2**31 - 1   # the noise that fills a last partial batch of given z (see ``whole_batches``)
MAX_DIGITS = 1_000_000     # 3 GB of float32 pixels, plus their noise: more would not fit in memory at once
GROUPS_PER_CHUNK = 5       # a chunk of sample_into: this many groups of Sampler.copies batches (1,000 digits)


def normal_noise(n, seed, z_dim=Z_DIM, batch_size=BATCH_SIZE):
    """The noise behind ``sample(n, seed)``: one standard normal draw of n rows rounded up to whole batches."""
    rows = math.ceil(n / batch_size) * batch_size
    return np.random.default_rng(seed).normal(0, 1, (rows, z_dim)).astype(np.float32)


def noise_chunks(n, seed, rows, z_dim=Z_DIM, batch_size=BATCH_SIZE):
    """``normal_noise(n, seed)`` drawn ``rows`` rows at a time (a whole number of batches): (first row, noise) pairs.

    The generator's draws follow each other, so the pieces are exactly the rows of the one draw.
    """
    total = math.ceil(n / batch_size) * batch_size
    rng = np.random.default_rng(seed)
    for start in range(0, total, rows):
        yield start, rng.normal(0, 1, (min(rows, total - start), z_dim)).astype(np.float32)


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


def _run_in_chunks(sess, images, z_placeholder, z, rows):
    return [sess.run(images, {z_placeholder: z[start:start + rows]}) for start in range(0, len(z), rows)]


def generate(sess, gan, z):
    """Run the generator ``gan.Gz`` of a built graph on noise ``z``, one whole batch a call; returns (n, 28, 28)."""
    z = _check_noise(z, gan.z_dim)
    return np.concatenate(_run_in_chunks(sess, gan.Gz, gan.z, whole_batches(z, gan.batch_size), gan.batch_size)
                          )[:len(z), ..., 0]


class Sampler:
    """A generator restored from a checkpoint, kept open to sample many times."""

    def __init__(self, checkpoint=None, z_dim=Z_DIM, batch_size=BATCH_SIZE, copies=4):
        prefix = resolve_checkpoint(pretrained_dir() if checkpoint is None else checkpoint)
        self.z_dim, self.batch_size, self.copies = z_dim, batch_size, copies
        generator = checkpoint_generator(prefix)   # the tutorial's unless the checkpoint's run.json says otherwise
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
            self.batches_at_once = tf.concat(outputs, axis=0)
            self.Gz = outputs[0]
        self.sess = restored_session(self.graph, prefix)   # refuses non-finite weights too
        self.checkpoint = prefix

    def noise(self, n, seed=None):
        """The noise of ``sample(n, seed)``'s n digits: the first n rows of ``normal_noise``."""
        return normal_noise(n, seed, self.z_dim, self.batch_size)[:n]

    def generate(self, z):
        """Digits (n, 28, 28) for noise z (n, z_dim), in whole batches: groups through the copies, the rest one by one."""
        z = _check_noise(z, self.z_dim)
        padded = whole_batches(z, self.batch_size)
        group = self.batch_size * self.copies
        whole = len(padded) // group * group
        chunks = (_run_in_chunks(self.sess, self.batches_at_once, self.z, padded[:whole], group)
                  + _run_in_chunks(self.sess, self.Gz, self.z, padded[whole:], self.batch_size))
        return np.concatenate(chunks)[:len(z), ..., 0]

    def sample(self, n=64, seed=None):
        """n digits from ``normal_noise(n, seed)``: whole batches generated, the extra digits dropped."""
        if not 1 <= n <= MAX_DIGITS:
            raise ValueError(f"n must be in 1..{MAX_DIGITS:,}, got {n}")
        return self.generate(normal_noise(n, seed, self.z_dim, self.batch_size))[:n]

    def sample_into(self, images, seed=None, progress=False):
        """Fill ``images`` (n, 28, 28), an array or a memory map, with ``sample(n, seed)``'s digits, a chunk at a time
        (``sample`` holds all the noise and digits at once).

        Each chunk is a whole number of groups of ``copies`` batches, so every batch goes through the
        same copy of the generator as in one call on all the noise: the digits are the same, bit for bit.
        ``progress``: a progress bar of the digits on stderr.
        """
        rows = self.batch_size * self.copies * GROUPS_PER_CHUNK
        with tqdm(total=len(images), disable=not progress, unit="digit", unit_scale=True, dynamic_ncols=True,
                  mininterval=1.0, desc="sampling") as bar:
            for start, z in noise_chunks(len(images), seed, rows, self.z_dim, self.batch_size):
                digits = self.generate(z)[:len(images) - start]
                images[start:start + len(digits)] = digits
                bar.update(len(digits))
        return images

    def close(self):
        self.sess.close()


def sample(n=64, seed=None, checkpoint=None):
    """n generated digits (n, 28, 28) in [0, 1] from the generator in ``checkpoint`` (default ``pretrained/``)."""
    sampler = Sampler(checkpoint)
    try:
        return sampler.sample(n, seed)
    finally:
        sampler.close()


def save_npy(n, seed, checkpoint, path, progress=False):
    """``sample(n, seed, checkpoint)`` written to ``path`` as a .npy file, streamed: memory holds one chunk."""
    sampler = Sampler(checkpoint)   # restored before the file is opened: a bad checkpoint leaves no file
    try:
        with npy_output(path, (n, 28, 28)) as images:
            sampler.sample_into(images, seed, progress)
    finally:
        sampler.close()


def checkpoint_label(checkpoint):
    """"CHECKPOINT: NAME recipe", the checkpoint as given and its recipe's name (else its description)."""
    prefix = resolve_checkpoint(pretrained_dir() if checkpoint is None else checkpoint)
    recipe = checkpoint_recipe(prefix)
    name = recipe_name(recipe)
    shown = "pretrained" if checkpoint is None else str(checkpoint).rstrip("/")
    return f"{shown}: {name} recipe" if name else f"{shown}: {recipe.describe()}"


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


def grid_image(images, columns=None, scale=3):
    """A grid of digits as a PIL image: dark strokes on white, each pixel scaled up ``scale`` times."""
    from PIL import Image

    pixels = (np.clip(grid(images, columns), 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)


def save_png(image, path):
    with atomic_output(path) as file:   # a temporary name in the same folder, renamed into place
        image.save(file, format="PNG")


def save_grid(images, path, columns=None, scale=3):
    """Write a grid of digits as a PNG: dark strokes on white, each pixel scaled up ``scale`` times."""
    save_png(grid_image(images, columns, scale), path)


def label_font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def under_label(image, label):
    """A greyscale PIL image under a white band with ``label`` centred in it."""
    from PIL import Image, ImageDraw

    band = max(16, round(0.045 * image.width))
    framed = Image.new("L", (image.width, image.height + band), 255)
    framed.paste(image.convert("L"), (0, band))
    draw = ImageDraw.Draw(framed)
    font = label_font(round(band * 0.7))
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    draw.text(((image.width - (right - left)) / 2 - left, (band - (bottom - top)) / 2 - top), label, fill=0, font=font)
    return framed


def save_labelled_grids(labelled_images, path, columns=None, scale=3, gap=24):
    """Write grids side by side in one PNG, each under its label: ``labelled_images`` is [(label, images), ...]."""
    from PIL import Image

    panels = [under_label(grid_image(images, columns, scale), label) for label, images in labelled_images]
    canvas = Image.new("L", (sum(panel.width for panel in panels) + gap * (len(panels) - 1),
                             max(panel.height for panel in panels)), 255)
    left = 0
    for panel in panels:
        canvas.paste(panel, (left, 0))
        left += panel.width + gap
    save_png(canvas, path)
