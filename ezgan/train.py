"""Tutorial step 6: training. The discriminator is pre-trained alone, then D and G take turns.

``train_loop`` is the tutorial's loop, whole; ``train()`` runs it in a new session. Every input of
step ``s`` (the real batch, three noise batches) is a pure function of (seed, s), so a stopped run
can continue exactly. Durability (checkpoints, resume, the NaN guard, progress) attaches from
``ezgan.runs`` as ``Hook``s, a faster step as ``steps``; recipes beyond the tutorial are ``ezgan.lab``'s.
"""
import collections
import dataclasses
import pathlib
import time

import numpy as np
import tensorflow as tf

from ezgan import hparams
from ezgan.graph import build_graph
from ezgan.mnist import read_data_sets
from ezgan.tfsetup import session_config

v1 = tf.compat.v1
StepNoise = collections.namedtuple("StepNoise", ["d", "g", "summary"])   # for the D step, the G step, the summary


def step_noise(seed, step, batch_size, z_dim):
    """The three noise batches of step ``step`` (``StepNoise``): for the D step, the G step and the summary."""
    rng = np.random.default_rng([seed, step])
    return StepNoise(*rng.normal(0, 1, size=(3, batch_size, z_dim)).astype(np.float32))


def real_batch(data, batch_size):
    return data.next_batch(batch_size)[0].reshape([batch_size, 28, 28, 1])


def pretrain_step(sess, gan, real, z_d):
    """One discriminator-only step on a real batch and a fake batch; returns (d_loss_real, d_loss_fake)."""
    _, _, loss_real, loss_fake = sess.run([gan.d_trainer_real, gan.d_trainer_fake, gan.d_loss_real, gan.d_loss_fake],
                                          {gan.x: real, gan.z: z_d})
    sess.run(gan.increment_step)
    return loss_real, loss_fake


def literal_iteration(sess, gan, real, z_d, z_g):
    """The tutorial's iteration: D on real and fake in one call, then G on fresh noise in another."""
    sess.run([gan.d_trainer_real, gan.d_trainer_fake, gan.d_loss_real, gan.d_loss_fake], {gan.x: real, gan.z: z_d})
    sess.run(gan.g_trainer, {gan.z: z_g})
    sess.run(gan.increment_step)


def log_summary(sess, gan, writer, real, z, iteration):
    """The tutorial's summary run (fresh noise, after the step): TensorBoard and one row of history."""
    return summarize(sess, gan, writer, {gan.x: real, gan.z: z}, iteration)


def summarize(sess, gan, writer, feed, iteration):
    """``log_summary`` on any feed (a graph with more inputs than the tutorial's feeds them too)."""
    summary, d_real, d_fake, g_loss, d_x, d_g_z = sess.run(
        [gan.merged, gan.d_loss_real, gan.d_loss_fake, gan.g_loss, gan.mean_D_x, gan.mean_D_G_z], feed)
    if writer is not None:
        writer.add_summary(summary, iteration)
    return dict(iteration=iteration, d_loss_real=float(d_real), d_loss_fake=float(d_fake), g_loss=float(g_loss),
                D_x=float(d_x), D_G_z=float(d_g_z))


def new_logdir(root="tensorboard"):
    """The tutorial's TensorBoard layout: one folder per run, named by its start time."""
    return str(pathlib.Path(root) / time.strftime("%Y%m%d-%H%M%S"))


class TutorialSteps:
    """What the loop runs on the tutorial's graph (``ezgan.runs.fast`` and ``ezgan.lab`` have their own)."""

    def __init__(self, gan):
        self.gan = gan

    def pretrain(self, sess, real, noise):
        return pretrain_step(sess, self.gan, real, noise.d)

    def iterate(self, sess, real, noise):
        literal_iteration(sess, self.gan, real, noise.d, noise.g)

    def summary(self, sess, writer, real, noise, iteration):
        return log_summary(sess, self.gan, writer, real, noise.summary, iteration)

    def feed(self, real, z):
        """The placeholders' values for a real batch and a noise batch (the losses' inputs)."""
        return {self.gan.x: real, self.gan.z: z}


class Hook:
    """Called by the loop after each step; a subclass overrides what it needs (``ezgan.notebook.IterationCallback``)."""

    def after_pretrain_step(self, sess, step, losses):
        """``step`` steps are done; ``losses`` is (d_loss_real, d_loss_fake) of the last one."""

    def after_iteration(self, sess, step, iteration, real, noise, row):
        """Iteration ``iteration`` is done (``step`` steps in all); ``row`` is its summary, or None if none was due."""


@dataclasses.dataclass
class Schedule:
    seed: int = 0
    pretrain_steps: int = hparams.PRETRAIN_STEPS
    iterations: int = hparams.ITERATIONS
    summary_every: int = hparams.SUMMARY_EVERY


def train_loop(sess, gan, data, schedule, writer=None, hooks=(), steps=None, step=0):
    """Train from ``step`` to the end of ``schedule`` with ``steps`` (default ``TutorialSteps``), calling ``hooks``
    after each step; returns the rows logged (one per summary)."""
    steps = steps or TutorialSteps(gan)
    history = []
    while step < schedule.pretrain_steps:                  # 1. The discriminator alone, on real and fake.
        noise = step_noise(schedule.seed, step, gan.batch_size, gan.z_dim)
        losses = steps.pretrain(sess, real_batch(data, gan.batch_size), noise)
        step += 1
        for hook in hooks:
            hook.after_pretrain_step(sess, step, losses)
    while step < schedule.pretrain_steps + schedule.iterations:   # 2. D and G take turns.
        iteration = step - schedule.pretrain_steps
        noise = step_noise(schedule.seed, step, gan.batch_size, gan.z_dim)
        real = real_batch(data, gan.batch_size)
        steps.iterate(sess, real, noise)
        step += 1
        row = None
        if iteration % schedule.summary_every == 0:        # 3. TensorBoard, and a row of history.
            row = steps.summary(sess, writer, real, noise, iteration)
            history.append(row)
        for hook in hooks:
            hook.after_iteration(sess, step, iteration, real, noise, row)
    return history


def train(iterations=hparams.ITERATIONS, pretrain_steps=hparams.PRETRAIN_STEPS, seed=0, logdir=None, hooks=(),
          gan=None):
    """Build the tutorial's graph (or take ``gan``), train it in a new session, TensorBoard in ``logdir`` (None:
    none); returns the rows logged. Checkpoints and resume: ``ezgan train`` (``ezgan.runs.training.train``)."""
    gan = gan or build_graph(seed=seed)
    data = read_data_sets(seed=seed).train
    with v1.Session(graph=gan.graph, config=session_config()) as sess:
        sess.run(gan.init)
        writer = v1.summary.FileWriter(logdir, gan.graph) if logdir else None
        history = train_loop(sess, gan, data, Schedule(seed, pretrain_steps, iterations), writer, hooks)
        if writer is not None:
            writer.close()
    return history
