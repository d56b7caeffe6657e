"""Is training bit-for-bit repeatable? The same recipe and seed, trained under several thread settings, compared.

    python tools/determinism.py          (or: make determinism; --help for the settings)

Each setting trains ``ezgan train --recipe R --seed 0 --iterations N`` in a fresh process, and the
first setting trains twice. Every run's model checkpoint is compared with the first run's, variable
by variable: the same bytes, or the largest difference. A difference after N iterations does not
stay small: a GAN's training amplifies it, so two such runs end at different scores.

The settings: TensorFlow's two thread pools (``--threads``, 0 for TensorFlow's own choice) and
oneDNN, TensorFlow's library of CPU kernels (``TF_ENABLE_ONEDNN_OPTS``), whose kernels depend on
the CPU's instruction set. Writes a Markdown table (``--out``, default docs/determinism.md).
"""
import argparse
import datetime
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

if not __package__:
    # Run as a script: the checkout's root first on the path, so that tools/ imports as a package.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from ezgan.tfsetup import tensorflow

tf = tensorflow()

from ezgan.cli import DefaultsHelpFormatter  # noqa: E402
from ezgan.paths import REPO  # noqa: E402
from ezgan.runs.checkpoints import resolve_checkpoint  # noqa: E402
from ezgan.runs.outputs import atomic_output  # noqa: E402
from tools.machine import cpu_name  # noqa: E402

DEFAULT_OUT = REPO / "docs" / "determinism.md"
# (name, TF threads, environment, more ezgan train flags, the earlier setting it should repeat exactly, if any).
SETTINGS = [
    ("one thread", 1, {}, [], None),
    ("one thread, again", 1, {}, [], "one thread"),
    ("one thread, beside another run", 1, {}, [], "one thread"),
    # Saving a milestone every 10 iterations, and a run twice as long stopped at the same step: neither may change
    # what training computes (the 1,000-iteration ablation saved every 100, the longer runs every 500 or 1,000).
    ("one thread, a milestone every 10 iterations", 1, {}, ["--milestone-every", "10"], "one thread"),
    ("two threads", 2, {}, [], None),
    ("two threads, again", 2, {}, [], "two threads"),
    ("TensorFlow's own thread count", 0, {}, [], None),
    ("one thread, oneDNN off", 1, {"TF_ENABLE_ONEDNN_OPTS": "0"}, [], None),
    ("one thread, oneDNN off, again", 1, {"TF_ENABLE_ONEDNN_OPTS": "0"}, [], "one thread, oneDNN off"),
]


def train_command(recipe, iterations, threads, folder, setting_flags=()):
    """``recipe``: a recipe's name, with more ``ezgan train`` flags after it if need be ("tutorial --literal");
    ``setting_flags`` replace the defaults they name (a milestone and a checkpoint at the last iteration only)."""
    name, *flags = recipe.split()
    defaults = {"--checkpoint-every": str(iterations), "--milestone-every": str(iterations)}
    defaults.update(zip(setting_flags[::2], setting_flags[1::2]))
    return [sys.executable, "-m", "ezgan", "train", "--recipe", name, *flags, "--seed", "0", "--iterations",
            str(iterations), "--threads", str(threads), "--checkpoint-dir", str(folder), "--logdir", str(folder / "tb"),
            *(item for pair in defaults.items() for item in pair)]


