"""Training a recipe: a model for ``ezgan.runs.train``, built from the recipe's graph and steps.

``RecipeModel(recipe)`` is what the run engine trains: ``build`` makes ``build_recipe_graph``'s
graph, ``steps`` picks what runs each step (the tutorial's loop, ``ezgan.runs.fast``'s step on
the tutorial's graph, the guided controller, the conditional step), ``to_dict`` is what run.json
keeps. ``run_model`` finds the model of a run folder again for ``--resume``.
"""
import dataclasses

from ezgan.lab.conditional import ConditionalSteps, LabelledBatches
from ezgan.lab.graphs import build_recipe_graph
from ezgan.lab.guided import GuidedSteps
from ezgan.lab.recipes import TUTORIAL, Recipe, run_recipe
from ezgan.mnist import read_data_sets
from ezgan.runs import training
from ezgan.runs.fast import FastSteps
from ezgan.runs.state import RunState
from ezgan.train import TutorialSteps


@dataclasses.dataclass(frozen=True)
class RecipeModel:
    """``recipe`` as a model of ``ezgan.runs.train``. ``literal``: the tutorial's own loop, not the fast step."""
    recipe: Recipe = TUTORIAL
    literal: bool = False

    def build(self, seed):
        return build_recipe_graph(self.recipe, seed)

    def steps(self, gan, data):
        if self.recipe.conditional:
            return ConditionalSteps(gan, data)
        if self.recipe.guided:
            return GuidedSteps(gan)
        return FastSteps(gan) if self.recipe.tutorial_graph and not self.literal else TutorialSteps(gan)

    def data(self, seed):
        """The training data; a conditional model's steps read the digits of each batch too."""
        data = read_data_sets(seed=seed).train
        return LabelledBatches(data) if self.recipe.conditional else data

    def to_dict(self):
        return None if self.recipe == TUTORIAL else self.recipe.to_dict()


def run_model(directory, literal=False):
    """The model of the run in ``directory``: its run.json's recipe."""
    return RecipeModel(run_recipe(RunState.load(directory)), literal)


def train(recipe=TUTORIAL, literal=False, **options):
    """Train ``recipe`` with ``ezgan.runs.train`` (its options); ``resume=True`` goes on with the run's own recipe."""
    if options.get("resume"):
        model = run_model(options.get("checkpoint_dir", "checkpoints"), literal)
    else:
        model = RecipeModel(recipe, literal)
    return training.train(model=model, **options)
