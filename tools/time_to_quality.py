"""Time to quality: minutes of this machine each bundled model's recipe needs to reach its quality.

    python tools/time_to_quality.py            (or: make time-to-quality; --help for the settings)

The quality comes from each model's quality curve (``pretrained/quality_curve.json``,
``pretrained/improved/quality_curve.json``, ...: the classifier score at every milestone of the run
that trained it), and from the record of the improved model bundled before the wide one,
``docs/earlier-improved-model/`` (the conditional recipe is its recipe without the batch spread,
told the digit); the time from each recipe's pace measured alone, the project's one table of it,
docs/ablation/timings.json (``make timings``, ``tools/ablation.py``'s ``time_rows``). The runs behind
the curves trained for hours, each while other work shared the machine, and the tutorial's ran on a
faster CPU, so their own clocks cannot be compared; this command times nothing itself. A recipe the
table lacks is an error naming the command that times it.

For each model: the first milestone whose classifier score reaches ``--score`` (9 by default) and
the minutes to get there at its recipe's pace (its seconds before the first iteration, then its
seconds per iteration); a model that never reaches it gets its best milestone instead. Writes
``docs/time_to_quality.json`` and prints a Markdown table (README's "Time to quality").
"""
import argparse
import datetime
import json
import os
import pathlib
import sys

if not __package__:
    # Run as a script (make time-to-quality): the checkout's root first on the path, so that tools/ imports as a
    # package.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from ezgan.tfsetup import tensorflow  # noqa: E402

tensorflow()   # quietly, before ezgan.lab.recipes imports it

from ezgan.errors import EzganError  # noqa: E402
from ezgan.cli import DefaultsHelpFormatter  # noqa: E402
from ezgan.paths import REPO  # noqa: E402
from ezgan.lab.recipes import recipe_name, run_recipe  # noqa: E402
from ezgan.runs.outputs import write_json  # noqa: E402
from ezgan.runs.state import RunState  # noqa: E402
from tools.ablation import DEFAULT_TIMINGS, minutes_alone, read_timings  # noqa: E402

MODELS = ("pretrained", "docs/earlier-improved-model", "pretrained/improved", "pretrained/conditional")
DEFAULT_OUT = REPO / "docs" / "time_to_quality.json"


def milestone_reaching(rows, score):
    """(the first row whose classifier score reaches ``score``, True), else (the best row, False)."""
    for row in rows:
        if row["classifier_score"] >= score:
            return row, True
    return max(rows, key=lambda row: row["classifier_score"]), False


def model_recipe(folder):
    """The name of the recipe that trained the model in ``folder`` (a path relative to the checkout)."""
    return recipe_name(run_recipe(RunState.read(REPO / folder)))


def model_row(folder, score, timing):
    """What one model's curve and its recipe's pace alone (a row of the timings table) say: the milestone and the
    minutes to it."""
    curve = json.loads((REPO / folder / "quality_curve.json").read_text())
    row, reached = milestone_reaching(curve["rows"], score)
    return dict(model=folder, recipe=model_recipe(folder), reached=reached,
                iteration=row["iteration"], classifier_score=row["classifier_score"],
                best_score=max(r["classifier_score"] for r in curve["rows"]),
                seconds_per_iteration=timing["seconds_per_iteration"], seconds_before=timing["seconds_before"],
                timed=timing["date"], minutes=minutes_alone(timing, row["iteration"]))


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
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--score", type=float, default=9.0, help="the classifier score to reach")
    parser.add_argument("--timings", default=str(DEFAULT_TIMINGS), help="each recipe's pace measured alone (JSON)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file for the result")
    args = parser.parse_args(argv)
    recipes = {folder: model_recipe(folder) for folder in MODELS}
    try:
        timings = read_timings(list(recipes.values()), args.timings)
    except EzganError as error:
        print(f"time-to-quality: error: {error}", file=sys.stderr)
        return 2
    result = dict(command=f"make time-to-quality (python tools/time_to_quality.py --score {args.score:g})",
                  date=datetime.date.today().isoformat(), score=args.score,
                  pace=f"{os.path.relpath(args.timings, REPO)} (make timings), each recipe's pace measured alone",
                  machine=timings["machine"],
                  models=[model_row(folder, args.score, timings["rows"][name]) for folder, name in recipes.items()])
    out = pathlib.Path(args.out)
    write_json(out, result)
    print(table(result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
