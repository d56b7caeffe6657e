"""MODEL_CARD.md of a published model: the values read from the files beside it, the prose in a template.

``render_model_card(folder)`` reads the folder's run.json (``RunState``), publish.json (the facts of
the publication: machine, run, GIF, events), evaluation.json and, when there, quality_curve.json,
and fills ``templates/MODEL_CARD.md.j2`` with them: this module computes the values and the rows of
the tables, the template holds the words. The commands the card shows are made here too, from the
run's state and, for the two bundled models, the Makefile's flags (``BUNDLED_MODELS``).
"""
import dataclasses
import json
import os
import pathlib
import platform

import jinja2

from ezgan import hparams
from ezgan.errors import EzganError
from ezgan.lab import evaluate, metrics
from ezgan.lab.recipes import RECIPES, TUTORIAL, recipe_name, run_recipe
from ezgan.paths import pretrained_dir
from ezgan.runs.outputs import atomic_output
from ezgan.runs.state import RunState
from ezgan.tfsetup import tensorflow
from tools.machine import cpu_name

tf = tensorflow()
TEMPLATES = pathlib.Path(__file__).resolve().parent / "templates"
CARD_TEMPLATE = "MODEL_CARD.md.j2"
MODEL_CARD = "MODEL_CARD.md"
PUBLISH_INFO = "publish.json"   # the facts of a publication that no other shipped file holds
PLATEAU_MILESTONES = 3          # milestones after both bests before a card says the curve levelled off


@dataclasses.dataclass(frozen=True)
class BundledModel:
    """A model bundled with the checkout, as the Makefile trains and publishes it (paths as the card shows them)."""
    publish_target: str
    run: str
    out: str
    tensorboard: str
    # What the Makefile's training targets pass beyond what run.json records; resuming needs them again.
    train_flags: tuple = ()


TUTORIAL_MODEL = BundledModel("publish", "~/.cache/ezgan/runs/main", "pretrained", "tensorboard/tutorial-run")
IMPROVED_MODEL = BundledModel("publish-improved", "~/.cache/ezgan/runs/wide-r1", "pretrained/improved",
                              "tensorboard/improved-run", ("--milestone-every 1000", "--checkpoint-every 500"))
CONDITIONAL_MODEL = BundledModel("publish-conditional", "~/.cache/ezgan/runs/conditional", "pretrained/conditional",
                                 "tensorboard/conditional-run",
                                 ("--milestone-every 500", "--checkpoint-every 500", "--threads 1"))
BUNDLED_MODELS = (TUTORIAL_MODEL, IMPROVED_MODEL, CONDITIONAL_MODEL)


class ModelCardError(EzganError):
    """The card cannot name what the run was trained with (a recipe of its own); the message says why."""


def machine():
    """CPU model, core and GPU count and system of this machine, the CPU from /proc/cpuinfo where there is one."""
    return dict(cpu=cpu_name(), cores=os.cpu_count(), gpus=len(tf.config.list_physical_devices("GPU")),
                system=f"{platform.system()} {platform.release()}")


def bundled_model(run, out, tensorboard):
    """The bundled model that is published from ``run`` to ``out`` and ``tensorboard``; None for another publication."""
    return next((model for model in BUNDLED_MODELS
                 if (model.run, model.out, model.tensorboard) == (run, out, tensorboard)), None)


def publish_command(run, out, tensorboard):
    """The command that writes this publication: a make target for the two bundled models, else the script."""
    model = bundled_model(run, out, tensorboard)
    if model:
        return f"make {model.publish_target}"
    return f"python tools/publish.py --run {run} --out {out} --tensorboard {tensorboard}"


def published_recipe_name(recipe):
    """The recipe's name in ``RECIPES``, what ``--recipe`` takes; ModelCardError for a recipe of its own (no
    command would rebuild it)."""
    name = recipe_name(recipe)
    if name is None:
        raise ModelCardError(f"the run's recipe ({recipe.describe()}) is none of the named ones: {', '.join(RECIPES)}")
    return name


def run_flags(run, iterations, extra_flags):
    """The flags both starting and resuming the run need: a resumed run trains to ``--iterations`` (not to the
    count in its run.json), and run.json keeps no ``extra_flags``."""
    flags = [f"--iterations {iterations}"] if iterations != hparams.ITERATIONS else []
    return [*flags, f"--checkpoint-dir {run}", *extra_flags]


def train_command(run, state, extra_flags=()):
    """The command that started the run in ``run`` (``state``: its run state, ``iterations`` the run's target):
    its recipe, seed and schedule only where they differ from their defaults, then ``extra_flags``."""
    recipe = run_recipe(state)
    flags = [] if recipe == TUTORIAL else [f"--recipe {published_recipe_name(recipe)}"]
    flags.append(f"--seed {state.seed}")
    if state.pretrain_steps != recipe.pretrain_steps:
        flags.append(f"--pretrain-steps {state.pretrain_steps}")
    return " ".join(["ezgan train", *flags, *run_flags(run, state.iterations, extra_flags),
                     f"--logdir {run}/tensorboard"])


