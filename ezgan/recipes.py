"""Beyond the tutorial: the GAN hacks and jonbruner/ezgan's guided training, each one switch of ``ezgan train``.

Nothing here is needed to follow the tutorial, and the tutorial's recipe (``TUTORIAL``, what
``ezgan train`` runs without these switches) trains exactly as before: ``build_recipe_graph``
gives it ``ezgan.graph.build_graph``'s own graph. A ``Recipe`` says what to change:

* ``guided``: the controller of jonbruner/ezgan's ``gan-controlled.py``. No pre-training; each
  iteration, in this order, one D step on generated images if the last known D fake loss is
  above 0.7, one G step if the last known G loss is above 0.5, one D step on real images if the
  last known D real loss is above 0.45 (``guided_updates``). Every one of these ``sess.run``
  calls also fetches the three losses of that same run, computed before its update: they become
  the last known ones. It comes with that script's real label 0.9 and learning rates (D 1e-3,
  G 4e-3); how many updates of each kind ran since the last summary goes to TensorBoard
  (``d_real_count``, ``d_fake_count``, ``g_count``). The last known losses and those counts are
  variables, so ``--resume`` carries on exactly;
* ``pretrain``: False skips the tutorial's discriminator-only steps before the main loop;
* ``label_smoothing``: the label of real images in D's loss (0.9: one-sided label smoothing,
  Salimans et al. 2016; generated images keep label 0 and G's target stays 1);
* ``beta1``: Adam's beta1 for all three optimizers (0.5 as in DCGAN, Radford et al. 2015);
* ``one_d_optimizer``: one Adam on the sum of D's two losses instead of the tutorial's two, one
  per loss. Adam scales each optimizer's steps to the size of its own gradients, so the tutorial's
  two push D's overall level up and down by about the same amount whatever the two losses are, and
  nothing pulls it back when it drifts (to calling everything fake: notebooks 5, 7 and 9). One
  optimizer steps in proportion to each error;
* ``leaky_relu``: the discriminator with leaky ReLUs (slope 0.2), same variables as the tutorial's;
* ``minibatch_stddev``: the discriminator also sees how varied its batch is (``minibatch_stddev``),
  so that a generator drawing one kind of digit over and over gives itself away;
* ``discriminator="dcgan"``: ``dcgan_discriminator`` (strided convolutions, leaky ReLUs, batch
  norm) instead of the tutorial's;
* ``generator="dcgan"``: ``dcgan_generator`` instead of the tutorial's 56x56 one (``"dcgan-wide"``: with
  twice the maps);
* ``ema_decay``: an exponential moving average of the generator's weights, updated after every
  G step; model checkpoints hold the averages under the weights' own names, so whatever samples
  a checkpoint (``ezgan sample``, ``ezgan evaluate``, ``ezgan curve``) uses the averages;
* ``d_learning_rate``, ``g_learning_rate``: Adam's rates.

``RECIPES`` names the rows of the ablation (``tools/ablation.py``, ``make ablation``). A run's
recipe is saved in its run.json (and travels with ``ezgan export``); ``checkpoint_recipe`` finds
it again, so ``Sampler`` builds the generator a checkpoint was trained with.
"""
import dataclasses
import json
import pathlib
import typing

import tensorflow as tf

from ezgan import hparams
from ezgan.checkpoints import MILESTONES, RUN_STATE, read_run_state
from ezgan.errors import EzganError
from ezgan.graph import GANGraph, build_graph
from ezgan.model import _check_images, _weights, _zeros, batch_norm, discriminator, generator

v1 = tf.compat.v1
GENERATORS = ("tutorial", "dcgan", "dcgan-wide")
DISCRIMINATORS = ("tutorial", "dcgan")
LEAKY_SLOPE = 0.2
RECIPE_FILE = "recipe.json"   # a checkpoint folder may carry its recipe alone; else run.json's "recipe" says


class RecipeError(EzganError, ValueError):
    """A recipe that cannot be built (an unknown name, a value out of range); the message says which."""


