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
  per loss. Adam scales each optimizer's steps to the size of its own gradients, and on D's last
  layer the two losses' gradients have opposite signs, so the tutorial's two push that layer by
  about the same amount both ways whatever the two losses are. Trained on from the bundled
  checkpoint, its inverted D stayed inverted with two optimizers and was put right with one
  (notebook 9, section 3);
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

from ezgan import hparams
from ezgan.errors import EzganError
from ezgan.lab import guided
from ezgan.lab.networks import DISCRIMINATORS, GENERATORS, LEAKY_SLOPE
from ezgan.runs.state import RunState

RECIPE_FILE = "recipe.json"   # a checkpoint folder may carry its recipe alone; else run.json's "recipe" says


class RecipeError(EzganError, ValueError):
    """A recipe that cannot be built (an unknown name, a value out of range); the message says which."""


def field(default, short, card):
    """A recipe field with its words: ``short(value)`` in labels (``Recipe.describe``), ``card(value)`` in the
    model card's list of what differs from the tutorial (``Recipe.card_notes``)."""
    return dataclasses.field(default=default, metadata=dict(short=short, card=card))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What to change of the tutorial's training; every default is the tutorial's."""
    guided: bool = field(
        False, lambda v: "guided controller" if v else "no controller",
        lambda v: "**jonbruner/ezgan's guided controller** (its `gan-controlled.py`) instead of one D step and one G "
                  "step per iteration: each iteration runs, in this order, a D step on generated images if D's last "
                  f"known loss on them is above {guided.D_FAKE_THRESHOLD}, a G step if G's is above "
                  f"{guided.G_THRESHOLD}, and a D step on real images if D's loss on them is above "
                  f"{guided.D_REAL_THRESHOLD}, each on its own noise batch (`ezgan.lab.guided.guided_updates`). The "
                  "number of updates of each kind is logged to TensorBoard (`d_fake_count`, `g_count`, `d_real_count`).")
    pretrain: bool = field(
        True, lambda v: "D pre-training" if v else "no D pre-training",
        lambda v: f"**{'D' if v else 'No discriminator'} pre-training** (the tutorial's: {hparams.PRETRAIN_STEPS} "
                  "D-only steps before the main loop).")
    label_smoothing: float = field(
        1.0, lambda v: f"real label {v:g}",
        lambda v: f"**Real label {v:g}** (one-sided label smoothing; the tutorial's is 1): D's loss on real images "
                  f"aims at {v:g}, so D is never pushed to certainty on them.")
    beta1: float = field(
        0.9, lambda v: f"Adam beta1 {v:g}",
        lambda v: f"**Adam β1 = {v:g}** for all three optimizers (the tutorial's: TF's default 0.9).")
    one_d_optimizer: bool = field(
        False, lambda v: "one D optimizer" if v else "two D optimizers",
        lambda v: "**One Adam optimizer for D, on the sum of its two losses** (the tutorial's: one on the loss on "
                  "real images, one on the loss on generated images). Each of the tutorial's two takes steps of about "
                  "its learning rate whatever its loss; trained on from the tutorial's bundled model, its inverted "
                  "discriminator stayed inverted with two and was put right with one (notebook 9)." if v else
                  "**Two Adam optimizers for D**, one per loss, as the tutorial's.")
    leaky_relu: bool = field(
        False, lambda v: "leaky-ReLU D" if v else "ReLU D",
        lambda v: f"**Leaky ReLU in D** (slope {LEAKY_SLOPE}) in place of ReLU: the same layers and variables.")
    minibatch_stddev: bool = field(
        False, lambda v: "batch-spread D" if v else "no batch spread",
        lambda v: "**D sees the spread of its batch** (`ezgan.lab.networks.minibatch_stddev`, ProGAN's minibatch "
                  "standard deviation): one more map before D's dense layer, the standard deviation of each "
                  "feature over the batch, averaged. A generator that draws few kinds of digit makes batches less "
                  "varied than real ones, which D can then see." if v else "**No batch spread** in D.")
    discriminator: str = field(
        "tutorial", lambda v: f"{v} discriminator",
        lambda v: f"**The {v} discriminator** (`ezgan.lab.networks.{DISCRIMINATORS[v][0].__name__}`) in place of "
                  f"the tutorial's. It is {DISCRIMINATORS[v][1]}.")
    generator: str = field(
        "tutorial", lambda v: f"{v} generator",
        lambda v: f"**The {v} generator** (`ezgan.lab.networks.{GENERATORS[v][0].__name__}`) in place of the "
                  f"tutorial's. It is {GENERATORS[v][1]}.")
    ema_decay: float = field(
        0.0, lambda v: f"EMA of G {v:g}" if v else "no EMA",
        lambda v: f"**Sampled from a moving average of G's weights** (decay {v:g}): the checkpoint's generator "
                  "variables hold the averages, which change more slowly than the weights being trained." if v else
                  "**No moving average** of G's weights.")
    conditional: bool = field(
        False, lambda v: "conditional on the digit" if v else "unconditional",
        lambda v: "**Conditional on the digit**: G takes the digit's label, one-hot, beside its noise; D judges "
                  "image and label together (a projection discriminator, `ezgan.lab.networks`).")
    batch_size: int = field(
        hparams.BATCH_SIZE, lambda v: f"batches of {v}",
        lambda v: f"**Batches of {v}** real and {v} generated images (the tutorial's: {hparams.BATCH_SIZE}); sampling "
                  f"draws {v} at a time too, since batch norm uses the batch's statistics.")
    r1_penalty: float = field(
        0.0, lambda v: f"R1 penalty {v:g}" if v else "no R1 penalty",
        lambda v: f"**An R1 gradient penalty** (Mescheder et al. 2018) in D's loss: {v:g}/2 times the mean squared "
                  "norm of the gradient of D's logit with respect to each real image, which keeps D from turning "
                  "sharply around the real digits.")
    d_learning_rate: float = field(
        hparams.D_LEARNING_RATE, lambda v: f"D rate {v:g}",
        lambda v: f"**D's learning rate {v:g}** (the tutorial's: {hparams.D_LEARNING_RATE:g}).")
    g_learning_rate: float = field(
        hparams.G_LEARNING_RATE, lambda v: f"G rate {v:g}",
        lambda v: f"**G's learning rate {v:g}** (the tutorial's: {hparams.G_LEARNING_RATE:g}).")

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
        if self.discriminator.startswith("dcgan") and self.leaky_relu:
            problems.append("the dcgan discriminator has leaky ReLUs already: leave leaky_relu out")
        if self.generator not in GENERATORS:
            problems.append(f"generator must be one of {', '.join(GENERATORS)}, got {self.generator!r}")
        if self.conditional and (self.guided or self.discriminator != "dcgan" or self.generator == "tutorial"
                                 or self.minibatch_stddev or not self.one_d_optimizer):
            problems.append("the conditional model is built on DCGAN's networks and one D optimizer: it needs "
                            "discriminator dcgan, a dcgan generator, one_d_optimizer, no guided and no batch spread")
        if self.batch_size < 1:
            problems.append(f"batch_size must be positive, got {self.batch_size}")
        if self.r1_penalty < 0 or (self.r1_penalty and (self.guided or not self.one_d_optimizer)):
            problems.append("the R1 penalty is a non-negative weight, added to the one D optimizer's loss: it needs "
                            f"one_d_optimizer and no guided controller, got {self.r1_penalty}")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"the EMA decay must be in [0, 1) (0: off), got {self.ema_decay}")
        for name in ("d_learning_rate", "g_learning_rate"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if problems:
            raise RecipeError("; ".join(problems))

    @property
    def tutorial_graph(self):
        """True when ``build_graph`` builds this recipe (it differs from the tutorial's in learning rates,
        pre-training or batch size at most)."""
        return dataclasses.replace(self, d_learning_rate=TUTORIAL.d_learning_rate, pretrain=TUTORIAL.pretrain,
                                   g_learning_rate=TUTORIAL.g_learning_rate, batch_size=TUTORIAL.batch_size) == TUTORIAL

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

    def changes(self):
        """[(field, value)] of every field that differs from the tutorial's recipe, in the fields' order."""
        return [(f, getattr(self, f.name)) for f in dataclasses.fields(self) if getattr(TUTORIAL, f.name) !=
                getattr(self, f.name)]

    def describe(self):
        """What differs from the tutorial, in words ("the tutorial's" for the tutorial itself)."""
        return ", ".join(f.metadata["short"](value) for f, value in self.changes()) or "the tutorial's"

    def card_notes(self):
        """One Markdown sentence per way this recipe differs from the tutorial's (the model card's list)."""
        return [f.metadata["card"](value) for f, value in self.changes()]


TUTORIAL = Recipe()
# jonbruner/ezgan's gan-controlled.py: what --guided brings besides the controller itself.
GUIDED = dict(guided=True, label_smoothing=0.9, d_learning_rate=1e-3, g_learning_rate=4e-3)
# DCGAN's own recipe (Radford et al. 2015): both networks (the generator at DCGAN's MNIST width), Adam 2e-4 with
# beta1 0.5, one D optimizer, no pre-training.
DCGAN_RECIPE = dict(discriminator="dcgan", generator="dcgan-wide", beta1=0.5, d_learning_rate=2e-4,
                    g_learning_rate=2e-4, one_d_optimizer=True, pretrain=False)
# A wider unconditional model: dcgan-recipe+ema+spread with twice its generator's maps (dcgan-wider), a third
# discriminator convolution and batches of 128 (wide); wide-r1, the recipe of pretrained/improved, puts an R1 penalty
# in place of D's batch norm, its weight a first choice, not tuned (Mescheder et al. used 10 on images in [-1, 1];
# ours are in [0, 1], which doubles the same function's input gradients).
WIDE_R1_PENALTY = 1.0
WIDE = dict(DCGAN_RECIPE, generator="dcgan-wider", discriminator="dcgan-wide", ema_decay=0.999, minibatch_stddev=True,
            batch_size=128)
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
    # Added after the rows above, from what their curves and longer single runs suggested: the bundled run's D
    # ended inverted under the tutorial's two optimizers (one-d), digit shares drifted towards 3s (spread), and in
    # single seed-0 runs only a DCGAN discriminator took a generator past a score of about 4.5 (dcgan-d, dcgan-recipe).
    "one-d": Recipe(one_d_optimizer=True),
    "spread": Recipe(minibatch_stddev=True),
    "no-pretraining": Recipe(pretrain=False),
    "dcgan-d": Recipe(discriminator="dcgan"),
    "dcgan-recipe+ema": Recipe(**DCGAN_RECIPE, ema_decay=0.999),
    "dcgan-recipe+ema+spread": Recipe(**DCGAN_RECIPE, ema_decay=0.999, minibatch_stddev=True),
    # Digits on demand: dcgan-recipe+ema's networks, each also told the digit (conditional_generator,
    # projection_discriminator).
    "conditional": Recipe(**DCGAN_RECIPE, ema_decay=0.999, conditional=True),
    # Leave one out: the improved recipe (dcgan-recipe+ema+spread) with one of its changes undone each
    # (without the batch spread: dcgan-recipe+ema above); and the guided controller alone, at the tutorial's
    # rates and label.
    "improved-ema": Recipe(**DCGAN_RECIPE, minibatch_stddev=True),
    "improved+two-d": Recipe(**{**DCGAN_RECIPE, "one_d_optimizer": False}, ema_decay=0.999, minibatch_stddev=True),
    "improved+pretraining": Recipe(**{**DCGAN_RECIPE, "pretrain": True}, ema_decay=0.999, minibatch_stddev=True),
    "improved+beta1-0.9": Recipe(**{**DCGAN_RECIPE, "beta1": 0.9}, ema_decay=0.999, minibatch_stddev=True),
    "improved+tutorial-d": Recipe(**{**DCGAN_RECIPE, "discriminator": "tutorial"}, ema_decay=0.999,
                                  minibatch_stddev=True),
    "improved+tutorial-g": Recipe(**{**DCGAN_RECIPE, "generator": "tutorial"}, ema_decay=0.999, minibatch_stddev=True),
    "guided-alone": Recipe(guided=True),
    "wide": Recipe(**WIDE),
    "wide-r1": Recipe(**{**WIDE, "discriminator": "dcgan-wide-no-bn"}, r1_penalty=WIDE_R1_PENALTY),
}


def recipe_name(recipe):
    """The recipe's name in ``RECIPES``; None for a recipe of its own."""
    return next((name for name, known in RECIPES.items() if known == recipe), None)


def run_recipe(state):
    """The recipe of a run's state (a ``RunState``): the tutorial's when it names none (older runs)."""
    return Recipe.from_dict(state.recipe) if state.recipe else TUTORIAL


def checkpoint_recipe(prefix):
    """The recipe a checkpoint was trained with: RECIPE_FILE in its folder, else its run's run.json
    (``RunState.of_checkpoint``); ``TUTORIAL`` when neither says (pretrained/, old runs)."""
    recipe_file = pathlib.Path(prefix).parent / RECIPE_FILE
    if recipe_file.exists():
        return Recipe.from_dict(json.loads(recipe_file.read_text()))
    state = RunState.of_checkpoint(prefix)
    return run_recipe(state) if state else TUTORIAL
