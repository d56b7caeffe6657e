"""The ablation of issue #12: each recipe beyond the tutorial alone, and combined, from the same seeds.

    make ablation ITERATIONS=10000 SEEDS=3          (or: python tools/ablation.py --iterations 10000 --seeds 3)
    python tools/ablation.py --iterations 10000 --dry-run           the plan: every run, its state, its command
    python tools/ablation.py --iterations 10000 --rows tutorial,dcgan   only these rows (ezgan.lab.recipes.RECIPES)
    python tools/ablation.py --iterations 1000 --rows spread --add-rows   a new row (or seed) joins the CSV's others
    make timings                    (or: python tools/ablation.py --time-only)   time the rows the pace table lacks

1. ``train_all``: every (row, seed) is ``ezgan train --recipe ROW --seed S --iterations N`` with a
   milestone every N/10 iterations, in RUNS/ROW-sS (RUNS: ~/.cache/ezgan/ablation/N-iterations by
   default), two processes at once, each on one TensorFlow thread: on this 2-core machine two
   one-thread copies train more iterations per second between them than one run on both cores
   (docs/performance.md: 47.9 against 53.6 ms per iteration). The tutorial row trains with
   ``ezgan.runs.fast``'s step, every other row runs its ops as the tutorial's ``--literal`` loop does.
   A finished run is skipped, an unfinished one resumed (``--resume``): stop and start at will;
2. ``score_runs``: every milestone of every run is scored by ``ezgan.lab.evaluate.Evaluator`` (n
   digits from noise seed 0, the same noise for every checkpoint), the scores cached beside the
   run (scores-nN-seedS.json); the wall time of each milestone is the run's own training time
   (``milestones/times.json``, written by ``ezgan train``), kept in the CSV but not compared: the
   runs shared the machine with each other and with whatever else ran; beside them, each loss's
   median since the previous milestone, from the run's TensorBoard events (``loss_medians``);
3. ``time_rows``: each row's pace measured alone, one short run after the other on the idle
   machine (``time_recipe``: seconds per iteration, and seconds of start-up and pre-training),
   kept in docs/ablation/timings.json for every budget (``--timings``; ``--retime`` measures the
   rows given again). This is the project's one table of each recipe's pace alone: a row's minutes
   to an iteration are priced from it, so they compare recipes, not machine load, and
   ``tools/time_to_quality.py`` reads it (``read_timings``) rather than timing anything itself.
   ``make timings`` (``--time-only``, every named recipe by default) times the rows it lacks;
4. ``write_csv``, ``plot_ablation``, ``write_summary``: OUT/ablation.csv (one line per milestone),
   OUT/ablation.png (quality against iterations and against minutes alone: the mean over seeds,
   the band from the lowest to the highest seed) and OUT/summary.md (each row's final mean ± std
   over seeds and each seed's score, its minutes alone, the command and budget that made it). OUT:
   docs/ablation (docs/ablation/5000-iterations for the longer rows).
"""
import argparse
import csv
import dataclasses
import datetime
import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import time

if not __package__:
    # Run as a script (make ablation): the checkout's root first on the path, so that tools/ imports as a package.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from ezgan.tfsetup import tensorflow

tf = tensorflow()

import numpy as np  # noqa: E402

from ezgan.runs.checkpoints import MILESTONE_TIMES, milestone_checkpoints  # noqa: E402
from ezgan.runs.outputs import write_json  # noqa: E402
from ezgan.runs.state import MILESTONES, RUN_STATE, RunState  # noqa: E402
from ezgan.errors import CheckpointError, EzganError  # noqa: E402
from ezgan.cli import DefaultsHelpFormatter  # noqa: E402
from ezgan.lab.metrics import METRICS  # noqa: E402
from tools.machine import cpu_name  # noqa: E402
from ezgan.paths import REPO  # noqa: E402
from ezgan.lab.recipes import RECIPES, TUTORIAL, recipe_name  # noqa: E402