# 1. The recipe ---------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Recipe:
    """What to change of the tutorial's training; every default is the tutorial's."""
    guided: bool = False              # jonbruner/ezgan's controller instead of one D and one G step per iteration
    pretrain: bool = True             # the tutorial's PRETRAIN_STEPS D-only steps first (guided never pre-trains)
    label_smoothing: float = 1.0      # the real images' label in D's loss (0.9: one-sided label smoothing)
    beta1: float = 0.9                # Adam's beta1 (TF's default, as the tutorial used it)
    one_d_optimizer: bool = False     # one Adam on d_loss_real + d_loss_fake instead of one per loss
    leaky_relu: bool = False          # leaky ReLU (slope LEAKY_SLOPE) in D instead of ReLU
    minibatch_stddev: bool = False    # D also sees the batch's spread (stddev_discriminator)
    discriminator: str = "tutorial"   # "tutorial" (ezgan.model.discriminator) or "dcgan" (dcgan_discriminator)
    generator: str = "tutorial"       # "tutorial" (ezgan.model.generator), "dcgan" or "dcgan-wide" (dcgan_generator)
    ema_decay: float = 0.0            # 0: off; else the decay of the generator weights' moving average
    d_learning_rate: float = hparams.D_LEARNING_RATE
    g_learning_rate: float = hparams.G_LEARNING_RATE

    def __post_init__(self):
        problems = []
        if not 0 < self.label_smoothing <= 1:
            problems.append(f"the real label (label_smoothing) must be in (0, 1], got {self.label_smoothing}")
        if self.guided and self.one_d_optimizer:
            problems.append("the guided controller steps D on real and on generated images apart: it needs the "
                            "tutorial's two D optimizers, not one_d_optimizer")
        if not 0 <= self.beta1 < 1:
            problems.append(f"beta1 must be in [0, 1), got {self.beta1}")
        if self.discriminator not in DISCRIMINATORS:
            problems.append(f"discriminator must be one of {', '.join(DISCRIMINATORS)}, got {self.discriminator!r}")
        if self.discriminator == "dcgan" and self.leaky_relu:
            problems.append("the dcgan discriminator has leaky ReLUs already: leave leaky_relu out")
        if self.generator not in GENERATORS:
            problems.append(f"generator must be one of {', '.join(GENERATORS)}, got {self.generator!r}")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"the EMA decay must be in [0, 1) (0: off), got {self.ema_decay}")
        for name in ("d_learning_rate", "g_learning_rate"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if problems:
            raise RecipeError("; ".join(problems))

    @property
    def tutorial_graph(self):
        """True when ``build_graph`` builds this recipe (it differs from the tutorial's in learning rates or
        pre-training at most)."""
        return dataclasses.replace(self, d_learning_rate=TUTORIAL.d_learning_rate, pretrain=TUTORIAL.pretrain,
                                   g_learning_rate=TUTORIAL.g_learning_rate) == TUTORIAL

    @property
    def pretrain_steps(self):
        """The discriminator-only steps ``ezgan train`` runs first unless told (``--pretrain-steps``)."""
        return hparams.PRETRAIN_STEPS if self.pretrain and not self.guided else 0

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise RecipeError(f"unknown recipe settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    @classmethod
    def from_switches(cls, name=None, **switches):
        """The recipe of ``ezgan train``'s flags: the named recipe (default: the tutorial's), then the switches.

        A switch left None is not given. ``guided=True`` on a recipe that is not guided also brings
        the controller's own real label and learning rates (``GUIDED``), unless given too.
        """
        if name is not None and name not in RECIPES:
            raise RecipeError(f"no recipe named {name!r}; the recipes are {', '.join(RECIPES)}")
        recipe = RECIPES[name] if name is not None else TUTORIAL
        given = {key: value for key, value in switches.items() if value is not None}
        unknown = set(given) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown recipe switches: {', '.join(sorted(unknown))}")
        if given.get("guided") and not recipe.guided:
            recipe = dataclasses.replace(recipe, **GUIDED)
        return dataclasses.replace(recipe, **given)

    def describe(self):
        """What differs from the tutorial, in words ("the tutorial's" for the tutorial itself)."""
        words = {"guided": lambda v: "guided controller" if v else "no controller",
                 "pretrain": lambda v: "D pre-training" if v else "no D pre-training",
                 "label_smoothing": lambda v: f"real label {v:g}", "beta1": lambda v: f"Adam beta1 {v:g}",
                 "one_d_optimizer": lambda v: "one D optimizer" if v else "two D optimizers",
                 "leaky_relu": lambda v: "leaky-ReLU D" if v else "ReLU D",
                 "minibatch_stddev": lambda v: "batch-spread D" if v else "no batch spread",
                 "discriminator": lambda v: f"{v} discriminator",
                 "generator": lambda v: f"{v} generator", "ema_decay": lambda v: f"EMA of G {v:g}" if v else "no EMA",
                 "d_learning_rate": lambda v: f"D rate {v:g}", "g_learning_rate": lambda v: f"G rate {v:g}"}
        changed = [words[key](value) for key, value in self.to_dict().items() if getattr(TUTORIAL, key) != value]
        return ", ".join(changed) or "the tutorial's"


TUTORIAL = Recipe()
# jonbruner/ezgan's gan-controlled.py: what --guided brings besides the controller itself.
GUIDED = dict(guided=True, label_smoothing=0.9, d_learning_rate=1e-3, g_learning_rate=4e-3)
# DCGAN's own recipe (Radford et al. 2015): both networks (the generator at DCGAN's MNIST width), Adam 2e-4 with
# beta1 0.5, one D optimizer, no pre-training.
DCGAN_RECIPE = dict(discriminator="dcgan", generator="dcgan-wide", beta1=0.5, d_learning_rate=2e-4,
                    g_learning_rate=2e-4, one_d_optimizer=True, pretrain=False)
HACKS = dict(label_smoothing=0.9, beta1=0.5, leaky_relu=True, generator="dcgan", ema_decay=0.999)
RECIPES = {
    "tutorial": TUTORIAL,
    "guided": Recipe(**GUIDED),
    "smooth": Recipe(label_smoothing=0.9),
    "beta1": Recipe(beta1=0.5),
    "leaky": Recipe(leaky_relu=True),
    "dcgan": Recipe(generator="dcgan"),
    "ema": Recipe(ema_decay=0.999),
    # The combinations: every hack at once, and the guided controller with the new generator and the average.
    "hacks": Recipe(**HACKS),
    "dcgan+beta1+ema": Recipe(beta1=0.5, generator="dcgan", ema_decay=0.999),
    "guided+dcgan+ema": Recipe(**GUIDED, generator="dcgan", ema_decay=0.999),
    # Added after the first two seeds: guided led every row and the DCGAN generator's iterations were
    # the cheapest (a fifth of the tutorial generator's time), and guided+dcgan+ema collapsed on seed 0.
    "guided+dcgan": Recipe(**GUIDED, generator="dcgan"),
    # Added after the rows above, from what their curves and longer single runs showed: the tutorial's two D
    # optimizers leave D's overall level adrift (one-d), digit shares drift towards 3s (spread), and only a
    # DCGAN discriminator let a generator keep improving past a score of about 4.5 (dcgan-d, dcgan-recipe).
    "one-d": Recipe(one_d_optimizer=True),
    "spread": Recipe(minibatch_stddev=True),
    "no-pretraining": Recipe(pretrain=False),
    "dcgan-d": Recipe(discriminator="dcgan"),
    "dcgan-recipe+ema": Recipe(**DCGAN_RECIPE, ema_decay=0.999),
    "dcgan-recipe+ema+spread": Recipe(**DCGAN_RECIPE, ema_decay=0.999, minibatch_stddev=True),
}


# 2. The guided controller ------------------------------------------------------------------------------

D_FAKE_THRESHOLD = 0.7    # a D step on generated images when the last known D fake loss is above this
G_THRESHOLD = 0.5         # a G step when the last known G loss is above this
D_REAL_THRESHOLD = 0.45   # a D step on real images when the last known D real loss is above this
UPDATE_ORDER = ("d_fake", "g", "d_real")   # the order of the three within an iteration
INITIAL_LOSSES = (0.0, 0.0, 1.0)           # last known (d_loss_real, d_loss_fake, g_loss) before the first run


class GuidedUpdates(typing.NamedTuple):
    d_fake: bool
    g: bool
    d_real: bool


def guided_updates(d_loss_fake, g_loss, d_loss_real):
    """Which updates the controller's thresholds call for, given the last known losses (each a strict >).

    The controller asks again before each update of an iteration, in ``UPDATE_ORDER``, with the
    losses its previous update fetched. At least one update always runs: G loss <= 0.5 and D fake
    loss <= 0.7 cannot both hold, since -log p - log(1 - p) >= 2 log 2 for every image.
    """
    return GuidedUpdates(d_fake=d_loss_fake > D_FAKE_THRESHOLD, g=g_loss > G_THRESHOLD,
                         d_real=d_loss_real > D_REAL_THRESHOLD)


@dataclasses.dataclass
class GuidedOps:
    """The guided controller's part of the graph (``build_recipe_graph`` adds it to a guided recipe's graph)."""
    losses: tf.Tensor             # (d_loss_real, d_loss_fake, g_loss) stacked: what every update fetches
    last_known: tf.Variable       # the losses the last update fetched (saved with the run, for --resume)
    counts: tf.Variable           # updates of each kind (UPDATE_ORDER) since the last summary
    updates: dict                 # UPDATE_ORDER kind -> op: that trainer, then last_known and counts updated
    counts_snapshot: tf.Tensor
    counts_summary: tf.Tensor     # the scalars d_fake_count, g_count, d_real_count
    reset_counts: tf.Operation    # runs after the snapshot and the summary were taken


def _add_guided_ops(losses, trainers):
    with v1.variable_scope("guided"):
        last_known = v1.get_variable("last_known_losses", initializer=tf.constant(INITIAL_LOSSES), trainable=False)
        counts = v1.get_variable("update_counts", initializer=tf.zeros([len(UPDATE_ORDER)]), trainable=False)
    updates = {}
    for k, kind in enumerate(UPDATE_ORDER):
        # `losses` were computed before the trainer's update (its control dependency); record them after it.
        with tf.control_dependencies([trainers[kind]]):
            updates[kind] = tf.group(v1.assign(last_known, losses),
                                     v1.assign_add(counts, tf.one_hot(k, len(UPDATE_ORDER))), name=f"guided_{kind}")
    snapshot = tf.identity(counts.read_value())
    counts_summary = v1.summary.merge([v1.summary.scalar(f"{kind}_count", snapshot[k])
                                       for k, kind in enumerate(UPDATE_ORDER)])
    with tf.control_dependencies([snapshot, counts_summary]):
        reset_counts = v1.assign(counts, tf.zeros([len(UPDATE_ORDER)])).op
    return GuidedOps(losses, last_known, counts, updates, snapshot, counts_summary, reset_counts)


class GuidedController:
    """The guided iteration: ``ezgan.train`` runs ``iteration`` instead of the tutorial's, ``log_counts`` at summaries."""

    def __init__(self, gan):
        self.gan, self.ops = gan, gan.guided_ops
        self.last_known = None      # (d_loss_real, d_loss_fake, g_loss); read from the graph on the first iteration

    def iteration(self, sess, real, z_d_fake, z_g, z_d_real):
        """One iteration; each update gets its own noise batch (the original drew fresh noise for every run)."""
        if self.last_known is None:   # INITIAL_LOSSES in a new run, the saved ones in a resumed run
            self.last_known = tuple(sess.run(self.ops.last_known))
        noise = {"d_fake": z_d_fake, "g": z_g, "d_real": z_d_real}
        for kind in UPDATE_ORDER:
            d_loss_real, d_loss_fake, g_loss = self.last_known
            if getattr(guided_updates(d_loss_fake, g_loss, d_loss_real), kind):
                _, losses = sess.run([self.ops.updates[kind], self.ops.losses],
                                     {self.gan.x: real, self.gan.z: noise[kind]})
                self.last_known = tuple(losses)
        sess.run(self.gan.increment_step)

    def log_counts(self, sess, writer, iteration):
        """Write the counts of each update since the last summary to TensorBoard, reset them; returns them."""
        summary, counts, _ = sess.run([self.ops.counts_summary, self.ops.counts_snapshot, self.ops.reset_counts])
        if writer is not None:
            writer.add_summary(summary, iteration)
        return {f"{kind}_count": int(count) for kind, count in zip(UPDATE_ORDER, counts)}


# 3. The networks ------------------------------------------------------------------------------------------

def leaky_relu(layer, slope=LEAKY_SLOPE):
    return tf.nn.leaky_relu(layer, slope)


def leaky_discriminator(images, reuse_variables=None, slope=LEAKY_SLOPE):
    """``ezgan.model.discriminator`` with leaky ReLUs (slope ``slope``): the same layers and variables d_w1 ... d_b4."""
    return discriminator(images, reuse_variables, activation=lambda layer: leaky_relu(layer, slope))


SPREAD_EPSILON = 1e-8   # under the square root: the gradient of sqrt is infinite at 0 (a batch of identical images)


def minibatch_stddev(maps):
    """``maps`` (batch, h, w, c) with one more map: the batch's spread, the same number at every position.

    The spread is the standard deviation over the batch of each of the h*w*c features, averaged
    (ProGAN's minibatch standard deviation, Karras et al. 2018). D judges a whole batch of real or
    of generated images at a time (``ezgan.graph``), so a generator that draws the same few digits
    over and over makes batches less varied than real ones, and D can see it: mode dropping
    becomes something D can punish, where one image at a time it cannot.
    """
    _, variance = tf.nn.moments(maps, axes=[0])
    spread = tf.reduce_mean(tf.sqrt(variance + SPREAD_EPSILON))
    return tf.concat([maps, tf.fill(tf.concat([tf.shape(maps)[:-1], [1]], 0), spread)], axis=-1)


def stddev_discriminator(images, reuse_variables=None, activation=tf.nn.relu):
    """The tutorial's discriminator with ``minibatch_stddev``'s map after its two conv layers (variables d_w1 ... d_b4).

    The layers are ``ezgan.model.discriminator``'s, but the fully connected layer takes 7x7x65
    inputs: d_w3 is (3185, 1024), not (3136, 1024), so its checkpoints do not restore into the
    tutorial's graph. With d_w3's rows of the extra map at zero it computes the tutorial's logits
    (a test pins this).
    """
    _check_images(images)
    with v1.variable_scope(v1.get_variable_scope(), reuse=reuse_variables):
        maps = images
        for layer, (channels_in, channels_out) in enumerate([(1, 32), (32, 64)], start=1):
            w, b = _weights(f"d_w{layer}", [5, 5, channels_in, channels_out]), _zeros(f"d_b{layer}", [channels_out])
            maps = activation(tf.nn.bias_add(tf.nn.conv2d(maps, w, strides=1, padding="SAME"), b))
            maps = tf.nn.avg_pool2d(maps, ksize=2, strides=2, padding="SAME")
        features = tf.reshape(minibatch_stddev(maps), [-1, 7 * 7 * 65])
        hidden = activation(tf.nn.bias_add(tf.matmul(features, _weights("d_w3", [7 * 7 * 65, 1024])),
                                           _zeros("d_b3", [1024])))
        return tf.nn.bias_add(tf.matmul(hidden, _weights("d_w4", [1024, 1])), _zeros("d_b4", [1]))


def dcgan_discriminator(images, reuse_variables=None, spread=False):
    """Images (batch, 28, 28, 1) -> one logit per image, DCGAN style (variables d_dc_*).

    A 4x4 stride-2 convolution to 14x14x64 and a leaky ReLU; a 4x4 stride-2 convolution to 7x7x128,
    batch norm (``ezgan.model.batch_norm``: the batch's own statistics; D sees real and generated
    batches apart, as DCGAN's does) and a leaky ReLU; a dense layer to one logit. Strided
    convolutions instead of average pooling, and no 1024-unit layer: a tenth of the tutorial
    discriminator's weights. ``spread``: ``minibatch_stddev``'s map before the dense layer.
    """
    _check_images(images)
    with v1.variable_scope(v1.get_variable_scope(), reuse=reuse_variables):
        d1 = tf.nn.conv2d(images, _weights("d_dc_w1", [4, 4, 1, 64]), strides=2, padding="SAME")
        d1 = leaky_relu(tf.nn.bias_add(d1, _zeros("d_dc_b1", [64])))
        d2 = tf.nn.conv2d(d1, _weights("d_dc_w2", [4, 4, 64, 128]), strides=2, padding="SAME")
        d2 = leaky_relu(batch_norm(d2, "d_dc_bn2"))
        if spread:
            d2 = minibatch_stddev(d2)
        features = tf.reshape(d2, [-1, 7 * 7 * d2.shape[-1]])
        return tf.nn.bias_add(tf.matmul(features, _weights("d_dc_w3", [7 * 7 * d2.shape[-1], 1])),
                              _zeros("d_dc_b3", [1]))


def recipe_discriminator(recipe):
    """The discriminator function (``discriminator``'s signature) of ``recipe``."""
    if recipe.discriminator == "dcgan":
        return lambda images, reuse_variables=None: dcgan_discriminator(images, reuse_variables,
                                                                       recipe.minibatch_stddev)
    if recipe.minibatch_stddev:
        activation = leaky_relu if recipe.leaky_relu else tf.nn.relu
        return lambda images, reuse_variables=None: stddev_discriminator(images, reuse_variables, activation)
    return leaky_discriminator if recipe.leaky_relu else discriminator


DCGAN_CHANNELS = 64   # maps of the 7x7 layer (DCGAN's MNIST models use 128; 64 keeps G about as cheap as D on a CPU)


def dcgan_generator(z, batch_size, z_dim, channels=DCGAN_CHANNELS):
    """Noise z (batch, z_dim) -> images (batch, 28, 28, 1) in (0, 1), DCGAN style (variables g_dc_*).

    A dense layer to 7x7 maps of ``channels``, batch norm, ReLU; a 4x4 stride-2 transposed
    convolution to 14x14 (half the maps), batch norm, ReLU; a 4x4 stride-2 transposed convolution
    to 28x28x1 and a sigmoid. 4x4 kernels, a multiple of the stride, overlap evenly: no
    checkerboard (Odena et al. 2016). No biases before batch norm (its beta is the bias).

    Batch norm is the tutorial's (``ezgan.model.batch_norm``): it normalises with the statistics of
    the batch in hand, in training and in sampling alike. So sampling keeps the tutorial's rule of
    whole batches (``ezgan.sample``) and needs nothing else; no update ops need wiring into the
    trainers; and with the moving average of the weights (``ema_decay``) the statistics are always
    those of the weights in use, where moving statistics would have been gathered with the raw
    weights, not with their average. The signature is the tutorial generator's.
    """
    if z.shape.rank != 2 or z.shape[-1] != z_dim:
        raise ValueError(f"generator expects z shaped (batch, {z_dim}), got {z.shape}")
    batch = tf.shape(z)[0]
    g_dc_w1 = _weights("g_dc_w1", [z_dim, 7 * 7 * channels])
    g1 = tf.nn.relu(batch_norm(tf.reshape(tf.matmul(z, g_dc_w1), [-1, 7, 7, channels]), "g_dc_bn1"))
    g_dc_w2 = _weights("g_dc_w2", [4, 4, channels // 2, channels])   # transposed: [height, width, out, in]
    g2 = tf.nn.conv2d_transpose(g1, g_dc_w2, tf.stack([batch, 14, 14, channels // 2]), strides=2, padding="SAME")
    g2 = tf.nn.relu(batch_norm(tf.reshape(g2, [-1, 14, 14, channels // 2]), "g_dc_bn2"))
    g_dc_w3, g_dc_b3 = _weights("g_dc_w3", [4, 4, 1, channels // 2]), _zeros("g_dc_b3", [1])
    g3 = tf.nn.conv2d_transpose(g2, g_dc_w3, tf.stack([batch, 28, 28, 1]), strides=2, padding="SAME")
    return tf.sigmoid(tf.nn.bias_add(tf.reshape(g3, [-1, 28, 28, 1]), g_dc_b3))


DCGAN_WIDTHS = {"dcgan": DCGAN_CHANNELS, "dcgan-wide": 2 * DCGAN_CHANNELS}   # maps of the 7x7 layer


def wide_dcgan_generator(z, batch_size, z_dim):
    """``dcgan_generator`` with twice the maps, DCGAN's own width for MNIST: more room to draw clean strokes."""
    return dcgan_generator(z, batch_size, z_dim, channels=DCGAN_WIDTHS["dcgan-wide"])


GENERATOR_FUNCTIONS = {"tutorial": generator, "dcgan": dcgan_generator, "dcgan-wide": wide_dcgan_generator}


def recipe_name(recipe):
    """The recipe's name in ``RECIPES``; None for a recipe of its own."""
    return next((name for name, known in RECIPES.items() if known == recipe), None)


def run_recipe(state):
    """The recipe of a run's state (run.json as a dict): the tutorial's when it names none (older runs)."""
    return Recipe.from_dict(state["recipe"]) if state.get("recipe") else TUTORIAL


def checkpoint_recipe(prefix):
    """The recipe a checkpoint was trained with: RECIPE_FILE, else run.json's "recipe", in its folder
    (a milestone's: the run folder above); ``TUTORIAL`` when neither says (pretrained/, old runs)."""
    folder = pathlib.Path(prefix).parent
    for directory in (folder, folder.parent) if folder.name == MILESTONES else (folder,):
        if (directory / RECIPE_FILE).exists():
            return Recipe.from_dict(json.loads((directory / RECIPE_FILE).read_text()))
        if (directory / RUN_STATE).exists():
            return run_recipe(read_run_state(directory))
    return TUTORIAL


def checkpoint_generator(prefix):
    """The generator function (``generator``'s signature) of the recipe ``prefix`` was trained with."""
    return GENERATOR_FUNCTIONS[checkpoint_recipe(prefix).generator]


# 4. The training graph ------------------------------------------------------------------------------------

@dataclasses.dataclass
class RecipeGraph(GANGraph):
    """A recipe's training graph: a ``GANGraph`` plus what the tutorial's does not have."""
    recipe: Recipe = TUTORIAL
    saved_model_variables: dict = None   # name -> what a model checkpoint saves under it (EMA: the averages)
    ema: v1.train.ExponentialMovingAverage = None
    guided_ops: GuidedOps = None


def build_recipe_graph(recipe=TUTORIAL, seed=None, z_dim=hparams.Z_DIM, batch_size=hparams.BATCH_SIZE):
    """The training graph of ``recipe`` in a new ``tf.Graph``: a ``GANGraph``, the same fields as the tutorial's.

    A recipe with the tutorial's graph (``Recipe.tutorial_graph``) gets ``build_graph``'s graph
    itself; any other a ``RecipeGraph``: ``build_graph`` with the recipe's networks, label and
    beta1, then the moving average of G's weights and the guided controller's ops on top.
    """
    rates = (recipe.d_learning_rate, recipe.g_learning_rate)
    if recipe.tutorial_graph:
        return build_graph(z_dim, batch_size, *rates, seed)
    gan = build_graph(z_dim, batch_size, *rates, seed, generator=GENERATOR_FUNCTIONS[recipe.generator],
                      discriminator=recipe_discriminator(recipe),
                      real_label=recipe.label_smoothing, beta1=recipe.beta1, losses_before_updates=recipe.guided,
                      one_d_optimizer=recipe.one_d_optimizer)
    parts = {field.name: getattr(gan, field.name) for field in dataclasses.fields(gan)}
    with gan.graph.as_default():
        saved = {var.op.name: var for var in gan.model_variables}
        ema = None
        if recipe.ema_decay:
            # num_updates: the decay is min(ema_decay, (1 + step) / (10 + step)), TF's warm-up, so that
            # the average early in a run is not mostly the initial weights (0.999^1000 = 37%).
            ema = v1.train.ExponentialMovingAverage(recipe.ema_decay, num_updates=gan.global_step)
            with tf.control_dependencies([gan.g_trainer]):
                parts["g_trainer"] = ema.apply(gan.g_vars)
            saved.update({var.op.name: ema.average(var) for var in gan.g_vars})
        guided_ops = None
        if recipe.guided:
            guided_ops = _add_guided_ops(tf.stack([gan.d_loss_real, gan.d_loss_fake, gan.g_loss]),
                                         dict(d_fake=gan.d_trainer_fake, g=parts["g_trainer"], d_real=gan.d_trainer_real))
        parts["init"] = v1.global_variables_initializer()   # build_graph's and the recipe's own variables
    return RecipeGraph(**parts, recipe=recipe, saved_model_variables=saved, ema=ema, guided_ops=guided_ops)


def uses_fast_step(recipe):
    """Whether ``ezgan train`` may run ``ezgan.fast``'s step: only on the tutorial's graph (recipe None included)."""
    return recipe is None or recipe.tutorial_graph


def guided_controller(gan):
    """A ``GuidedController`` for a guided recipe's graph, else None."""
    return GuidedController(gan) if getattr(gan, "guided_ops", None) is not None else None
