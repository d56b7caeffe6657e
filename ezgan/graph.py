"""Tutorial steps 4 and 5: the losses, the optimizers and the TensorBoard summaries.

``build_graph()`` builds the tutorial's whole training graph into a fresh ``tf.Graph``, so
re-running a notebook cell never meets the last build's variables. Its pieces (``inputs``,
``gan_losses``, ``split_variables``, ``add_summaries``, ``finish_graph``) are public: ``ezgan.lab``
builds its recipes' graphs from them.
"""
import dataclasses

import tensorflow as tf

from ezgan.hparams import BATCH_SIZE, D_LEARNING_RATE, G_LEARNING_RATE, Z_DIM
from ezgan.model import discriminator, generator

v1 = tf.compat.v1


def mean_cross_entropy(logits, labels_like):
    """Sigmoid cross-entropy of ``logits`` against labels all 1 (``tf.ones_like``) or all 0, averaged."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(logits=logits, labels=labels_like(logits)))


def gan_losses(Dx_logits, Dg_logits):
    """The three losses, each a sigmoid cross-entropy on logits averaged over the batch.

    The discriminator wants real images (logits ``Dx_logits``) called 1 and generated ones
    (``Dg_logits``) called 0; the generator wants its images called 1.
    Returns (d_loss_real, d_loss_fake, g_loss).
    """
    return (mean_cross_entropy(Dx_logits, tf.ones_like), mean_cross_entropy(Dg_logits, tf.zeros_like),
            mean_cross_entropy(Dg_logits, tf.ones_like))


def split_variables(variables):
    """The tutorial's split of the trainable variables by name: (d_vars, g_vars)."""
    d_vars = [var for var in variables if "d_" in var.name]
    g_vars = [var for var in variables if "g_" in var.name]
    return d_vars, g_vars


def add_summaries(g_loss, d_loss_real, d_loss_fake, images):
    """The tutorial's TensorBoard summaries, merged into one op."""
    return v1.summary.merge([
        v1.summary.scalar("Generator_loss", g_loss),
        v1.summary.scalar("Discriminator_loss_real", d_loss_real),
        v1.summary.scalar("Discriminator_loss_fake", d_loss_fake),
        v1.summary.image("Generated_images", images, max_outputs=5),
    ])


@dataclasses.dataclass
class GANGraph:
    """The tutorial's training graph and the parts of it that the training loop runs."""
    graph: tf.Graph
    z_dim: int
    batch_size: int
    x: tf.Tensor                    # placeholder: real images (batch, 28, 28, 1)
    z: tf.Tensor                    # placeholder: noise (batch, z_dim)
    Gz: tf.Tensor                   # generated images G(z)
    Dx_logits: tf.Tensor            # D's logits on the real images
    Dg_logits: tf.Tensor            # D's logits on the generated images
    d_loss_real: tf.Tensor
    d_loss_fake: tf.Tensor
    g_loss: tf.Tensor
    mean_D_x: tf.Tensor             # D's mean probability that the real images are real: D(x)
    mean_D_G_z: tf.Tensor           # ... and that the generated ones are: D(G(z))
    d_vars: list
    g_vars: list
    model_variables: list           # every variable of the two networks: what a model checkpoint holds
    global_step: tf.Variable        # pre-training steps plus iterations
    increment_step: tf.Operation
    d_real_optimizer: v1.train.Optimizer
    d_fake_optimizer: v1.train.Optimizer
    g_optimizer: v1.train.Optimizer
    d_trainer_real: tf.Operation
    d_trainer_fake: tf.Operation
    g_trainer: tf.Operation
    merged: tf.Tensor               # every summary, for the FileWriter
    init: tf.Operation


def inputs(z_dim):
    """The placeholders the training graph is fed: real images x (batch, 28, 28, 1) and noise z (batch, z_dim)."""
    return v1.placeholder(tf.float32, [None, 28, 28, 1], name="x"), v1.placeholder(tf.float32, [None, z_dim], name="z")


def build_graph(z_dim=Z_DIM, batch_size=BATCH_SIZE, d_learning_rate=D_LEARNING_RATE,
                g_learning_rate=G_LEARNING_RATE, seed=None, generator=generator, discriminator=discriminator):
    """Build the tutorial's training graph in a new ``tf.Graph``; returns a ``GANGraph``.

    ``seed`` fixes the initial weights (the graph-level random seed). ``generator`` and
    ``discriminator`` are the tutorial's unless you bring your own with their arguments (notebook 2's
    exercise). ``ezgan.lab`` builds its recipes' graphs from the same pieces.
    """
    if z_dim < 4 or batch_size < 1:
        raise ValueError(f"z_dim must be >= 4 and batch_size >= 1, got {z_dim} and {batch_size}")
    graph = tf.Graph()
    with graph.as_default():
        if seed is not None:
            v1.set_random_seed(seed)
        x, z = inputs(z_dim)

        Gz = generator(z, batch_size, z_dim)
        Dx_logits = discriminator(x)
        Dg_logits = discriminator(Gz, reuse_variables=True)
        d_loss_real, d_loss_fake, g_loss = gan_losses(Dx_logits, Dg_logits)
        d_vars, g_vars = split_variables(v1.trainable_variables())
        model_variables = v1.global_variables()   # the networks', batch norm's moving averages too

        # Two optimizers for D, one per loss, so that its training on real and on generated images
        # can be regulated apart; one for G. use_locking: both D trainers run in one sess.run and
        # update the same weights; without the lock one update can partly overwrite the other.
        d_fake_optimizer = v1.train.AdamOptimizer(d_learning_rate, use_locking=True)
        d_real_optimizer = v1.train.AdamOptimizer(d_learning_rate, use_locking=True)
        g_optimizer = v1.train.AdamOptimizer(g_learning_rate)
        d_trainer_fake = d_fake_optimizer.minimize(d_loss_fake, var_list=d_vars)
        d_trainer_real = d_real_optimizer.minimize(d_loss_real, var_list=d_vars)
        g_trainer = g_optimizer.minimize(g_loss, var_list=g_vars)

        merged = add_summaries(g_loss, d_loss_real, d_loss_fake, Gz)
        return finish_graph(graph=graph, z_dim=z_dim, batch_size=batch_size, x=x, z=z, Gz=Gz, Dx_logits=Dx_logits,
                            Dg_logits=Dg_logits, d_loss_real=d_loss_real, d_loss_fake=d_loss_fake, g_loss=g_loss,
                            d_vars=d_vars, g_vars=g_vars, model_variables=model_variables,
                            d_real_optimizer=d_real_optimizer, d_fake_optimizer=d_fake_optimizer,
                            g_optimizer=g_optimizer, d_trainer_real=d_trainer_real, d_trainer_fake=d_trainer_fake,
                            g_trainer=g_trainer, merged=merged)


def finish_graph(**parts):
    """The ``GANGraph`` of ``parts`` (its fields but four), with what every training graph has besides: D's mean
    beliefs that real and generated images are real (the log line's D(x), D(G(z))), the step counter, the init."""
    global_step = v1.train.get_or_create_global_step()
    return GANGraph(**parts, mean_D_x=tf.reduce_mean(tf.sigmoid(parts["Dx_logits"])),
                    mean_D_G_z=tf.reduce_mean(tf.sigmoid(parts["Dg_logits"])), global_step=global_step,
                    increment_step=v1.assign_add(global_step, 1), init=v1.global_variables_initializer())
