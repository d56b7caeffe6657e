"""What a discriminator's logits did: read from a run's TensorBoard events, and measured while training goes on.

* ``logged_losses``: the three losses of every summary of a run, from its events;
* ``mean_fake_logit``: the mean logit D gave a batch of generated images, exactly, from two of
  those losses. D's loss on a generated image with logit l is -log(1 - sigmoid(l)) = softplus(l),
  G's loss on it is -log(sigmoid(l)) = softplus(-l), and softplus(l) - softplus(-l) = l. The
  tutorial's summary computes both losses on one batch, so their difference is that batch's mean
  logit. D's loss on real images alone gives no such exact mean;
* ``continue_training``: a trained model's weights trained on from where they are, with the
  tutorial's two D optimizers or with one on the sum of D's losses (fresh Adam state either way),
  recording the mean real and fake logits of every iteration's batches.
"""
import numpy as np
import tensorflow as tf

from ezgan.lab.graphs import build_recipe_graph
from ezgan.lab.recipes import Recipe
from ezgan.mnist import read_data_sets
from ezgan.runs.checkpoints import resolve_checkpoint
from ezgan.tfsetup import session_config
from ezgan.train import Hook, Schedule, train_loop

v1 = tf.compat.v1
LOSS_TAGS = {"d_loss_real": "Discriminator_loss_real", "d_loss_fake": "Discriminator_loss_fake",
             "g_loss": "Generator_loss"}


def logged_losses(logdir):
    """{"step": ..., "d_loss_real": ..., "d_loss_fake": ..., "g_loss": ...}, arrays in step order, from the events
    of ``logdir`` (the tutorial's summary tags)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    events.Reload()
    series = {name: {event.step: event.value for event in events.Scalars(tag)} for name, tag in LOSS_TAGS.items()}
    steps = sorted(set.intersection(*(set(values) for values in series.values())))
    return {"step": np.array(steps), **{name: np.array([values[s] for s in steps]) for name, values in series.items()}}


def mean_fake_logit(d_loss_fake, g_loss):
    """The mean logit of the generated batch both losses were computed on (see the module's docstring)."""
    return np.asarray(d_loss_fake) - np.asarray(g_loss)


class LogitRecorder(Hook):
    """After each iteration: D's mean logit on that iteration's real batch and on its summary noise's images."""

    def __init__(self, gan):
        self.gan = gan
        with gan.graph.as_default():
            self.mean_logits = tf.stack([tf.reduce_mean(gan.Dx_logits), tf.reduce_mean(gan.Dg_logits)])
        self.rows = []

    def after_iteration(self, sess, step, iteration, real, noise, row):
        self.rows.append(sess.run(self.mean_logits, {self.gan.x: real, self.gan.z: noise.summary}))


def continue_training(checkpoint, one_d_optimizer, iterations, seed=0):
    """(iterations, 2) array: the mean real and fake logits after each iteration of training ``checkpoint``'s model
    on with the tutorial's recipe, its two D optimizers or one (``Recipe.one_d_optimizer``)."""
    gan = build_recipe_graph(Recipe(one_d_optimizer=one_d_optimizer), seed)
    recorder = LogitRecorder(gan)
    with gan.graph.as_default():
        saver = v1.train.Saver({variable.op.name: variable for variable in gan.model_variables})
    with v1.Session(graph=gan.graph, config=session_config()) as sess:
        sess.run(gan.init)
        saver.restore(sess, resolve_checkpoint(checkpoint))
        schedule = Schedule(seed, pretrain_steps=0, iterations=iterations, summary_every=iterations + 1)
        train_loop(sess, gan, read_data_sets(seed=seed).train, schedule, hooks=[recorder])
    return np.array(recorder.rows)