DEFAULT_RUNS = pathlib.Path("~/.cache/ezgan/ablation")
DEFAULT_OUT = REPO / "docs" / "ablation"
MILESTONES_PER_RUN = 10
SHOWN = (("classifier_score", "classifier score (10 at most)", "linear"),
         ("frechet_distance", "Fréchet distance to the test set", "log"),
         ("digit_kl", "KL(digit shares || uniform)", "linear"))
# Each loss's median over the logged steps since the previous milestone (the run's TensorBoard scalars, the names of
# ezgan.lab.logits.LOSS_TAGS): whether D won a run (G's loss high, D's near 0) is in the CSV beside its scores.
LOSSES = ("g_loss", "d_loss_real", "d_loss_fake")
CSV_COLUMNS = ["row", "seed", "iteration", "step", "wall_seconds", *METRICS, *(f"share_{d}" for d in range(10)),
               *LOSSES]
DEFAULT_TIMINGS = DEFAULT_OUT / "timings.json"
TIMING_ITERATIONS = 200
TIMINGS_COMMAND = "make timings (python tools/ablation.py --time-only [--rows ROWS] [--retime])"
TIMING_CLOCK = (f"seconds_per_iteration: `ezgan train --recipe ROW` for {TIMING_ITERATIONS} iterations from scratch, "
                "one run at a time on the otherwise idle machine (TensorFlow's own thread count), by the run's own "
                "clock (milestones/times.json) between its half-way and last milestones, summaries and the half-way "
                "checkpoint included; seconds_before: that clock at the half-way milestone less its iterations at "
                "that pace (start-up and pre-training), at least 0")