def resume_command(run, iterations, extra_flags=()):
    """The command that continues the run in ``run`` after an interruption, to ``iterations``."""
    return " ".join(["ezgan train --resume", *run_flags(run, iterations, extra_flags)])


def duration(seconds):
    """A wall time in hours and minutes, or minutes and seconds under an hour."""
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def replaced_networks(recipe):
    """Which of "generator" and "discriminator" the recipe replaces by a network other than the tutorial's."""
    return [network for network in ("generator", "discriminator")
            if getattr(recipe, network) != getattr(TUTORIAL, network)]


def reference_row(rows, start):
    """The row of ``rows`` whose name starts with ``start`` (reference rows carry their n in their names)."""
    return next((row for name, row in rows.items() if name.startswith(start)), None)


def curve_summary(curve):
    """What the card says of the quality curve (``quality_curve.json``): its first, last and best milestones,
    the milestones after both bests (a plateau) or whether the distance was still falling at the end, the
    digits never drawn, the reference rows."""
    rows = curve["rows"]
    best_score = max(rows, key=lambda row: row["classifier_score"])
    best_distance = min(rows, key=lambda row: row["frechet_distance"])
    best_index = max(rows.index(best_score), rows.index(best_distance))
    return dict(
        rows=rows, first=rows[0], last=rows[-1], best_score=best_score, best_distance=best_distance,
        spacing=rows[1]["iteration"] - rows[0]["iteration"] if len(rows) > 1 else None,
        # A plateau is claimed only when both numbers peaked PLATEAU_MILESTONES or more milestones before the end:
        # one or two milestones after a best are within the score's spread between splits.
        later=rows[best_index + 1:] if len(rows) - 1 - best_index >= PLATEAU_MILESTONES else [],
        still_falling=len(rows) > 1 and best_distance is rows[-1],
        # Under 1% at every milestone, where real digits are about 10% each.
        rare_digits=[digit for digit in range(10) if max(row["digit_shares"][digit] for row in rows) < 0.01],
        real=reference_row(curve["references"], "real training images"),
        untrained=reference_row(curve["references"], "untrained generator"))


def card_environment(templates=TEMPLATES):
    """Jinja2 reading ``templates``: a field the card's values do not fill is an error, not a blank."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["formatted"] = format   # {{ value|formatted(",.1f") }}: Python's format specifications
    return environment


def render_model_card(folder=None, templates=TEMPLATES):
    """MODEL_CARD.md's text, every number read from the files in ``folder`` (default: ``pretrained/``), the words
    from ``templates``'s ``CARD_TEMPLATE``.

    Needs run.json, publish.json and evaluation.json; the curve, sample and GIF sections appear when
    quality_curve.json, samples.png and training.gif exist.
    """
    folder = pathlib.Path(pretrained_dir() if folder is None else folder)

    def load(name):
        return json.loads((folder / name).read_text())

    state, info, evaluation = RunState.read(folder), load(PUBLISH_INFO), load("evaluation.json")
    recipe = run_recipe(state)
    shown = info.get("out", TUTORIAL_MODEL.out)   # publish.json files older than its "out" are pretrained/'s
    model = bundled_model(info["run"], shown, info["tensorboard"]["path"])
    extra_flags = model.train_flags if model else ()
    started = dataclasses.replace(state, iterations=info["target_iterations"])   # the exported state's is the step's
    curve = load("quality_curve.json") if (folder / "quality_curve.json").exists() else None
    rows = list(evaluation["rows"].items())   # the checkpoint's own row first, then the reference rows
    return card_environment(templates).get_template(CARD_TEMPLATE).render(
        recipe=recipe, recipe_name=None if recipe == TUTORIAL else published_recipe_name(recipe),
        recipe_notes=recipe.card_notes(), replaced_networks=replaced_networks(recipe), state=state,
        target=info["target_iterations"], info=info, shown=shown,
        command=train_command(info["run"], started, extra_flags),
        resume=resume_command(info["run"], info["target_iterations"], extra_flags),
        republish=publish_command(info["run"], shown, info["tensorboard"]["path"]),
        wall_time=duration(state.elapsed_seconds),
        ms_per_iteration=state.elapsed_seconds / max(state.iterations, 1) * 1000,
        evaluation=evaluation, rows=rows, targets=metrics.quality_targets(rows[0][1], dict(rows[1:])),
        curve=curve, curve_summary=curve and curve_summary(curve),
        samples=(folder / "samples.png").exists(), animation=(folder / "training.gif").exists(),
        batch_size=recipe.batch_size, z_dim=hparams.Z_DIM, summary_every=hparams.SUMMARY_EVERY,
        splits=metrics.SPLITS, features=evaluate.FEATURES, confident=metrics.CONFIDENT)


def write_model_card(folder):
    """Render ``folder``'s MODEL_CARD.md again and write it whole (``atomic_output``); returns its path."""
    path = pathlib.Path(folder) / MODEL_CARD
    text = render_model_card(folder)
    with atomic_output(path) as file:
        file.write(text.encode())
    return path
