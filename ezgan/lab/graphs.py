"""A recipe's training graph, built from the tutorial's own pieces (``ezgan.graph``).

``build_recipe_graph`` gives a recipe with the tutorial's graph (``Recipe.tutorial_graph``)
``ezgan.graph.build_graph``'s graph itself. Any other recipe gets a ``RecipeGraph``: the same
fields as the tutorial's ``GANGraph``, made the same way (placeholders, the two networks, the
losses, ``split_variables``, Adam trainers, ``add_summaries``, ``finish_graph``) with the recipe's
changes: its networks, its real label, its Adam beta1 and D optimizers, then the moving average
of G's weights and the guided controller's ops on top.
"""
import dataclasses

import tensorflow as tf

from ezgan import hparams
from ezgan.graph import (GANGraph, add_summaries, build_graph, finish_graph, inputs, mean_cross_entropy,
                         split_variables)
from ezgan.lab.guided import GuidedOps, add_guided_ops
from ezgan.lab.networks import (DCGAN_WIDTHS, DISCRIMINATORS, GENERATORS, conditional_generator, cycling_labels,
                                leaky_discriminator, leaky_relu, projection_discriminator, stddev_discriminator)
from ezgan.lab.recipes import TUTORIAL, Recipe

v1 = tf.compat.v1


@dataclasses.dataclass
class RecipeGraph(GANGraph):
    """A recipe's training graph: a ``GANGraph`` plus what the tutorial's does not have."""
    recipe: Recipe = TUTORIAL
    saved_model_variables: dict = None   # name -> what a model checkpoint saves under it (EMA: the averages)
    ema: v1.train.ExponentialMovingAverage = None
    guided_ops: GuidedOps = None
    labels: tf.Tensor = None             # conditional: placeholder, the real images' digits
    fake_labels: tf.Tensor = None        # conditional: the digits G draws (default: cycling_labels)


def recipe_discriminator(recipe):
    """The discriminator function (``ezgan.model.discriminator``'s signature) of an unconditional ``recipe``."""
    if recipe.discriminator.startswith("dcgan"):
        dcgan = DISCRIMINATORS[recipe.discriminator][0]
        return lambda images, reuse_variables=None: dcgan(images, reuse_variables, recipe.minibatch_stddev)
    if recipe.minibatch_stddev:
        activation = leaky_relu if recipe.leaky_relu else tf.nn.relu
        return lambda images, reuse_variables=None: stddev_discriminator(images, reuse_variables, activation)
    return leaky_discriminator if recipe.leaky_relu else DISCRIMINATORS["tutorial"][0]


def recipe_generator(recipe, digit=None):
    """The generator function (``ezgan.model.generator``'s signature) of ``recipe``. A conditional one draws
    ``digit`` in every row, or with None ``cycling_labels`` (row i: digit i % 10)."""
    if recipe.conditional:
        def asked(z):
            return None if digit is None else tf.fill(tf.shape(z)[:1], digit)
        return lambda z, batch_size, z_dim: conditional_generator(z, batch_size, z_dim, asked(z),
                                                                  channels=DCGAN_WIDTHS[recipe.generator])
    return GENERATORS[recipe.generator][0]


def real_label_like(label):
    """``tf.ones_like`` for the tutorial's real label 1; else a tensor of ``label`` (one-sided label smoothing)."""
    return tf.ones_like if label == 1 else (lambda logits: tf.fill(tf.shape(logits), label))


def r1_penalty(weight, real_images, real_logits):
    """R1 (Mescheder et al. 2018): ``weight``/2 times the mean over the batch of |d logit / d image|^2."""
    gradients = tf.gradients(tf.reduce_sum(real_logits), real_images)[0]
    squared_norms = tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3])
    return tf.multiply(weight / 2, tf.reduce_mean(squared_norms), name="r1_penalty")