ONE_THREAD = dict(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")


# 1. Training ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    """One training run of the ablation: a row (a named recipe) and a seed."""
    row: str
    seed: int
    iterations: int
    directory: pathlib.Path

    @property
    def name(self):
        return f"{self.row}-s{self.seed}"

    @property
    def milestone_every(self):
        return self.iterations // MILESTONES_PER_RUN

    def state(self):
        """"done", "resume" (it has a checkpoint but not all its iterations) or "new"."""
        if not (self.directory / RUN_STATE).exists():
            return "new"
        state = RunState.read(self.directory)
        return "done" if state.step - state.pretrain_steps >= self.iterations else "resume"

    def arguments(self, threads=1):
        """``ezgan train``'s arguments for this run (with --resume if it has a checkpoint to go on from)."""
        every = str(self.milestone_every)
        return ["train", "--recipe", self.row, "--seed", str(self.seed), "--iterations", str(self.iterations),
                "--checkpoint-dir", str(self.directory), "--logdir", str(self.directory / "tensorboard"),
                "--milestone-every", every, "--checkpoint-every", str(min(1000, self.milestone_every)),
                "--threads", str(threads), *(["--resume"] if self.state() == "resume" else [])]

    def command(self, threads=1):
        return [sys.executable, "-m", "ezgan", *self.arguments(threads)]


def check_rows(rows):
    """EzganError unless ``rows`` are one or more names of ``RECIPES``."""
    if not rows:
        raise EzganError("no rows given")
    unknown = [row for row in rows if row not in RECIPES]
    if unknown:
        raise EzganError(f"no recipe named {', '.join(unknown)}; the rows are {', '.join(RECIPES)}")


def plan(rows, seeds, iterations, runs_dir):
    """Every run, seed by seed (so that a stopped ablation has every row for its first seeds)."""
    check_rows(rows)
    if iterations < MILESTONES_PER_RUN or iterations % MILESTONES_PER_RUN:
        raise EzganError(f"--iterations must be a positive multiple of {MILESTONES_PER_RUN} (a milestone every tenth), "
                         f"got {iterations}")
    runs_dir = pathlib.Path(runs_dir).expanduser()
    return [Run(row, seed, iterations, runs_dir / f"{row}-s{seed}") for seed in seeds for row in rows]


def runs_folder(root, iterations):
    """Each budget in its own folder: a run's milestones are every tenth of its budget."""
    return pathlib.Path(root).expanduser() / f"{iterations}-iterations"


def describe_plan(runs, parallel, threads, n, eval_seed, out):
    first = runs[0]
    lines = [f"ablation: {len({r.row for r in runs})} rows x {len({r.seed for r in runs})} seeds = {len(runs)} runs "
             f"of {first.iterations:,} iterations, a milestone every {first.milestone_every:,}; {parallel} at a time "
             f"on {threads} thread{'s' * (threads != 1)} each, in {first.directory.parent}"]
    for run in runs:
        lines.append(f"  {run.state():<6}  {run.name:<22} ezgan {shlex.join(run.arguments(threads))}")
    lines.append(f"then: every milestone scored on {n:,} digits (noise seed {eval_seed}); "
                 f"{out}/ablation.csv, ablation.png and summary.md written")
    return "\n".join(lines)


def train_all(runs, parallel=2, threads=1, poll_seconds=2.0, echo=print):
    """Train every run not done yet, ``parallel`` processes at once; returns the runs that failed.

    Each process writes its output to RUN/train.log and runs on ``threads`` TensorFlow threads
    (``ezgan train --threads``; the TF_NUM_*_THREADS variables are set too). Ctrl-C stops the
    running processes (they resume next time) and raises KeyboardInterrupt.
    """
    pending = [run for run in runs if run.state() != "done"]
    running, failed = {}, []
    environment = {**os.environ, **({key: str(threads) for key in ONE_THREAD} if threads else {})}
    try:
        while pending or running:
            while pending and len(running) < parallel:
                run = pending.pop(0)
                run.directory.mkdir(parents=True, exist_ok=True)
                log = open(run.directory / "train.log", "a")
                command = run.command(threads)
                log.write(f"\n$ {shlex.join(command)}\n")
                log.flush()
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
                running[process] = (run, log, time.monotonic())
                echo(f"{time.strftime('%H:%M:%S')} started  {run.name} ({'resumed' if '--resume' in command else 'new'})")
            time.sleep(poll_seconds)
            for process in [process for process in running if process.poll() is not None]:
                run, log, started = running.pop(process)
                log.close()
                minutes = (time.monotonic() - started) / 60
                if process.returncode:
                    failed.append(run)
                    echo(f"{time.strftime('%H:%M:%S')} FAILED   {run.name} (exit {process.returncode}); "
                         f"see {run.directory / 'train.log'}")
                else:
                    echo(f"{time.strftime('%H:%M:%S')} finished {run.name} in {minutes:.1f} min")
    except KeyboardInterrupt:
        for process, (run, log, _) in running.items():
            process.terminate()
            process.wait()
            log.close()
        raise
    return failed


# 2. Scores -----------------------------------------------------------------------------------------------

def loss_medians(logdir, steps):
    """{step: {loss: median}} for each of ``steps`` (milestones' global steps): each of LOSSES over the logged steps
    after the previous milestone, up to this one ({} for a step with none, or a run without events)."""
    from ezgan.lab.logits import logged_losses

    if not any(pathlib.Path(logdir).glob("*tfevents*")):
        return {}
    logged = logged_losses(logdir)   # a step logged again after a resume counts once, with its last value
    medians, previous = {}, -1
    for step in sorted(steps):
        window = (logged["step"] > previous) & (logged["step"] <= step)
        if window.any():
            medians[step] = {name: float(np.median(logged[name][window])) for name in LOSSES}
        previous = step
    return medians


def run_scores(run, evaluator, n, seed, echo=print):
    """One line per milestone of ``run`` (up to its budget): row, seed, iteration, step, wall_seconds and the metrics."""
    from ezgan.lab.checkpoints import sample

    try:
        milestones = milestone_checkpoints(run.directory / MILESTONES)
    except CheckpointError:
        return []
    pretrain_steps = RunState.read(run.directory).pretrain_steps
    times_file = run.directory / MILESTONES / MILESTONE_TIMES
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    cache_file = run.directory / f"scores-n{n}-seed{seed}.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    if cache.get("classifier") != evaluator.classifier.checkpoint:
        cache = dict(classifier=evaluator.classifier.checkpoint, scores={})
    losses = loss_medians(run.directory / "tensorboard", [step for step, _ in milestones])
    lines = []
    for step, prefix in milestones:
        iteration = step - pretrain_steps
        if iteration > run.iterations:
            continue
        if str(step) not in cache["scores"]:
            cache["scores"][str(step)] = evaluator.evaluate(sample(n, seed, prefix))
            write_json(cache_file, cache)
            echo(f"scored {run.name} at iteration {iteration:,}")
        lines.append(dict(row=run.row, seed=run.seed, iteration=iteration, step=step,
                          wall_seconds=times.get(str(step)), **cache["scores"][str(step)], **losses.get(step, {})))
    return lines


def score_runs(runs, n=2000, seed=0, classifier=None, echo=print):
    """(lines of every run's milestones, reference rows {name: row}, classifier info) from one Evaluator."""
    from ezgan.lab.evaluate import Evaluator

    evaluator = Evaluator(classifier)
    try:
        references = evaluator.reference_rows(n, seed)
        lines = [line for run in runs for line in run_scores(run, evaluator, n, seed, echo)]
        classifier_info = dict(checkpoint=evaluator.classifier.checkpoint,
                               test_accuracy=evaluator.classifier.info.get("test_accuracy"))
    finally:
        evaluator.close()
    return lines, references, classifier_info


# 3. Each row's pace, alone ------------------------------------------------------------------------------------

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


def read_table(path):
    """The timings file ``path``, whole (its command, clock, machine and rows); no rows before there is one."""
    path = pathlib.Path(path)
    return json.loads(path.read_text()) if path.exists() else dict(rows={})


def rows_to_time(rows, timings, retime=False):
    """The rows of ``rows`` that ``time_rows`` times: those ``timings`` (a table's rows) lacks, all with ``retime``."""
    return [row for row in rows if retime or row not in timings]


def time_rows(rows, path, iterations=TIMING_ITERATIONS, retime=False, echo=print):
    """{row: {seconds_per_iteration, seconds_before, date}} of the timings file ``path``, after timing
    ``rows_to_time`` one after the other, each in a fresh process on the whole machine; the file is rewritten after
    each, its other rows kept."""
    path = pathlib.Path(path)
    timings = read_table(path)["rows"]
    for row in rows_to_time(rows, timings, retime):
        echo(f"timing {row} alone ({iterations} iterations)")
        per_iteration, before = time_recipe(RECIPES[row], iterations)
        timings[row] = dict(seconds_per_iteration=per_iteration, seconds_before=max(before, 0.0),
                            date=datetime.date.today().isoformat())
        write_json(path, dict(command=f"{TIMINGS_COMMAND}; any ablation command also times the rows it scores "
                                      f"that this file lacks", measured=TIMING_CLOCK, machine=machine(),
                              rows=timings))
    return timings


def read_timings(rows, path=DEFAULT_TIMINGS):
    """The timings file, its rows cut to ``rows``, timing nothing; EzganError naming the command that times the rows
    it lacks."""
    table = read_table(path)   # whole: its machine is shown too
    missing = rows_to_time(rows, table["rows"])
    if missing:
        raise EzganError(f"{os.path.relpath(path, REPO)} has no pace measured alone for {', '.join(missing)}: "
                         f"run `make timings` (python tools/ablation.py --time-only --rows "
                         f"{','.join(missing)}), about a minute a row on the otherwise idle machine")
    return dict(table, rows={row: table["rows"][row] for row in rows})


def minutes_alone(timing, iteration):
    """The minutes a run of this pace needs to reach ``iteration`` (start-up and pre-training included)."""
    return (timing["seconds_before"] + iteration * timing["seconds_per_iteration"]) / 60


def machine():
    return f"{cpu_name()}, {os.cpu_count()} cores"


# 4. The CSV, the plot, the summary ---------------------------------------------------------------------------

def write_csv(lines, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_COLUMNS)
        for line in lines:
            wall = line.get("wall_seconds")
            writer.writerow([line["row"], line["seed"], line["iteration"], line["step"],
                             "" if wall is None else f"{wall:.1f}", *(f"{line[name]:.6g}" for name in METRICS),
                             *(f"{share:.4f}" for share in line["digit_shares"]),
                             *("" if line.get(name) is None else f"{line[name]:.4g}" for name in LOSSES)])


def read_csv(path):
    """The lines ``write_csv`` wrote, numbers as numbers: what the plot and the summary are drawn from."""
    lines = []
    with open(path, newline="") as file:
        for record in csv.DictReader(file):
            lines.append(dict(row=record["row"], seed=int(record["seed"]), iteration=int(record["iteration"]),
                              step=int(record["step"]),
                              wall_seconds=float(record["wall_seconds"]) if record["wall_seconds"] else None,
                              **{name: float(record[name]) for name in METRICS},
                              digit_shares=[float(record[f"share_{d}"]) for d in range(10)],
                              **{name: float(record[name]) for name in LOSSES if record.get(name)}))
    return lines


def _number(value):
    return np.nan if value is None else float(value)


def by_row(lines):
    """{row: {iteration: [lines of each seed]}}, rows in order of first appearance."""
    grouped = {}
    for line in lines:
        grouped.setdefault(line["row"], {}).setdefault(line["iteration"], []).append(line)
    return grouped


def plot_ablation(lines, path, references=None, title=None, timings=None):
    """Each metric of SHOWN against iterations (top) and minutes alone (bottom: ``minutes_alone`` of each row's
    ``timings``; a row without one is left out there); mean and min-max over seeds."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(16, 9), layout="constrained")
    axes = figure.subplots(2, len(SHOWN))
    figure.suptitle(title or "ablation")
    for number, (row, iterations) in enumerate(by_row(lines).items()):
        style = dict(color=f"C{number % 10}", linestyle=("-", "--", ":")[number // 10 % 3], marker="o", markersize=3)
        steps = sorted(iterations)
        seeds = max(len(iterations[step]) for step in steps)
        timing = (timings or {}).get(row)
        for column, (metric, _, _) in enumerate(SHOWN):
            values = [np.array([line[metric] for line in iterations[step]]) for step in steps]
            mean = [value.mean() for value in values]
            low, high = [value.min() for value in values], [value.max() for value in values]
            for ax, x in ((axes[0, column], steps),
                          (axes[1, column], timing and [minutes_alone(timing, step) for step in steps])):
                if x is None:
                    continue
                ax.plot(x, mean, label=f"{row} ({seeds} seed{'s' * (seeds != 1)})", **style)
                ax.fill_between(x, low, high, color=style["color"], alpha=0.12, linewidth=0)
    for column, (metric, panel_title, scale) in enumerate(SHOWN):
        for ax, xlabel in ((axes[0, column], "iteration"), (axes[1, column], "minutes, at each row's pace alone")):
            for number, (name, reference) in enumerate((references or {}).items()):
                if "training images" in name and (scale != "log" or reference[metric] > 0):
                    ax.axhline(reference[metric], color="black", linestyle="-.", linewidth=1, label=name)
            ax.set_yscale(scale)
            ax.set_title(panel_title)
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize="small")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)


def final_rows(lines, timings=None):
    """{row: dict(iteration, seeds, mean and std over seeds of each metric, minutes)} at each row's last iteration
    (the budget), from the seeds that reached it. std: the sample standard deviation (ddof 1; 0 for one seed);
    seed_scores: each seed's classifier score, seed 0 first; minutes: ``minutes_alone`` of the row's timing (None
    without one)."""
    finals = {}
    for row, iterations in by_row(lines).items():
        last = max(iterations)
        seeds = iterations[last]
        stats = dict(iteration=last, seeds=len(seeds))
        for metric, _, _ in SHOWN:
            values = np.array([_number(line[metric]) for line in seeds])
            stats[metric] = float(values.mean())
            stats[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        by_seed = sorted(seeds, key=lambda line: int(line["seed"]))
        stats["seed_scores"] = [_number(line["classifier_score"]) for line in by_seed]
        timing = (timings or {}).get(row)
        stats["minutes"] = minutes_alone(timing, last) if timing else None
        finals[row] = stats
    return finals


def summary_table(finals):
    """summary.md's table (a list of Markdown lines) of ``final_rows``: best classifier score first."""
    baseline = finals.get("tutorial", {}).get("classifier_score")
    table = ["| row | recipe | iteration | seeds | classifier score ↑ | each seed's | vs tutorial | "
             "Fréchet distance ↓ | digit KL ↓ | minutes alone |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row, stats in sorted(finals.items(), key=lambda item: -item[1]["classifier_score"]):
        recipe = RECIPES[row].describe() if row in RECIPES else ""
        versus = "" if baseline is None else f"{stats['classifier_score'] - baseline:+.2f}"
        table.append(f"| {row} | {recipe} | {stats['iteration']:,} | {stats['seeds']} | "
                     f"{stats['classifier_score']:.2f} ± {stats['classifier_score_std']:.2f} | "
                     f"{' / '.join(format(score, '.2f') for score in stats['seed_scores'])} | {versus} | "
                     f"{stats['frechet_distance']:.2f} ± {stats['frechet_distance_std']:.2f} | "
                     f"{stats['digit_kl']:.3f} ± {stats['digit_kl_std']:.3f} | "
                     f"{'' if stats['minutes'] is None else format(stats['minutes'], '.1f')} |")
    return table


def write_summary(lines, path, info, references=None, timings=None):
    """OUT/summary.md: a table of each row's final mean ± std, how it was made, and which rows did best."""
    finals = final_rows(lines, timings)
    table = summary_table(finals)
    best = []
    if finals:
        for metric, name, pick in (("frechet_distance", "lowest Fréchet distance", min),
                                   ("classifier_score", "highest classifier score", max)):
            row = pick(finals, key=lambda r: finals[r][metric])
            best.append(f"- {name}: **{row}** ({finals[row][metric]:.2f})")
    last_milestones = {}   # (row, seed): the line of that run's last milestone
    for line in lines:
        key = (line["row"], line["seed"])
        if key not in last_milestones or line["iteration"] > last_milestones[key]["iteration"]:
            last_milestones[key] = line
    short = [f"{row}-s{seed} ({line['iteration']:,})" for (row, seed), line in last_milestones.items()
             if line["iteration"] < info["iterations"]]
    # Each run's own clock at its last milestone: what the runs cost, sharing the machine (not how recipes compare).
    last_clocks = [line["wall_seconds"] for line in last_milestones.values() if line.get("wall_seconds") is not None]
    clock_hours = sum(last_clocks) / 3600
    reference_lines = [f"- {name}: classifier score {r['classifier_score']:.2f}, Fréchet distance "
                       f"{r['frechet_distance']:.2f}, digit KL {r['digit_kl']:.3f}"
                       for name, r in (references or {}).items()]
    text = "\n".join([
        "# Ablation: the recipes beyond the tutorial",
        "",
        f"Made by `{info['command']}` ({info['date']}, {info['machine']}, TensorFlow {info['tensorflow']}).",
        f"Every row trained from seeds {info['seeds']} for {info['iterations']:,} iterations "
        f"(`ezgan train --recipe ROW --seed S --iterations {info['iterations']} --threads {info['threads']}`, "
        f"{info['parallel']} runs at a time), a milestone every {info['iterations'] // MILESTONES_PER_RUN:,} "
        f"iterations, each scored on {info['n']:,} digits from noise seed {info['eval_seed']} by the classifier "
        f"`{info['classifier']}` (test accuracy {info['classifier_accuracy']}).",
        *([f"Short of {info['iterations']:,} iterations when scored (each run's last milestone): {', '.join(short)}; "
           "a row's figures at a milestone are those of the seeds that reached it."] if short else []),
        "",
        "Each row's last milestone, best classifier score first: mean ± sample standard deviation over the seeds "
        "that reached it (\"each seed's\": the classifier score of seed 0, 1, ... in turn); \"vs tutorial\" is the "
        "difference of the mean classifier score from the tutorial row's; "
        f"minutes alone are the minutes this machine needs for the row's iterations, pre-training and start-up "
        f"included, priced from its pace measured alone (`{info['timings']}`: seconds per iteration of a "
        f"{TIMING_ITERATIONS}-"
        f"iteration run on the otherwise idle machine, TensorFlow's own thread count), not the runs' own clocks, "
        f"which shared the machine.",
        "",
        *table,
        "",
        f"The {len(last_clocks)} runs' own clocks at their last milestones add up to {clock_hours:.1f} hours of "
        f"one-thread training, {info['parallel']} runs at a time.",
        "",
        "At the last milestone:",
        *best,
        "",
        f"References, {info['n']:,} digits each:",
        *reference_lines,
        "",
        "Every milestone of every run: `ablation.csv`; the curves (quality against iterations and against "
        "minutes alone, the mean over seeds and the band from the lowest to the highest): `ablation.png`.",
        "",
    ])
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return finals


# The command -------------------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--iterations", type=int,
                        help=f"each run's budget in main-loop iterations (a multiple of {MILESTONES_PER_RUN}); "
                             f"needed unless --time-only")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS-1, the same for every row")
    parser.add_argument("--rows", default=",".join(RECIPES), help="comma-separated named recipes (ezgan.lab.recipes.RECIPES)")
    parser.add_argument("--runs", default=str(DEFAULT_RUNS),
                        help="where the runs go; each budget gets its folder N-iterations in it")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for ablation.csv, ablation.png, summary.md")
    parser.add_argument("--parallel", type=int, default=2, help="training processes at once")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads of each training process")
    parser.add_argument("--n", type=int, default=2000, help="digits scored per milestone")
    parser.add_argument("--eval-seed", type=int, default=0, help="noise seed of the scored digits")
    parser.add_argument("--classifier", default=None, help="classifier checkpoint (default: pretrained/classifier)")
    parser.add_argument("--add-rows", action="store_true",
                        help="keep the lines of the existing ablation.csv of every run not scored now (runs are "
                             "independent: a new row, or a new seed of a row, joins the table without training the "
                             "others again, and a run whose folder is gone keeps its lines)")
    parser.add_argument("--score-only", action="store_true", help="train nothing: score the runs there are")
    parser.add_argument("--from-csv", action="store_true",
                        help="train and score nothing: draw ablation.png and summary.md again from OUT/ablation.csv "
                             "(the references are scored again)")
    parser.add_argument("--time-only", action="store_true",
                        help="train and score nothing: time each of --rows the timings file lacks alone into it "
                             "(make timings)")
    parser.add_argument("--retime", action="store_true",
                        help="measure the pace alone of every row given again, not only of those the timings file "
                             "lacks")
    parser.add_argument("--timings", default=str(DEFAULT_TIMINGS),
                        help="each row's pace measured alone (JSON), shared by every budget")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    args = parser.parse_args(argv)
    if args.iterations is None and not args.time_only:
        parser.error("--iterations is needed, except with --time-only")
    for name in ("seeds", "parallel", "n"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    try:
        if args.time_only:
            check_rows(rows)
        else:
            runs = plan(rows, range(args.seeds), args.iterations, runs_folder(args.runs, args.iterations))
    except EzganError as error:
        print(f"ablation: error: {error}", file=sys.stderr)
        return 2
    if args.time_only and args.dry_run:
        untimed = rows_to_time(rows, read_table(args.timings)["rows"], args.retime)
        print(f"would time alone, {TIMING_ITERATIONS} iterations each, into {args.timings}: "
              f"{', '.join(untimed) or 'nothing'}")
        return 0
    if args.time_only:
        time_rows(rows, args.timings, retime=args.retime)
        print(f"{args.timings} holds the pace alone of all {len(rows)} rows given")
        return 0
    if not args.from_csv:
        print(describe_plan(runs, args.parallel, args.threads, args.n, args.eval_seed, args.out), flush=True)
    if args.dry_run:
        return 0
    out = pathlib.Path(args.out)
    try:
        failed = [] if args.score_only or args.from_csv else train_all(runs, args.parallel, args.threads)
    except KeyboardInterrupt:
        print("ablation: stopped; the same command resumes every unfinished run", file=sys.stderr)
        return 130
    lines, references, classifier = score_runs([] if args.from_csv else runs, args.n, args.eval_seed, args.classifier)
    if not lines and not args.from_csv:
        print("ablation: no milestones to score yet", file=sys.stderr)
        return 1
    if args.add_rows and (out / "ablation.csv").exists():
        scored = {(line["row"], line["seed"]) for line in lines}
        lines = [line for line in read_csv(out / "ablation.csv") if (line["row"], line["seed"]) not in scored] + lines
    if not args.from_csv:
        write_csv(lines, out / "ablation.csv")
    lines = read_csv(out / "ablation.csv")   # the plot and the summary show what the CSV holds, to its digits
    timings = time_rows(list(by_row(lines)), args.timings, retime=args.retime)
    seeds = "seed 0" if args.seeds == 1 else f"seeds 0-{args.seeds - 1}"
    budget = f"{args.iterations:,} iterations, {seeds}, {args.n:,} digits per milestone"
    plot_ablation(lines, out / "ablation.png", references, title=f"Ablation: {budget}", timings=timings)
    command = f"make ablation ITERATIONS={args.iterations} SEEDS={args.seeds}"
    flags = ([] if set(by_row(lines)) == set(RECIPES) else [f"--rows {','.join(by_row(lines))}"]) + \
        ([] if args.eval_seed == 0 else [f"--eval-seed {args.eval_seed}"]) + \
        ([] if out.resolve() == DEFAULT_OUT.resolve() else [f"--out {os.path.relpath(out, REPO)}"])
    if flags:
        command = f"python tools/ablation.py --iterations {args.iterations} --seeds {args.seeds} {' '.join(flags)}"
    if args.from_csv:
        command += "`, the table and plot drawn again from its ablation.csv by `python tools/ablation.py --from-csv"
    accuracy = classifier["test_accuracy"]
    info = dict(command=command, date=datetime.date.today().isoformat(),
                machine=machine(), tensorflow=tf.__version__,
                seeds=", ".join(str(s) for s in range(args.seeds)), iterations=args.iterations, threads=args.threads,
                parallel=args.parallel, n=args.n, eval_seed=args.eval_seed, timings=os.path.relpath(args.timings, REPO),
                classifier=os.path.relpath(classifier["checkpoint"], REPO),
                classifier_accuracy="unknown" if accuracy is None else f"{accuracy:.2%}")
    write_summary(lines, out / "summary.md", info, references, timings)
    print(f"wrote {out / 'ablation.csv'}, {out / 'ablation.png'} and {out / 'summary.md'}")
    if failed:
        print(f"ablation: {len(failed)} runs failed: {', '.join(run.name for run in failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
