"""Time to quality: minutes of this machine each bundled model's recipe needs to reach its quality.

    python tools/time_to_quality.py            (or: make time-to-quality; --help for the settings)

The quality comes from each model's quality curve (``pretrained/quality_curve.json``,
``pretrained/improved/quality_curve.json``: the classifier score at every milestone of the run that
trained it); the time from this machine, now. The runs behind the curves trained for hours, each
while other work shared the machine, and the tutorial's ran on a faster CPU, so their own clocks
cannot be compared. Here each recipe trains ``--iterations`` iterations from scratch, one after the
other on the whole machine, with a milestone half-way: the seconds between the two milestones,
per iteration, and the seconds before the first one, less its iterations (start-up and
pre-training), price the iterations each curve needed.

For each model: the first milestone whose classifier score reaches ``--score`` (9 by default) and
the minutes to get there; a model that never reaches it gets its best milestone instead. Writes
``docs/time_to_quality.json`` and prints a Markdown table (README's "Time to quality").
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

from ezgan.tfsetup import tensorflow

tensorflow()   # quietly, before ezgan.lab.recipes imports it

from ezgan.paths import REPO  # noqa: E402
from ezgan.lab.recipes import TUTORIAL, recipe_name, run_recipe  # noqa: E402
from ezgan.runs.outputs import write_json  # noqa: E402
from ezgan.runs.state import RunState  # noqa: E402

MODELS = ("pretrained", "pretrained/improved", "pretrained/conditional")
DEFAULT_OUT = REPO / "docs" / "time_to_quality.json"


def milestone_reaching(rows, score):
    """(the first row whose classifier score reaches ``score``, True), else (the best row, False)."""
    for row in rows:
        if row["classifier_score"] >= score:
            return row, True
    return max(rows, key=lambda row: row["classifier_score"]), False


def pace(times, iterations):
    """(seconds per iteration, seconds before the iterations) from a timing run's milestones/times.json.

    ``times`` maps the global step of each of its two milestones (half-way, end) to the run's clock.
    """
    (half_step, half), (end_step, end) = sorted((int(step), seconds) for step, seconds in times.items())
    per_iteration = (end - half) / (end_step - half_step)
    return per_iteration, half - per_iteration * iterations / 2


def time_recipe(recipe, iterations, seed=0):
    """(seconds per iteration, seconds of start-up and pre-training) of ``recipe`` trained here, in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        named = [] if recipe == TUTORIAL else ["--recipe", recipe_name(recipe)]
        command = [sys.executable, "-m", "ezgan", "train", *named, "--seed", str(seed), "--iterations", str(iterations),
                   "--milestone-every", str(iterations // 2), "--checkpoint-every", str(iterations // 2),
                   "--checkpoint-dir", f"{folder}/run", "--logdir", f"{folder}/tensorboard"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times = json.loads(pathlib.Path(folder, "run", "milestones", "times.json").read_text())
    return pace(times, iterations)


def model_row(folder, score, seconds_per_iteration, seconds_before):
    """What one model's curve and this machine's pace say: the milestone and the minutes to it."""
    folder = REPO / folder
    recipe = run_recipe(RunState.read(folder))
    curve = json.loads((folder / "quality_curve.json").read_text())
    row, reached = milestone_reaching(curve["rows"], score)
    return dict(model=str(folder.relative_to(REPO)), recipe=recipe_name(recipe), reached=reached,
                iteration=row["iteration"], classifier_score=row["classifier_score"],
                best_score=max(r["classifier_score"] for r in curve["rows"]),
                seconds_per_iteration=seconds_per_iteration, seconds_before=seconds_before,
                minutes=(seconds_before + row["iteration"] * seconds_per_iteration) / 60)


def table(result):
    lines = ["| model | recipe | milestone | classifier score | seconds per iteration | minutes on this machine |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for row in result["models"]:
        what = (f"first ≥ {result['score']:g}: iteration {row['iteration']:,}" if row["reached"]
                else f"best (never {result['score']:g}): iteration {row['iteration']:,}")
        lines.append(f"| `{row['model']}` | {row['recipe']} | {what} | {row['classifier_score']:.2f} | "
                     f"{row['seconds_per_iteration']:.3f} | {row['minutes']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--score", type=float, default=9.0, help="the classifier score to reach")
    parser.add_argument("--iterations", type=int, default=200,
                        help="iterations of each timing run (an even number; a milestone half-way)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file for the result")
    args = parser.parse_args(argv)
    if args.iterations < 2 or args.iterations % 2:
        parser.error(f"--iterations must be an even number of at least 2, got {args.iterations}")
    models = []
    for folder in MODELS:
        recipe = run_recipe(RunState.read(REPO / folder))
        print(f"timing {args.iterations} iterations of the {recipe_name(recipe)} recipe ...", flush=True)
        models.append(model_row(folder, args.score, *time_recipe(recipe, args.iterations)))
    result = dict(command=f"make time-to-quality (python tools/time_to_quality.py --score {args.score:g} "
                          f"--iterations {args.iterations})",
                  date=datetime.date.today().isoformat(),
                  machine=f"{platform.machine()}, {os.cpu_count()} cores", score=args.score,
                  iterations=args.iterations, models=models)
    out = pathlib.Path(args.out)
    write_json(out, result)
    print(table(result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
