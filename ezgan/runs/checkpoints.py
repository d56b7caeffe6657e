"""Checkpoints in one place: their names, the run state saved beside them, finding, checking,
restoring and exporting them.

A training run's folder (``--checkpoint-dir``) holds::

    train.ckpt-STEP.*        every variable, optimizer state included: what --resume restores
    model.ckpt-STEP.*        the model's variables only: what sampling and pretrained/ need
    milestones/model.ckpt-STEP.*   model checkpoints kept for good (the quality curve reads them)
    milestones/times.json    {STEP: training seconds} of each milestone (the ablation's wall-clock axis)
    run.json                 seed, schedule, TensorBoard folder, wall time: the rest of --resume
    grids/stepSTEP.png       digits from the run's fixed noise at every checkpoint

STEP is the global step: pre-training steps plus main-loop iterations.
"""
import contextlib
import json
import math
import os
import pathlib
import re
import shutil

import numpy as np
import tensorflow as tf

from ezgan.errors import CheckpointError, WriteError
from ezgan.runs.outputs import signals_held, write_json
from ezgan.runs.state import MILESTONES, RUN_STATE
from ezgan.tfsetup import session_config

v1 = tf.compat.v1
TRAIN_CHECKPOINT = "train.ckpt"
MODEL_CHECKPOINT = "model.ckpt"
MODEL_INDEX = "model_checkpoint"  # the `checkpoint` index file of the model checkpoints
GRIDS = "grids"
MILESTONE_TIMES = "times.json"
_NUMBERED = re.compile(r".*-(\d+)")


def checkpoint_step(prefix):
    """The global step a checkpoint prefix ends with (``.../model.ckpt-6300`` -> 6300)."""
    numbered = _NUMBERED.fullmatch(str(prefix))
    if not numbered:
        raise CheckpointError(f"{prefix}: not a numbered checkpoint (NAME-STEP); give a run's folder or a "
                              f"prefix such as model.ckpt-1300")
    return int(numbered.group(1))


def resolve_checkpoint(path):
    """A checkpoint prefix from a directory (its latest model checkpoint) or a prefix."""
    path = pathlib.Path(path)
    if path.is_dir():
        for index in (MODEL_INDEX, "checkpoint"):
            found = v1.train.latest_checkpoint(str(path), latest_filename=index)
            if found:
                return found
        raise CheckpointError(f"{path}: no checkpoint in this directory")
    if not pathlib.Path(f"{path}.index").exists():
        raise CheckpointError(f"{path}: no such checkpoint (neither a directory nor a prefix with an .index file)")
    return str(path)


