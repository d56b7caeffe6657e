"""A training run's fixed-noise grids -> ``training.gif``, the grid across training, each frame labelled.

A run saves the grid of its fixed noise at every checkpoint (``grids/stepNNNNNNN.png``,
``ezgan.runs.training``); ``training_gif`` picks at most ``MAX_FRAMES`` of them, evenly spread,
and makes them a GIF small enough to ship.
"""
import io
import pathlib
import re

import numpy as np

from ezgan.errors import EzganError
from ezgan.lab.pictures import under_label
from ezgan.runs.outputs import atomic_output

MAX_FRAMES = 40
GIF_MAX_BYTES = 3_000_000
GIF_FRAME_MS = 200
GIF_LAST_FRAME_MS = 3000
GIF_SCALES = (2 / 3, 1 / 2, 1 / 3)  # of the grids' size (3 screen pixels per digit pixel): largest that fits
GIF_GRAY_LEVELS = 32               # grays in a frame: LZW packs 32 levels into half the bytes of 256
GRID_NAME = re.compile(r"step(\d+)\.png")   # the run's grids/ (ezgan.runs.training names them): not checkpoints


class AnimationError(EzganError):
    """The run's grids cannot make the GIF (none there, or too many bytes at every scale); the message says why."""


def grid_files(grids_dir, until_step=None):
    """[(global step, path)] of the run's ``grids/stepNNNNNNN.png``, by step, up to ``until_step``."""
    found = []
    for path in pathlib.Path(grids_dir).expanduser().glob("step*.png"):
        match = GRID_NAME.fullmatch(path.name)
        if match and (until_step is None or int(match.group(1)) <= until_step):
            found.append((int(match.group(1)), path))
    if not found:
        raise AnimationError(f"{grids_dir}: no grids (stepNNNNNNN.png) here")
    return sorted(found)


def select_frames(items, max_frames=MAX_FRAMES):
    """At most ``max_frames`` of ``items``, evenly spread, always the first and the last."""
    items = list(items)
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2 (the first and the last), got {max_frames}")
    if len(items) <= max_frames:
        return items
    indices = np.unique(np.round(np.linspace(0, len(items) - 1, max_frames)).astype(int))
    return [items[index] for index in indices]


def labelled_frame(path, label, scale, levels=GIF_GRAY_LEVELS):
    """A grid image scaled by ``scale`` and reduced to ``levels`` grays, under a white band carrying ``label``.

    Nearest-neighbour scaling: at 2/3 or 1/3 of a grid saved with 3 pixels per digit pixel, every
    digit pixel becomes exactly 2 or 1 pixels, as sharp as the grid.
    """
    from PIL import Image

    with Image.open(path) as image:
        grid = image.convert("L")
    top = levels - 1
    grid = grid.resize((round(grid.width * scale), round(grid.height * scale)), Image.NEAREST).point(
        [round(round(value * top / 255) * 255 / top) for value in range(256)])
    return under_label(grid, label)


def training_gif(grids_dir, out, pretrain_steps, until_step=None, max_frames=MAX_FRAMES, max_bytes=GIF_MAX_BYTES,
                 scales=GIF_SCALES, frame_ms=GIF_FRAME_MS, last_frame_ms=GIF_LAST_FRAME_MS):
    """The fixed-noise grid across training as an animated GIF, each frame labelled with its iteration.

    The largest of ``scales`` whose GIF stays under ``max_bytes`` is used; the last frame is held
    ``last_frame_ms``. Returns a description (frames, iterations, scale, size in bytes).
    """
    available = grid_files(grids_dir, until_step)
    chosen = select_frames(available, max_frames)
    iterations = [step - pretrain_steps for step, _ in chosen]
    durations = [frame_ms] * (len(chosen) - 1) + [last_frame_ms]
    for scale in scales:
        frames = [labelled_frame(path, f"iteration {iteration:,}", scale)
                  for iteration, (_, path) in zip(iterations, chosen)]
        buffer = io.BytesIO()
        frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
                       loop=0, optimize=True)
        if buffer.tell() <= max_bytes:
            with atomic_output(out) as file:
                file.write(buffer.getvalue())
            return dict(frames=len(chosen), grids=len(available), iterations=iterations, scale=round(scale, 4),
                        width=frames[0].width, height=frames[0].height, bytes=buffer.tell(),
                        frame_ms=frame_ms, last_frame_ms=last_frame_ms)
    raise AnimationError(f"{out}: even at scale {scales[-1]:.2f} the GIF of {len(chosen)} frames takes "
                         f"{buffer.tell():,} bytes, more than {max_bytes:,}; lower max_frames")
