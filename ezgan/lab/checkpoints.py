"""Any checkpoint, whatever its recipe: the sampler of its generator, its label, its export.

A checkpoint's recipe is in its run's run.json (``ezgan.lab.recipes.checkpoint_recipe``); from it
come the generator to sample (``open_sampler``) and the graph whose model variables an export
copies (``export_model``).
"""
import math
import pathlib

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ezgan.errors import EzganError, WriteError
from ezgan.lab.graphs import build_recipe_graph, recipe_generator
from ezgan.lab.recipes import checkpoint_recipe, recipe_name
from ezgan.paths import EXPORTED, is_bundled, pretrained_dir
from ezgan.runs.checkpoints import (MODEL_CHECKPOINT, TRAIN_CHECKPOINT, check_variables, checkpoint_step,
                                    remove_partial_saves, resolve_checkpoint, restored_session, writing_checkpoint)
from ezgan.hparams import BATCH_SIZE, Z_DIM
from ezgan.runs.outputs import check_folder, npy_output, signals_held
from ezgan.runs.state import RUN_STATE, RunState, run_folder
from ezgan.sample import MAX_DIGITS, Sampler
from ezgan.tfsetup import session_config

v1 = tf.compat.v1
CHUNK_BATCHES = 20   # batches generated at a time when streaming digits to a file (1,000 digits)


def open_sampler(checkpoint=None, digit=None):
    """A ``Sampler`` of the generator ``checkpoint`` (default ``pretrained/``) was trained with, checked first.

    ``digit`` (0-9), for a conditional model only: the digit every image is asked for; None or "all":
    each digit in turn, image i a digit i % 10.
    """
    prefix = resolve_checkpoint(pretrained_dir() if checkpoint is None else checkpoint)
    recipe = checkpoint_recipe(prefix)
    if digit is not None and not recipe.conditional:
        raise EzganError(f"{checkpoint or 'pretrained'}: --digit needs a conditional model (ezgan train --recipe "
                         f"conditional); this one is not told which digit to draw")
    return Sampler(prefix, recipe_generator(recipe, None if digit == "all" else digit), batch_size=recipe.batch_size,
                   restore=restored_session)


def is_conditional(checkpoint=None):
    """Whether ``checkpoint``'s model draws the digit it is asked for (its recipe is conditional)."""
    return checkpoint_recipe(resolve_checkpoint(pretrained_dir() if checkpoint is None else checkpoint)).conditional


def noise_chunks(n, seed, rows, z_dim=Z_DIM, batch_size=BATCH_SIZE):
    """``normal_noise(n, seed)`` drawn ``rows`` rows at a time (a whole number of batches): [(first row, rows)].

    The generator's draws follow each other, so the pieces are exactly the rows of the one draw.
    """
    total = math.ceil(n / batch_size) * batch_size
    rng = np.random.default_rng(seed)
    for start in range(0, total, rows):
        yield start, rng.normal(0, 1, (min(rows, total - start), z_dim)).astype(np.float32)


def sample_into(sampler, images, seed=None, progress=False):
    """Fill ``images`` (n, 28, 28), an array or a memory map, with ``sampler.sample(n, seed)``'s digits, a chunk
    of ``CHUNK_BATCHES`` batches at a time (the same digits, bit for bit). ``progress``: a progress bar on stderr."""
    if not 1 <= len(images) <= MAX_DIGITS:
        raise ValueError(f"n must be in 1..{MAX_DIGITS:,}, got {len(images)}")
    with tqdm(total=len(images), disable=not progress, unit="digit", unit_scale=True, dynamic_ncols=True,
              mininterval=1.0, desc="sampling") as bar:
        for start, z in noise_chunks(len(images), seed, sampler.batch_size * CHUNK_BATCHES, sampler.z_dim,
                                     sampler.batch_size):
            digits = sampler.generate(z)[:len(images) - start]
            images[start:start + len(digits)] = digits
            bar.update(len(digits))
    return images


def sample(n=64, seed=None, checkpoint=None, progress=False, digit=None):
    """``ezgan.sample.sample`` for a checkpoint of any recipe (``digit``: ``open_sampler``'s); ``progress``: a bar."""
    sampler = open_sampler(checkpoint, digit)
    try:
        return sample_into(sampler, np.empty((n, 28, 28), np.float32), seed, progress)
    finally:
        sampler.close()


def save_npy(n, seed, checkpoint, path, progress=False, digit=None):
    """``sample(n, seed, checkpoint, digit=digit)`` written to ``path`` as a .npy file, streamed: memory holds one
    chunk."""
    sampler = open_sampler(checkpoint, digit)   # restored before the file is opened: a bad checkpoint leaves no file
    try:
        with npy_output(path, (n, 28, 28)) as images:
            sample_into(sampler, images, seed, progress)
    finally:
        sampler.close()