def milestone_checkpoints(directory):
    """[(global step, checkpoint prefix)] of every NAME-STEP.index checkpoint in ``directory``, by step.

    The folder's own `checkpoint` index file holds absolute paths, which break when a run is
    moved; the .index files are always where the checkpoints are.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such milestones folder")
    found = sorted((int(numbered.group(1)), str(index.with_suffix("")))
                   for index in directory.glob("*.index") if (numbered := _NUMBERED.fullmatch(index.stem)))
    if not found:
        raise CheckpointError(f"{directory}: no checkpoints here (files NAME-STEP.index)")
    return found


def _reason(error):
    """The line of a TensorFlow error that says what is wrong with a file (not its graph or stack)."""
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines()]
    lines = [line for line in lines if line and not line.startswith(("Graph execution error", "Detected at node",
                                                                      "Node:", "[[", "Original stack trace"))]
    reason = next((line for line in lines if "; " in line), lines[0] if lines else type(error).__name__)
    return reason.rsplit("; ", 1)[-1]


def read_checkpoint(prefix):
    """{name: value} of every tensor in checkpoint ``prefix``, each checked against its stored checksum.

    A damaged checkpoint (a truncated or missing file, a flipped byte) is a ``CheckpointError``
    naming it, where TensorFlow would print a long traceback that blames the graph.
    """
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except (tf.errors.OpError, IndexError) as error:   # IndexError: how the reader reports a truncated .data file
        raise CheckpointError(f"{prefix}: damaged or incomplete checkpoint ({_reason(error)})") from None


def check_variables(prefix, variables):
    """Refuse a damaged checkpoint, or one that lacks any of ``variables``, holds them with other
    shapes, or with NaN or infinite values (a run that diverged before it was saved)."""
    stored = read_checkpoint(prefix)
    problems = []
    for var in variables:
        name = var.op.name
        if name not in stored:
            problems.append(f"{name} missing")
        elif list(stored[name].shape) != var.shape.as_list():
            problems.append(f"{name} has shape {list(stored[name].shape)}, the model needs {var.shape.as_list()}")
        elif stored[name].dtype.kind == "f" and not np.isfinite(stored[name]).all():
            problems.append(f"{name} holds NaN or infinite values")
    if problems:
        raise CheckpointError(f"{prefix}: " + "; ".join(problems))


@contextlib.contextmanager
def writing_checkpoint(directory, step):
    """Turn a failed checkpoint write (a full disk, a file-size limit) into a ``WriteError`` and clean up.

    TensorFlow writes each file under a temporary ``*.tempstate*`` name and renames it when
    complete, so the checkpoints already there are untouched; the partial files are removed here
    (they would keep the disk full).
    """
    try:
        yield
    except (tf.errors.OpError, OSError) as error:
        remove_partial_saves(directory)
        raise WriteError(f"{directory}: could not write the checkpoint of step {step} ({_reason(error)}); "
                         f"the checkpoints written before it are kept") from None


def restored_session(graph, prefix):
    """A session on ``graph`` with all its variables restored from ``prefix`` (checked first)."""
    with graph.as_default():
        variables = v1.global_variables()
        check_variables(prefix, variables)
        saver = v1.train.Saver(var_list=variables)
    sess = v1.Session(graph=graph, config=session_config())
    saver.restore(sess, prefix)
    return sess


class RunCheckpoints:
    """The three savers of a training run (built inside its graph) and how a run saves and restores.

    Relative paths in the `checkpoint` index files: a run folder can be moved or copied whole.
    """

    def __init__(self, gan, directory, keep=3):
        self.gan, self.directory, self.keep = gan, directory, keep
        with gan.graph.as_default():
            self.everything = v1.train.Saver(max_to_keep=keep, save_relative_paths=True)
            # A recipe's graph may save other values under the model's names (ezgan.recipes: the EMA).
            model = getattr(gan, "saved_model_variables", None) or gan.model_variables
            self.model = v1.train.Saver(var_list=model, max_to_keep=keep, save_relative_paths=True)
            self.milestones = v1.train.Saver(var_list=model, max_to_keep=None, save_relative_paths=True)

    def save(self, sess, state, milestone=False):
        """Everything (for --resume), the model alone (for sampling), and the run state; returns the step.

        Saver writes under temporary names and updates its `checkpoint` index file last, atomically;
        run.json is written after both, so its step is always that of a complete checkpoint. SIGINT
        and SIGTERM wait for the whole save: the last checkpoint is the one run.json names.
        """
        with signals_held():
            return self._save(sess, state, milestone)

    def _save(self, sess, state, milestone):
        step = int(sess.run(self.gan.global_step))
        needed = latest_checkpoint_bytes(self.directory)   # about what the new one will take
        if self.keep > 1 and shutil.disk_usage(self.directory).free < needed:
            # No room for one more: the oldest goes first (keep - 1 >= 1 complete ones stay), so a disk that
            # holds exactly the kept checkpoints is enough.
            prune(self.directory, self.keep - 1)
        try:
            with writing_checkpoint(self.directory, step):
                self.everything.save(sess, os.path.join(self.directory, TRAIN_CHECKPOINT), global_step=step)
                self.model.save(sess, os.path.join(self.directory, MODEL_CHECKPOINT), global_step=step,
                                latest_filename=MODEL_INDEX, write_meta_graph=False)
                if milestone:
                    self.milestones.save(sess, os.path.join(self.directory, MILESTONES, MODEL_CHECKPOINT),
                                         global_step=step, write_meta_graph=False)
                    times = pathlib.Path(self.directory) / MILESTONES / MILESTONE_TIMES
                    write_json(times, {**(json.loads(times.read_text()) if times.exists() else {}),
                                       str(step): state.elapsed_seconds})
                state.step = step
                state.save(self.directory)
        except WriteError as error:
            free = shutil.disk_usage(self.directory).free
            if free >= needed:   # not the disk's room (a file-size limit, permissions): nothing to advise
                raise
            # With 3 or more kept, keeping one fewer frees a checkpoint before the next save; with 2 the
            # oldest went already, and 1 needs room for two while the new one is written.
            fewer = " or keep fewer checkpoints with --keep" if self.keep > 2 else ""
            raise WriteError(f"{error}; free {math.ceil((needed - free) / 1e6)} MB on its disk{fewer}") from None
        prune(self.directory, self.keep)
        return step

    def restore_latest(self, sess):
        """Every variable of the run's latest complete checkpoint; returns its global step.

        The latest is the one the Saver's `checkpoint` index names (it writes the index after the
        files). A damaged one (a file truncated by a crash or a full disk) is passed over, with a
        message, for the one before it: a run loses a checkpoint's worth of work, not all of it.
        """
        with self.gan.graph.as_default():
            variables = v1.global_variables()
        index = v1.train.get_checkpoint_state(self.directory)
        newest = checkpoint_step(index.model_checkpoint_path) if index else math.inf
        for step in reversed([step for step in checkpoint_steps(self.directory, TRAIN_CHECKPOINT) if step <= newest]):
            prefix = os.path.join(self.directory, f"{TRAIN_CHECKPOINT}-{step}")
            try:
                check_variables(prefix, variables)
            except CheckpointError as error:
                print(f"{error}; resuming from the checkpoint before it")
                continue
            self.everything.restore(sess, prefix)
            return int(sess.run(self.gan.global_step))
        raise CheckpointError(f"{self.directory}: {RUN_STATE} is there but no complete checkpoint to resume from; "
                              f"start again with --overwrite")


def remove_partial_saves(directory):
    """Delete the ``*.tempstate*`` files of saves that never completed (killed, or the disk full) in
    ``directory`` and its milestones (not further down: an export's folder may hold anything)."""
    directory = pathlib.Path(directory)
    for leftover in [*directory.glob("*.tempstate*"), *(directory / MILESTONES).glob("*.tempstate*")]:
        leftover.unlink()


def checkpoint_steps(directory, name):
    """The steps of the ``name``-STEP checkpoints in ``directory`` that have an .index file, in order."""
    return sorted({int(numbered.group(1)) for index in pathlib.Path(directory).glob(f"{name}-*.index")
                   if (numbered := _NUMBERED.fullmatch(index.stem))})


def latest_checkpoint_bytes(directory):
    """The bytes of the latest train.ckpt-* and model.ckpt-* of ``directory`` (0 before the first)."""
    directory = pathlib.Path(directory)
    steps = checkpoint_steps(directory, TRAIN_CHECKPOINT)
    return sum(path.stat().st_size for name in (TRAIN_CHECKPOINT, MODEL_CHECKPOINT)
               for path in directory.glob(f"{name}-{steps[-1]}.*")) if steps else 0


def prune(directory, keep):
    """Delete all but the latest ``keep`` train.ckpt-* and model.ckpt-* (a resumed run's Savers forget older ones)."""
    directory = pathlib.Path(directory)
    for name in (TRAIN_CHECKPOINT, MODEL_CHECKPOINT):
        for step in checkpoint_steps(directory, name)[:-keep]:
            for path in directory.glob(f"{name}-{step}.*"):
                path.unlink()
