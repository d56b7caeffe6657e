"""A durable training run: the tutorial's loop (``ezgan.train.train_loop``) with hooks that make it last.

``train()`` is what ``ezgan train`` runs. Around the loop: the run folder's lock and fresh-start
check (``ezgan.runs.folder``), the run state and --resume (``ezgan.runs.state``), and a session
on the threads asked for. Inside it, as ``Hook``s, in the order they run after each step:

* ``FiniteLosses``: a NaN or infinite loss stops training before it is saved (``TrainingDiverged``);
* ``Checkpoints``: every ``checkpoint_every`` iterations, at each milestone, at the end of
  pre-training and at the last step, the weights are checked finite, saved (``RunCheckpoints``),
  and the generator draws its fixed noise into ``grids/``;
* ``Progress``: a progress bar, and the last logged row printed at each checkpoint.

What trains is a *model*: ``build(seed)`` makes its graph, ``data(seed)`` its training data,
``steps(gan, data)`` what runs each step, ``to_dict()`` what run.json keeps of it (None: the
tutorial's). ``TutorialModel`` is the tutorial's,
with ``ezgan.runs.fast``'s step unless ``literal``; ``ezgan.lab``'s recipes are models too.
"""
import dataclasses
import pathlib
import time

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ezgan import hparams
from ezgan.graph import build_graph
from ezgan.mnist import read_data_sets
from ezgan.runs.checkpoints import GRIDS, RunCheckpoints
from ezgan.runs.fast import FastSteps
from ezgan.runs.folder import check_finite, check_finite_weights, open_run_folder
from ezgan.runs.state import RunState
from ezgan.runs.outputs import save_png, signals_held
from ezgan.grids import grid_image
from ezgan.sample import generate
from ezgan.tfsetup import session_config
from ezgan.train import Hook, Schedule, TutorialSteps, train_loop

v1 = tf.compat.v1
FIXED_NOISE_COUNT = 100   # the fixed-noise grid saved at every checkpoint (10 x 10)


def format_row(row, iterations):
    return (f"[{row['iteration']:>6}/{iterations}] loss_D_real {row['d_loss_real']:.4f} "
            f"loss_D_fake {row['d_loss_fake']:.4f} loss_G {row['g_loss']:.4f} "
            f"D(x) {row['D_x']:.4f} D(G(z)) {row['D_G_z']:.4f}")