def recipe_trainers(recipe, losses, d_vars, g_vars, d_penalty=0.0):
    """The optimizers and trainers of ``recipe`` (``GANGraph``'s fields): the tutorial's two D optimizers or one
    (on the sum of D's losses and ``d_penalty``)."""
    d_loss_real, d_loss_fake, g_loss = losses
    beta1 = recipe.beta1
    # The guided controller fetches the losses with each update: every trainer waits for them, so they are
    # the values from before the update.
    with tf.control_dependencies(list(losses) if recipe.guided else []):
        if recipe.one_d_optimizer:
            d_real_optimizer = d_fake_optimizer = v1.train.AdamOptimizer(recipe.d_learning_rate, beta1=beta1)
            d_trainer_real = d_real_optimizer.minimize(d_loss_real + d_loss_fake + d_penalty, var_list=d_vars)
            d_trainer_fake = tf.no_op(name="d_trainer_fake")   # the one optimizer steps on both losses at once
        else:   # as ezgan.graph.build_graph, with the recipe's beta1
            d_fake_optimizer = v1.train.AdamOptimizer(recipe.d_learning_rate, beta1=beta1, use_locking=True)
            d_real_optimizer = v1.train.AdamOptimizer(recipe.d_learning_rate, beta1=beta1, use_locking=True)
            d_trainer_fake = d_fake_optimizer.minimize(d_loss_fake, var_list=d_vars)
            d_trainer_real = d_real_optimizer.minimize(d_loss_real, var_list=d_vars)
        g_optimizer = v1.train.AdamOptimizer(recipe.g_learning_rate, beta1=beta1)
        g_trainer = g_optimizer.minimize(g_loss, var_list=g_vars)
    return dict(d_real_optimizer=d_real_optimizer, d_fake_optimizer=d_fake_optimizer, g_optimizer=g_optimizer,
                d_trainer_real=d_trainer_real, d_trainer_fake=d_trainer_fake, g_trainer=g_trainer)


def build_recipe_graph(recipe=TUTORIAL, seed=None, z_dim=hparams.Z_DIM):
    """The training graph of ``recipe`` in a new ``tf.Graph``: a ``GANGraph``, the same fields as the tutorial's."""
    batch_size = recipe.batch_size
    if recipe.tutorial_graph:
        return build_graph(z_dim, batch_size, recipe.d_learning_rate, recipe.g_learning_rate, seed)
    graph = tf.Graph()
    with graph.as_default():
        if seed is not None:
            v1.set_random_seed(seed)
        x, z = inputs(z_dim)
        labels = fake_labels = None
        if recipe.conditional:
            labels = v1.placeholder(tf.int32, [None], name="labels")
            fake_labels = v1.placeholder_with_default(cycling_labels(z), [None], name="fake_labels")
            Gz = conditional_generator(z, batch_size, z_dim, fake_labels, DCGAN_WIDTHS[recipe.generator])
            Dx_logits = projection_discriminator(x, labels)
            Dg_logits = projection_discriminator(Gz, fake_labels, reuse_variables=True)
        else:
            discriminator = recipe_discriminator(recipe)
            Gz = recipe_generator(recipe)(z, batch_size, z_dim)
            Dx_logits = discriminator(x)
            Dg_logits = discriminator(Gz, reuse_variables=True)
        losses = (mean_cross_entropy(Dx_logits, real_label_like(recipe.label_smoothing)),
                  mean_cross_entropy(Dg_logits, tf.zeros_like), mean_cross_entropy(Dg_logits, tf.ones_like))
        d_vars, g_vars = split_variables(v1.trainable_variables())
        model_variables = v1.global_variables()
        summaries = add_summaries(losses[2], losses[0], losses[1], Gz)
        penalty = 0.0
        if recipe.r1_penalty:
            penalty = r1_penalty(recipe.r1_penalty, x, Dx_logits)
            summaries = v1.summary.merge([summaries, v1.summary.scalar("R1_penalty", penalty)])
        parts = dict(graph=graph, z_dim=z_dim, batch_size=batch_size, x=x, z=z, Gz=Gz, Dx_logits=Dx_logits,
                     Dg_logits=Dg_logits, d_loss_real=losses[0], d_loss_fake=losses[1], g_loss=losses[2],
                     d_vars=d_vars, g_vars=g_vars, model_variables=model_variables,
                     **recipe_trainers(recipe, losses, d_vars, g_vars, penalty), merged=summaries)
        gan = finish_graph(**parts)
        saved = {var.op.name: var for var in model_variables}
        ema = None
        if recipe.ema_decay:
            # num_updates: the decay is min(ema_decay, (1 + step) / (10 + step)), TF's warm-up, so that
            # the average early in a run is not mostly the initial weights (0.999^1000 = 37%).
            ema = v1.train.ExponentialMovingAverage(recipe.ema_decay, num_updates=gan.global_step)
            with tf.control_dependencies([gan.g_trainer]):
                gan.g_trainer = ema.apply(g_vars)
            saved.update({var.op.name: ema.average(var) for var in g_vars})
        guided_ops = None
        if recipe.guided:
            guided_ops = add_guided_ops(tf.stack(losses), dict(d_fake=gan.d_trainer_fake, g=gan.g_trainer,
                                                               d_real=gan.d_trainer_real))
        gan.init = v1.global_variables_initializer()   # the recipe's own variables too
    fields = {field.name: getattr(gan, field.name) for field in dataclasses.fields(gan)}
    return RecipeGraph(**fields, recipe=recipe, saved_model_variables=saved, ema=ema, guided_ops=guided_ops,
                       labels=labels, fake_labels=fake_labels)