def checkpoint_label(checkpoint):
    """"CHECKPOINT: NAME recipe", the checkpoint as given and its recipe's name (else its description)."""
    prefix = resolve_checkpoint(pretrained_dir() if checkpoint is None else checkpoint)
    recipe = checkpoint_recipe(prefix)
    name = recipe_name(recipe)
    shown = "pretrained" if checkpoint is None else str(checkpoint).rstrip("/")
    return f"{shown}: {name} recipe" if name else f"{shown}: {recipe.describe()}"


def default_export_folder(prefix):
    """``exported/RUN-stepSTEP`` in the working directory: RUN the name of the checkpoint's run folder."""
    return pathlib.Path(EXPORTED) / f"{run_folder(prefix).resolve().name}-step{checkpoint_step(prefix)}"


def check_export_folder(out_dir, prefix, overwrite=False):
    """Refuse, in one line, an export of ``prefix`` to ``out_dir`` that would damage something.

    Never into a training run's folder (a run.json with training state, or train.ckpt-* files) or a
    folder in it, nor into the folder ``prefix`` comes from: checkpoints, index and run.json would be
    replaced. Over another model, or into a model folder bundled with the checkout, only with ``overwrite``.
    """
    out_dir = pathlib.Path(out_dir)
    check_folder(out_dir, f"--out {out_dir}")
    if out_dir.resolve() in (pathlib.Path(prefix).parent.resolve(), run_folder(prefix).resolve()):
        raise WriteError(f"{out_dir}: the folder of --checkpoint {prefix}; export to a folder of its own")
    for folder in (out_dir, out_dir.absolute().parent):   # the run's milestones/ or grids/ would be damaged too
        if list(folder.glob(f"{TRAIN_CHECKPOINT}-*")) or (
                (folder / RUN_STATE).exists() and RunState.read(folder).is_run):
            where = "a training run's folder" if folder is out_dir else f"inside the training run's folder {folder}"
            raise WriteError(f"{out_dir}: {where} (its {RUN_STATE} holds training state); export to a folder "
                             f"of its own")
    if overwrite:
        return
    if is_bundled(out_dir):
        raise WriteError(f"{out_dir}: a model bundled with ezgan; export elsewhere, or give --overwrite to "
                         f"replace it")
    models = sorted(index.stem for index in out_dir.glob("*.index"))
    if models:
        raise WriteError(f"{out_dir}: holds another model ({models[0]}); give --overwrite to replace it, "
                         f"or another --out")


def export_model(checkpoint, out_dir=None, overwrite=False):
    """Copy the model variables (no optimizer state) of ``checkpoint`` to ``out_dir``, keeping its step.

    This is how a run's checkpoint becomes ``pretrained/``: the original's layout, nothing else,
    and the run's state beside it (``RunState.exported``) so the step, seed, schedule and recipe
    travel with it. ``out_dir`` None: ``default_export_folder``. The folder is checked first
    (``check_export_folder``: a model there is replaced only with ``overwrite``); the model already
    in it is removed only once the new one is written.
    """
    if out_dir is not None:
        check_folder(out_dir, f"--out {out_dir}")   # before the checkpoint is looked at
    prefix = resolve_checkpoint(checkpoint)
    step = checkpoint_step(prefix)
    out_dir = pathlib.Path(default_export_folder(prefix) if out_dir is None else out_dir)
    check_export_folder(out_dir, prefix, overwrite)
    gan = build_recipe_graph(checkpoint_recipe(prefix))   # the tutorial's graph unless the run says otherwise
    with gan.graph.as_default():
        check_variables(prefix, gan.model_variables)
        saver = v1.train.Saver(var_list=gan.model_variables, save_relative_paths=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_partial_saves(out_dir)   # of an export killed while writing
    old_files = [path for path in out_dir.glob(f"{MODEL_CHECKPOINT}-*")
                 if not path.name.startswith(f"{MODEL_CHECKPOINT}-{step}.")]
    state = RunState.of_checkpoint(prefix)
    with v1.Session(graph=gan.graph, config=session_config()) as sess:
        saver.restore(sess, prefix)
        with signals_held(), writing_checkpoint(out_dir, step):   # the model and its run.json, or neither
            saved = saver.save(sess, str(out_dir / MODEL_CHECKPOINT), global_step=step, write_meta_graph=False)
            for old in old_files:
                old.unlink()
            if state:
                state.exported(step).save(out_dir)
            else:   # a checkpoint without a run: a run.json left by the model replaced would describe another one
                (out_dir / RUN_STATE).unlink(missing_ok=True)
    return saved