def fixed_noise(seed, z_dim):
    """The noise behind the fixed-noise grids: the same for every checkpoint of a run."""
    return np.random.default_rng([seed, 2**32 - 1]).normal(0, 1, (FIXED_NOISE_COUNT, z_dim)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class TutorialModel:
    """The tutorial's networks and training (``literal``: its two-call loop; else ``FastSteps``, the same maths)."""
    literal: bool = False

    def build(self, seed):
        return build_graph(seed=seed)

    def data(self, seed):
        return read_data_sets(seed=seed).train

    def steps(self, gan, data):
        return TutorialSteps(gan) if self.literal else FastSteps(gan)

    def to_dict(self):
        return None


LOSSES = ("d_loss_real", "d_loss_fake", "g_loss")


class FiniteLosses(Hook):
    """Stops training at a NaN or infinite loss: of every pre-training step, of every logged row."""

    def after_pretrain_step(self, sess, step, losses):
        check_finite(f"pre-training step {step - 1}", **dict(zip(LOSSES, losses)))

    def after_iteration(self, sess, step, iteration, real, noise, row):
        if row is not None:
            check_finite(f"iteration {iteration}", **{name: row[name] for name in LOSSES})


@dataclasses.dataclass(frozen=True)
class Saving:
    """When a run saves, and how much it keeps."""
    directory: str
    every: int = 1000              # iterations between checkpoints
    milestone_every: int = 5000    # iterations between milestones, kept for good
    keep: int = 3                  # checkpoints kept (milestones aside)


class Checkpoints(Hook):
    """Saves the run when due; every save guarded: that step's losses and every weight must be finite."""

    def __init__(self, gan, steps, state, saving, started):
        self.gan, self.steps, self.state, self.saving, self.started = gan, steps, state, saving, started
        self.saver = RunCheckpoints(gan, saving.directory, saving.keep)
        with gan.graph.as_default():   # a loss can hide a NaN weight (a fused ReLU kernel turns NaN into 0)
            self.weights_finite = [tf.reduce_all(tf.math.is_finite(var)) for var in gan.model_variables]
        self.weight_names = [var.op.name for var in gan.model_variables]
        self.fixed_noise = fixed_noise(state.seed, gan.z_dim)   # the same at every checkpoint
        self.saved = False   # whether the last step was saved (``Progress`` prints a row then)

    def save(self, sess, where, milestone=False):
        check_finite_weights(where, self.weight_names, sess.run(self.weights_finite))
        self.state.elapsed_seconds = time.perf_counter() - self.started
        with signals_held():   # a stop waits for the checkpoint and its grid
            step = self.saver.save(sess, self.state, milestone)
            save_png(grid_image(generate(sess, self.gan, self.fixed_noise), columns=10),
                     pathlib.Path(self.saving.directory) / GRIDS / f"step{step:07d}.png")
        self.saved = True

    def after_pretrain_step(self, sess, step, losses):
        self.saved = False
        if step == self.state.pretrain_steps:
            self.save(sess, f"pre-training step {step - 1}")

    def after_iteration(self, sess, step, iteration, real, noise, row):
        self.saved = False
        milestone = (iteration + 1) % self.saving.milestone_every == 0
        if (iteration + 1) % self.saving.every and not milestone and step < self.state.total_steps:
            return
        if row is None:   # no row was checked this iteration: check its losses before saving
            losses = sess.run([getattr(self.gan, name) for name in LOSSES], self.steps.feed(real, noise.summary))
            check_finite(f"iteration {iteration}", **dict(zip(LOSSES, losses)))
        self.save(sess, f"iteration {iteration}", milestone)


class Progress(Hook):
    """A progress bar over the run's steps; after each checkpoint, the last logged row, once."""

    def __init__(self, bar, state, checkpoints=None):
        self.bar, self.state, self.checkpoints = bar, state, checkpoints
        self.last_row = self.printed = None

    def after_pretrain_step(self, sess, step, losses):
        self.bar.update()
        self.bar.set_postfix(d_real=f"{losses[0]:.3f}", d_fake=f"{losses[1]:.3f}")
        if step == self.state.pretrain_steps:
            self.bar.set_description("training")

    def after_iteration(self, sess, step, iteration, real, noise, row):
        self.bar.update()
        if row is not None:
            self.last_row = row
            self.bar.set_postfix({key: f"{value:.3f}" for key, value in row.items() if key != "iteration"})
        if self.checkpoints is not None and self.checkpoints.saved and self.last_row is not self.printed:
            self.printed = self.last_row
            self.bar.write(format_row(self.last_row, self.state.iterations))


def check_schedule(**counts):
    """Refuse a negative count, or an interval (``*_every``) of 0, in one line naming it."""
    for name, value in counts.items():
        if value < 0 or (value == 0 and name.endswith("every")):
            raise ValueError(f"{name} must be {'positive' if name.endswith('every') else '>= 0'}, got {value}")


def start_state(model, resume, seed, pretrain_steps, iterations, logdir, directory):
    """The run state to train from: a new one, or the resumed run's with the new iteration count."""
    if not resume:
        return RunState(seed=seed, pretrain_steps=pretrain_steps, iterations=iterations, logdir=logdir or "",
                        recipe=model.to_dict())
    state = RunState.load(directory)
    if (state.pretrain_steps, state.seed) != (pretrain_steps, seed):
        print(f"resuming with the run's own seed {state.seed} and {state.pretrain_steps} pre-training steps")
    if logdir and logdir != state.logdir:
        print(f"resuming: TensorBoard goes to the run's own folder {state.logdir!r}, not --logdir {logdir}")
    state.iterations = iterations
    return state


def train(iterations=hparams.ITERATIONS, pretrain_steps=hparams.PRETRAIN_STEPS, seed=0, logdir=None,
          checkpoint_dir="checkpoints", checkpoint_every=1000, resume=False, literal=False,
          summary_every=hparams.SUMMARY_EVERY, data=None, progress=True, keep_checkpoints=3, milestone_every=5000,
          threads=0, overwrite=False, model=None, hooks=()):
    """Train ``model`` (default: the tutorial's, ``literal`` or fast) as a durable run; returns the rows logged.

    Checkpoints go to ``checkpoint_dir`` every ``checkpoint_every`` iterations (the last
    ``keep_checkpoints`` are kept), and for good every ``milestone_every`` iterations, each with a
    grid of digits from the run's fixed noise; ``checkpoint_dir=None`` writes none (and locks
    nothing), ``logdir=None`` no TensorBoard. ``resume``: continue the run in ``checkpoint_dir``
    (its own seed and pre-training; ``model`` must be the run's: ``ezgan.lab.run_model`` finds it).
    A fresh run refuses a folder holding a run unless ``overwrite``. ``threads`` > 0: the size of
    TensorFlow's thread pools. ``hooks``: more ``ezgan.train.Hook``s. A NaN or infinite loss or
    weight raises ``TrainingDiverged``, unsaved.
    """
    check_schedule(iterations=iterations, pretrain_steps=pretrain_steps, checkpoint_every=checkpoint_every,
                   summary_every=summary_every, milestone_every=milestone_every)
    model = model or TutorialModel(literal)
    saving = Saving(checkpoint_dir, checkpoint_every, milestone_every, keep_checkpoints) if checkpoint_dir else None
    with open_run_folder(checkpoint_dir, resume, overwrite):   # locked for the whole run
        state = start_state(model, resume, seed, pretrain_steps, iterations, logdir, checkpoint_dir)
        if state.step >= state.total_steps:
            print(f"nothing left to do: the run is at step {state.step}, {iterations} iterations end at step "
                  f"{state.total_steps}")
            return []
        data = data or model.data(state.seed)
        gan = model.build(state.seed)
        steps = model.steps(gan, data)
        with v1.Session(graph=gan.graph, config=session_config(threads)) as sess:
            started = time.perf_counter() - state.elapsed_seconds
            checkpoints = Checkpoints(gan, steps, state, saving, started) if saving else None
            step = checkpoints.saver.restore_latest(sess) if resume else 0
            if not resume:
                sess.run(gan.init)
            data.seek(step * gan.batch_size)
            writer = None
            if state.logdir:
                writer = v1.summary.FileWriter(state.logdir, gan.graph if step == 0 else None)
                # Drop events a killed run logged after its last checkpoint: TensorBoard purges later steps.
                writer.add_session_log(v1.SessionLog(status=v1.SessionLog.START), max(0, step - state.pretrain_steps))
            with tqdm(total=state.total_steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
                      mininterval=1.0, desc="pre-training D" if step < state.pretrain_steps else "training") as bar:
                run_hooks = [FiniteLosses(), *filter(None, [checkpoints]), Progress(bar, state, checkpoints), *hooks]
                schedule = Schedule(state.seed, state.pretrain_steps, iterations, summary_every)
                history = train_loop(sess, gan, data, schedule, writer, run_hooks, steps, step)
            if writer is not None:
                writer.close()
        return history
