"""Digits as pictures: a grid of them, dark strokes on white (what ``ezgan sample --out x.png`` writes)."""
import math

import numpy as np


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