def start(recipe, iterations, threads, extra_env, setting_flags, folder):
    environment = {**os.environ, **extra_env}
    if threads:
        environment["OMP_NUM_THREADS"] = str(threads)
    return subprocess.Popen(train_command(recipe, iterations, threads, folder, setting_flags), env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(process):
    _, errors = process.communicate()
    if process.returncode:
        raise SystemExit(f"determinism: a training run failed:\n{errors}")


def model_weights(folder):
    """The run's last model checkpoint (its step counts pre-training too), variable by variable."""
    reader = tf.train.load_checkpoint(resolve_checkpoint(folder))
    return {name: reader.get_tensor(name) for name in sorted(reader.get_variable_to_shape_map())}


def largest_difference(weights, reference):
    """0.0 when every variable has the same bytes, else the largest absolute difference of any weight."""
    if weights.keys() != reference.keys():
        raise SystemExit("determinism: the runs saved different variables")
    return max(float(np.max(np.abs(weights[name].astype(np.float64) - reference[name]))) for name in weights)


def compare(recipe, iterations, root):
    """[(setting, largest difference from the first setting's run, from the run it should repeat or None)]."""
    runs = {}
    for index, (name, threads, extra_env, flags, _) in enumerate(SETTINGS):
        folder = root / f"{recipe.replace(' ', '')}-{index}"
        if name.endswith("beside another run"):
            # A second, identical run at the same time: the ablation's way of training (tools/ablation.py).
            neighbour = start(recipe, iterations, threads, extra_env, flags,
                              folder.with_name(f"{folder.name}-neighbour"))
            process = start(recipe, iterations, threads, extra_env, flags, folder)
            finish(neighbour)
        else:
            process = start(recipe, iterations, threads, extra_env, flags, folder)
        finish(process)
        runs[name] = model_weights(folder)
    reference = runs[SETTINGS[0][0]]
    rows = [(name, largest_difference(runs[name], reference),
             None if repeats is None else largest_difference(runs[name], runs[repeats]))
            for name, _, _, _, repeats in SETTINGS[1:]]
    for name, difference, repeated in rows:
        print(f"  {recipe}, {name}: {difference:.3g} from one thread"
              + ("" if repeated is None else f", {repeated:.3g} from its first run"), flush=True)
    return rows


def described(difference):
    return "" if difference is None else "0 (identical)" if difference == 0 else f"{difference:.2e}"


def report(results, iterations, command):
    lines = ["# Is training bit-for-bit repeatable?", "",
             f"Made by `{command}` ({datetime.date.today().isoformat()}, {cpu_name()}, {os.cpu_count()} cores, "
             f"TensorFlow {tf.__version__}). Each row trained `ezgan train --recipe R --seed 0 --iterations "
             f"{iterations}` in a fresh process and is compared with the first run of the recipe (one thread: "
             "`--threads 1`, OMP_NUM_THREADS=1): the largest difference of any weight of the model checkpoint, "
             "0 when every byte is the same.", "",
             "| recipe | setting | largest weight difference from the one-thread run | from the run it repeats |",
             "| --- | --- | ---: | ---: |"]
    for recipe, rows in results.items():
        for name, difference, repeated in rows:
            lines.append(f"| {recipe} | {name} | {described(difference)} | {described(repeated)} |")
    rows = [row for recipe_rows in results.values() for row in recipe_rows]
    repeats = [repeated for _, _, repeated in rows if repeated is not None]
    differing = sorted({name for name, difference, repeated in rows if repeated is None and difference != 0})
    lines += ["", f"Of {len(repeats)} repeated runs, {sum(r == 0 for r in repeats)} gave the same bytes as the run "
                  f"they repeat. Settings that changed the result from the one-thread run's: "
                  f"{', '.join(differing) or 'none'}.", "",
              "All of these ran on one machine, one after another, from one checkout. A number measured on another "
              "machine, with another thread count or at another commit need not repeat here: oneDNN chooses its "
              "kernels by the CPU's instruction set, so another CPU rounds differently, and a GAN's training "
              "amplifies the difference. `docs/recipe_search.md` describes one such case."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--recipes",
                        default="tutorial,tutorial --literal,guided,dcgan+beta1+ema,dcgan-recipe+ema+spread,wide-r1",
                        help="comma-separated recipes of ezgan.lab.recipes.RECIPES, each maybe with more ezgan train "
                             "flags (tutorial --literal: the tutorial's own loop, not the fast step)")
    parser.add_argument("--iterations", type=int, default=100, help="iterations of each run")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="Markdown file for the table")
    args = parser.parse_args(argv)
    command = f"python tools/determinism.py --recipes '{args.recipes}' --iterations {args.iterations}"
    results = {}
    with tempfile.TemporaryDirectory() as root:
        for recipe in args.recipes.split(","):
            results[recipe] = compare(recipe, args.iterations, pathlib.Path(root))
    text = report(results, args.iterations, command)
    with atomic_output(args.out) as file:
        file.write(text.encode())
    print(text, end="")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
