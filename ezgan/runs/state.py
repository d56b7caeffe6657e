"""run.json: what a training run needs besides its variables, read and written only here (``RunState``).

It sits in the run's folder beside its checkpoints and is written after each complete checkpoint,
so its step is always that of a complete one. An exported model's folder carries a copy without
the training state (no TensorBoard folder): the step, seed, schedule and recipe travel with it.
Milestones (``milestones/model.ckpt-STEP``) are described by the run.json one folder up.
"""
import dataclasses
import json
import pathlib

from ezgan.errors import CheckpointError
from ezgan.runs.outputs import write_json

RUN_STATE = "run.json"
MILESTONES = "milestones"


@dataclasses.dataclass
class RunState:
    """What a run needs to be resumed besides its variables; saved next to every checkpoint."""
    seed: int
    pretrain_steps: int
    iterations: int
    logdir: str = None            # None: an exported model's copy, not a run (it cannot be resumed)
    elapsed_seconds: float = 0.0
    step: int = 0
    recipe: dict = None           # ezgan.lab's Recipe.to_dict() of a run beyond the tutorial; absent for the tutorial's

    @property
    def total_steps(self):
        return self.pretrain_steps + self.iterations

    @property
    def is_run(self):
        """True for a training run's state, False for an exported model's copy."""
        return self.logdir is not None

    def save(self, directory):
        state = {key: value for key, value in dataclasses.asdict(self).items()
                 if value is not None or key not in ("recipe", "logdir")}
        write_json(pathlib.Path(directory) / RUN_STATE, state)

    @classmethod
    def read(cls, directory):
        """``directory``'s run.json; a missing, damaged or empty one is a one-line ``CheckpointError`` naming it."""
        path = pathlib.Path(directory) / RUN_STATE
        try:
            state = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no run here") from None
        except ValueError as error:   # not JSON, or not UTF-8
            raise CheckpointError(f"{path}: damaged or incomplete run state "
                                  f"({'empty file' if not path.stat().st_size else error})") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: damaged or incomplete run state (not a JSON object)")
        fields = {field.name for field in dataclasses.fields(cls)}
        required = {field.name for field in dataclasses.fields(cls) if field.default is dataclasses.MISSING}
        problems = [f"{what} {', '.join(sorted(names))}" for what, names in
                    (("missing", required - set(state)), ("unknown", set(state) - fields)) if names]
        if problems:
            raise CheckpointError(f"{path}: damaged or incomplete run state ({'; '.join(problems)})")
        return cls(**state)

    @classmethod
    def load(cls, directory):
        """The state of the run in ``directory``, to resume it: refused for a folder without one, or an export."""
        if not (pathlib.Path(directory) / RUN_STATE).exists():
            raise CheckpointError(f"{pathlib.Path(directory) / RUN_STATE}: no run to resume here "
                                  f"(start one without --resume)")
        state = cls.read(directory)
        if not state.is_run:
            # An exported model's copy: no logdir (``exported``), nothing to resume.
            raise CheckpointError(f"{pathlib.Path(directory) / RUN_STATE}: not a training run's state (missing logdir)")
        return state

    @classmethod
    def of_checkpoint(cls, prefix):
        """The state of the run checkpoint ``prefix`` belongs to (None if its folder has no run.json)."""
        folder = run_folder(prefix)
        return cls.read(folder) if (folder / RUN_STATE).exists() else None

    def exported(self, step):
        """The copy an exported model of step ``step`` carries: no training state."""
        return dataclasses.replace(self, step=step, iterations=step - self.pretrain_steps, logdir=None)


def run_folder(prefix):
    """The folder whose run.json describes checkpoint ``prefix``: its own, or for a milestone the run's above it."""
    folder = pathlib.Path(prefix).parent
    return folder.parent if folder.name == MILESTONES else folder
