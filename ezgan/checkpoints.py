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
import dataclasses
import json
import os
import pathlib
import re

import tensorflow as tf

from ezgan.errors import CheckpointError
from ezgan.tfsetup import session_config

v1 = tf.compat.v1
TRAIN_CHECKPOINT = "train.ckpt"
MODEL_CHECKPOINT = "model.ckpt"
MODEL_INDEX = "model_checkpoint"  # the `checkpoint` index file of the model checkpoints
MILESTONES = "milestones"
GRIDS = "grids"
RUN_STATE = "run.json"
MILESTONE_TIMES = "times.json"
_NUMBERED = re.compile(r".*-(\d+)")


def checkpoint_step(prefix):
    """The global step a checkpoint prefix ends with (``.../model.ckpt-6300`` -> 6300)."""
    numbered = _NUMBERED.fullmatch(str(prefix))
    if not numbered:
        raise CheckpointError(f"{prefix}: not a numbered checkpoint (NAME-STEP); give a run's folder or a "
                              f"prefix such as model.ckpt-1300")
    return int(numbered.group(1))


@dataclasses.dataclass
class RunState:
    """What a run needs to be resumed besides its variables; saved next to every checkpoint."""
    seed: int
    pretrain_steps: int
    iterations: int
    logdir: str
    elapsed_seconds: float = 0.0
    step: int = 0
    recipe: dict = None   # ezgan.recipes.Recipe.to_dict() of a run beyond the tutorial; absent for the tutorial's

    def save(self, directory):
        state = {key: value for key, value in dataclasses.asdict(self).items() if key != "recipe" or value}
        _write_json(pathlib.Path(directory) / RUN_STATE, state)

    @classmethod
    def load(cls, directory):
        path = pathlib.Path(directory) / RUN_STATE
        if not path.exists():
            raise CheckpointError(f"{path}: no run to resume here (start one without --resume)")
        return cls(**json.loads(path.read_text()))


def _write_json(path, value):
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(value, indent=1))
    os.replace(partial, path)


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
        run.json is written after both, so its step is always that of a complete checkpoint.
        """
        step = int(sess.run(self.gan.global_step))
        state.step = step
        self.everything.save(sess, os.path.join(self.directory, TRAIN_CHECKPOINT), global_step=step)
        self.model.save(sess, os.path.join(self.directory, MODEL_CHECKPOINT), global_step=step,
                        latest_filename=MODEL_INDEX, write_meta_graph=False)
        if milestone:
            self.milestones.save(sess, os.path.join(self.directory, MILESTONES, MODEL_CHECKPOINT),
                                 global_step=step, write_meta_graph=False)
            times = pathlib.Path(self.directory) / MILESTONES / MILESTONE_TIMES
            _write_json(times, {**(json.loads(times.read_text()) if times.exists() else {}),
                                str(step): state.elapsed_seconds})
        state.save(self.directory)
        prune(self.directory, self.keep)
        return step

    def restore_latest(self, sess):
        """Every variable of the run's latest checkpoint; returns its global step."""
        latest = v1.train.latest_checkpoint(self.directory)
        if latest is None:
            raise CheckpointError(f"{self.directory}: {RUN_STATE} is there but no checkpoint to resume from")
        self.everything.restore(sess, latest)
        return int(sess.run(self.gan.global_step))


def prune(directory, keep):
    """Delete all but the latest ``keep`` train.ckpt-* and model.ckpt-* (a resumed run's Savers forget older ones)."""
    directory = pathlib.Path(directory)
    for name in (TRAIN_CHECKPOINT, MODEL_CHECKPOINT):
        steps = sorted({int(numbered.group(1)) for index in directory.glob(f"{name}-*.index")
                        if (numbered := _NUMBERED.fullmatch(index.stem))})
        for step in steps[:-keep]:
            for path in directory.glob(f"{name}-{step}.*"):
                path.unlink()


def export_model(checkpoint, out_dir):
    """Copy the model variables (no optimizer state) of ``checkpoint`` to ``out_dir``, keeping its step.

    This is how a run's checkpoint becomes ``pretrained/``: the original's layout, nothing else,
    and the run's ``run.json`` beside it so the step, seed and schedule travel with it. The model
    already in ``out_dir`` is removed only once the new one is written.
    """
    from ezgan.recipes import build_recipe_graph, checkpoint_recipe

    prefix = resolve_checkpoint(checkpoint)
    step = checkpoint_step(prefix)
    gan = build_recipe_graph(checkpoint_recipe(prefix))   # the tutorial's graph unless the run says otherwise
    with gan.graph.as_default():
        check_variables(prefix, gan.model_variables)
        saver = v1.train.Saver(var_list=gan.model_variables, save_relative_paths=True)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    old_files = [path for path in out_dir.glob(f"{MODEL_CHECKPOINT}-*")
                 if not path.name.startswith(f"{MODEL_CHECKPOINT}-{step}.")]
    with v1.Session(graph=gan.graph, config=session_config()) as sess:
        saver.restore(sess, prefix)
        saved = saver.save(sess, str(out_dir / MODEL_CHECKPOINT), global_step=step, write_meta_graph=False)
    for old in old_files:
        old.unlink()
    run_state = pathlib.Path(prefix).parent / RUN_STATE
    if not run_state.exists():
        run_state = pathlib.Path(prefix).parent.parent / RUN_STATE  # a milestone: run.json is one level up
    if run_state.exists():
        state = json.loads(run_state.read_text())
        state.update(step=step, iterations=step - state["pretrain_steps"])
        state.pop("logdir")
        (out_dir / RUN_STATE).write_text(json.dumps(state, indent=1))
    return saved
