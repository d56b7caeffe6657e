"""Benchmark: how close one training iteration comes to this machine's arithmetic floor.

    python tools/bench.py            (or: make bench; --help for the settings)

In one run it measures the fp32 matmul ceiling through TF, the work of the tutorial's iteration
(FLOPs of its two ``sess.run`` calls, counted by TF's profiler), seconds per iteration of the
tutorial's literal loop and of the default path, seconds to sample 10,000 digits, and training's
peak resident memory; then, with TF on one thread in processes of their own, what the default
path's kernels allow: the step's critical path, its ops spread greedily over the cores, and one
copy of the step per core at once. Each time is the median of several timed stretches after
warm-up; the spread (min-max) is shown. The ceiling and the two loops are timed in interleaved
rounds, so that the machine's drifting speed (it is shared) moves all three alike. The floor is
work / ceiling: what one iteration would take if every FLOP ran at matmul speed.
"""
import argparse
import collections
import contextlib
import functools
import heapq
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

if not __package__:
    # Run as a script: the checkout's root first on the path, so that tools/ imports as a package.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from ezgan.tfsetup import session_config, tensorflow

tf = tensorflow()

from ezgan.runs.fast import add_fast_step, matmul_input_gradient  # noqa: E402
from ezgan.graph import build_graph  # noqa: E402
from ezgan.hparams import SUMMARY_EVERY  # noqa: E402
from ezgan.mnist import read_data_sets  # noqa: E402
from ezgan.sample import Sampler  # noqa: E402
from ezgan.train import literal_iteration, log_summary, real_batch, step_noise  # noqa: E402
from tools.machine import cpu_name  # noqa: E402

v1 = tf.compat.v1
THIS_FILE = pathlib.Path(__file__).resolve()   # the one-thread processes run this file with --one-thread-only


def timed_stretches(run_once, stretches, per_stretch, warmup):
    """Seconds per call, one figure per stretch of ``per_stretch`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        run_once()
    seconds = []
    for _ in range(stretches):
        start = time.perf_counter()
        for _ in range(per_stretch):
            run_once()
        seconds.append((time.perf_counter() - start) / per_stretch)
    return seconds


@contextlib.contextmanager
def matmul_ceiling(size):
    """Yields a function that times one stretch of a large fp32 matmul through TF, in FLOP/s.

    The best this machine does on dense arithmetic. The session stays open while in use.
    """
    graph = tf.Graph()
    with graph.as_default():
        a = tf.Variable(tf.random.normal([size, size]))
        b = tf.Variable(tf.random.normal([size, size]))
        product = tf.matmul(a, b)
        init = v1.global_variables_initializer()
    with v1.Session(graph=graph, config=session_config()) as sess:
        sess.run(init)
        for _ in range(3):
            sess.run(product.op)
        yield lambda: 2 * size ** 3 / timed_stretches(lambda: sess.run(product.op), 1, 5, warmup=0)[0]


def iteration_flops(g, *session_calls):
    """FLOPs of one iteration made of ``session_calls`` (each a list of ops run by one ``sess.run``).

    Each call is counted on its own (what two calls share is computed twice), with the batch of
    50 made static for the profiler: every placeholder of the graph (``x``, ``z``, the fast step's
    ``z_g``) gets the batch size as its first dimension.
    """
    shapes = {op.outputs[0].name: [g.batch_size, *op.outputs[0].shape.as_list()[1:]]
              for op in g.graph.get_operations() if op.type == "Placeholder"}
    options = v1.profiler.ProfileOptionBuilder(v1.profiler.ProfileOptionBuilder.float_operation())
    total = 0
    for ops in session_calls:
        needed = v1.graph_util.extract_sub_graph(g.graph.as_graph_def(), [op.name for op in ops])
        static = tf.Graph()
        with static.as_default():
            inputs = {name: tf.zeros(shape) for name, shape in shapes.items()
                      if any(node.name == name[:-2] for node in needed.node)}
            v1.import_graph_def(needed, name="", input_map=inputs)
        total += v1.profiler.profile(static, cmd="scope", options=options.with_empty_output().build()).total_float_ops
    return total


def tutorial_iteration_flops(g):
    """The work of the tutorial's iteration: its two ``sess.run`` calls (D on real and fake, then G)."""
    return iteration_flops(g, [g.d_trainer_real, g.d_trainer_fake], [g.g_trainer])


def matmul_gradient_forms(stretches, batch=50, rows=7 * 7 * 64, columns=1024):
    """Seconds for the discriminator's big layer's input gradient, written TF's way and ours.

    TF's MatMul gradient is ``matmul(grad, weights, transpose_b=True)``; the fast ``train_step``
    uses ``ezgan.runs.fast.matmul_input_gradient`` instead.
    """
    graph = tf.Graph()
    with graph.as_default():
        grad = tf.Variable(tf.random.normal([batch, columns]))
        weights = tf.Variable(tf.random.normal([rows, columns]))
        forms = {"TF's gradient: grad @ W^T (transpose_b)": tf.matmul(grad, weights, transpose_b=True),
                 "train_step's: (W @ grad^T)^T": matmul_input_gradient(grad, weights)}
        init = v1.global_variables_initializer()
    with v1.Session(graph=graph, config=session_config()) as sess:
        sess.run(init)
        return {name: timed_stretches(lambda: sess.run(op.op), stretches, 50, warmup=10)
                for name, op in forms.items()}


def literal_loop(g):
    """The tutorial's iteration on ``g`` as ``iterate(sess, real, z_d, z_g)``, like ``FastStep.iteration``."""
    return lambda sess, real, z_d, z_g: literal_iteration(sess, g, real, z_d, z_g)


def iteration_runner(sess, g):
    """A function that runs one iteration with the loop it is given (``iterate(sess, real, z_d, z_g)``:
    ``literal_loop(g)`` or ``FastStep.iteration``) on the next step's real batch and noise, and the
    summaries every ``SUMMARY_EVERY`` iterations, as in train()."""
    data = read_data_sets(seed=0).train
    steps = itertools.count()

    def run(iterate):
        step = next(steps)
        z_d, z_g, z_summary = step_noise(0, step, g.batch_size, g.z_dim)
        real = real_batch(data, g.batch_size)
        iterate(sess, real, z_d, z_g)
        if step % SUMMARY_EVERY == 0:
            log_summary(sess, g, None, real, z_summary, step)

    return run


def interleaved_rounds(fast, ceiling, stretches, per_stretch):
    """Per round: the matmul ceiling, then a stretch of the literal loop, then one of the default path.

    ``fast`` is the ``FastStep`` added to the tutorial's graph ``fast.gan``: both loops train the
    same variables in one session. The machine's speed drifts (it is shared), so each round's
    times are compared with the same round's ceiling. Returns lists, one entry per round: ceiling
    (FLOP/s), literal and default (seconds per iteration).
    """
    g = fast.gan
    loops = {"literal": literal_loop(g), "default": fast.iteration}
    results = {"ceiling": [], **{name: [] for name in loops}}
    with v1.Session(graph=g.graph, config=session_config()) as sess:
        sess.run(g.init)
        one_iteration = iteration_runner(sess, g)
        for iterate in loops.values():
            for _ in range(10):
                one_iteration(iterate)
        for _ in range(stretches):
            results["ceiling"].append(ceiling())
            for name, iterate in loops.items():
                results[name] += timed_stretches(lambda: one_iteration(iterate), 1, per_stretch, warmup=0)
    return results


def traced_steps(sess, fast, steps, warmup=3):
    """Run ``warmup`` + ``steps`` iterations of the default path (``fast``, a ``FastStep``), tracing
    each ``train_step``; yields the last ``steps``' RunMetadata."""
    one_iteration = iteration_runner(sess, fast.gan)
    options = v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE, output_partition_graphs=True)
    for step in range(warmup + steps):
        metadata = v1.RunMetadata()
        one_iteration(functools.partial(fast.iteration, options=options, run_metadata=metadata))
        if step >= warmup:
            yield metadata


def node_times(metadata):
    """(node name, op type, microseconds) of every op a traced step ran."""
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            op_type = node.timeline_label.split("(")[0].split("=")[-1].strip() or node.node_name
            yield node.node_name, op_type, node.all_end_rel_micros


def op_time_shares(fast, steps=10):
    """Where a training step's time goes: each op type's share of the summed op times (traced steps)."""
    totals = collections.Counter()
    with v1.Session(graph=fast.gan.graph, config=session_config()) as sess:
        sess.run(fast.gan.init)
        for metadata in traced_steps(sess, fast, steps):
            for _, op_type, micros in node_times(metadata):
                totals[op_type] += micros
    whole = sum(totals.values())
    return [(op_type, micros / whole) for op_type, micros in totals.most_common()]


def traced_op_graph(sess, fast, steps=5):
    """The ops a training step runs: (name -> names it waits for, name -> median traced microseconds).

    The edges are the executed graph's data and control edges (after TF's own rewrites).
    """
    times = collections.defaultdict(list)
    for metadata in traced_steps(sess, fast, steps):
        for name, _, micros in node_times(metadata):
            times[name].append(micros)
    inputs = {node.name: [name.lstrip("^").split(":")[0] for name in node.input]
              for graph in metadata.partition_graphs for node in graph.node}
    return inputs, {name: statistics.median(micros) for name, micros in times.items()}


def longest_chain(inputs, weights):
    """The heaviest path through a graph: ``inputs`` maps each node to the nodes it waits for,
    ``weights`` each node to its weight (a node without one weighs 0). Nodes outside ``inputs`` are
    ignored. However many cores, the graph takes at least this long."""
    return max(_chain_weights(inputs, weights, reverse=False).values(), default=0)


def list_schedule(inputs, weights, cores):
    """How long ``cores`` workers take over the graph when each node runs on one worker.

    Greedy, as schedulers go: whenever a worker is free it takes, among the nodes whose inputs are
    all done, the one with the heaviest chain still behind it. Not a bound (a cleverer schedule
    may do better) but a good estimate of what the graph's shape allows.
    """
    rest = _chain_weights(inputs, weights, reverse=True)
    waiting_for = {name: {source for source in sources if source in inputs} for name, sources in inputs.items()}
    readers = collections.defaultdict(list)
    for name, sources in waiting_for.items():
        for source in sources:
            readers[source].append(name)
    ready = [(-rest[name], name) for name, sources in waiting_for.items() if not sources]
    heapq.heapify(ready)
    running, free, now = [], cores, 0
    while ready or running:
        while ready and free:
            _, name = heapq.heappop(ready)
            heapq.heappush(running, (now + weights.get(name, 0), name))
            free -= 1
        now, name = heapq.heappop(running)
        free += 1
        for reader in readers[name]:
            waiting_for[reader].discard(name)
            if not waiting_for[reader]:
                heapq.heappush(ready, (-rest[reader], reader))
    return now


def _chain_weights(inputs, weights, reverse):
    """Per node, the heaviest chain ending at it (or, ``reverse``, starting at it), its own weight included."""
    neighbours = collections.defaultdict(list)  # the nodes each node's chains continue through
    for name, sources in inputs.items():
        for source in sources:
            if source in inputs:
                if reverse:
                    neighbours[source].append(name)
                else:
                    neighbours[name].append(source)
    total = {}
    for root in inputs:
        stack = [root]  # depth first, without recursion: chains can be longer than Python's recursion limit
        while stack:
            name = stack[-1]
            pending = [other for other in neighbours[name] if other not in total]
            if name in total or not pending:
                stack.pop()
                if name not in total:
                    total[name] = weights.get(name, 0) + max((total[other] for other in neighbours[name]), default=0)
            else:
                stack.extend(pending)
    return total


def one_thread_steps(stretches, per_stretch):
    """The default path with TF on one thread (one op at a time), timed as in ``interleaved_rounds``,
    then ``train_step`` traced.

    Returns a dict of seconds: ``seconds`` (one figure per stretch), ``critical_path`` (the traced
    step's longest chain of ops) and ``list_schedule`` (its ops spread greedily over this machine's
    cores, each op on one core).
    """
    fast = add_fast_step(build_graph(seed=0))
    with v1.Session(graph=fast.gan.graph, config=session_config(threads=1)) as sess:
        sess.run(fast.gan.init)
        one_iteration = iteration_runner(sess, fast.gan)
        seconds = timed_stretches(lambda: one_iteration(fast.iteration), stretches, per_stretch, warmup=10)
        inputs, micros = traced_op_graph(sess, fast)
    return dict(seconds=seconds, critical_path=longest_chain(inputs, micros) / 1e6,
                list_schedule=list_schedule(inputs, micros, os.cpu_count()) / 1e6)


def one_thread_bounds(stretches, per_stretch):
    """What the default path's kernels allow, each op on one thread.

    One process runs ``train_step`` on one thread alone (TF sizes its thread pools once per
    process): its time, its critical path and a list schedule of its traced ops over the cores
    (``one_thread_steps``). Then one such process per core runs at once: no core waits for another,
    so the machine does an iteration every (a copy's seconds per iteration / copies), the most
    these kernels can do (a kernel split over two threads does no less work per core). Returns
    (the lone process's dict, seconds per iteration of the machine with all copies running per
    stretch).
    """
    command = [sys.executable, str(THIS_FILE), "--one-thread-only",
               "--stretches", str(stretches), "--per-stretch", str(per_stretch)]

    def run_copies(copies):
        workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(copies)]
        outputs = [worker.communicate() for worker in workers]
        for worker, (_, errors) in zip(workers, outputs):
            if worker.returncode:
                raise RuntimeError(f"a one-thread copy of the training step failed:\n{errors[-2000:]}")
        return [json.loads(output) for output, _ in outputs]

    alone = run_copies(1)[0]
    copies = os.cpu_count()
    together = [statistics.mean(seconds) / copies for seconds in zip(*(run["seconds"] for run in run_copies(copies)))]
    return alone, together


def sampling_seconds(checkpoint, n, repeats):
    """Seconds to restore the generator and sample n digits (restore included), best and spread."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        sampler = Sampler(checkpoint)
        sampler.sample(n, seed=0)
        sampler.close()
        seconds.append(time.perf_counter() - start)
    return seconds


def training_peak_memory(iterations):
    """Peak resident memory (bytes) of ``ezgan train`` for a short run, in a child process of its own.

    (``python -m ezgan`` with this interpreter: the ``ezgan`` command of the same installation.)
    ``os.wait4`` reports that child's own peak, not the largest of every child the bench started.
    """
    with tempfile.TemporaryDirectory() as tmp:
        child = subprocess.Popen([sys.executable, "-m", "ezgan", "train", "--iterations", str(iterations),
                                  "--pretrain-steps", "10", "--checkpoint-dir", tmp, "--logdir", os.path.join(tmp, "tb"),
                                  "--checkpoint-every", str(iterations)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
        _, status, usage = os.wait4(child.pid, 0)
        if status:
            raise RuntimeError(f"ezgan train failed:\n{child.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss * 1024


def spread(values, scale=1.0, digits=1):
    low, mid, high = min(values) * scale, statistics.median(values) * scale, max(values) * scale
    return f"{mid:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stretches", type=int, default=5,
                        help="timed rounds (ceiling, literal loop, default path) and sampling repeats")
    parser.add_argument("--per-stretch", type=int, default=40, help="iterations per timed stretch")
    parser.add_argument("--matmul-size", type=int, default=2048, help="side of the square matmul")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint to sample from: directory or prefix (default: pretrained/)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--profile", type=int, default=8, metavar="N",
                        help="also trace 10 steps and print the N op types that take the most time (0: don't)")
    parser.add_argument("--one-thread-only", action="store_true",
                        help="only time and trace train_step on one thread and print the figures as JSON "
                             "(what the bench runs in each one-thread process)")
    args = parser.parse_args(argv)
    if args.one_thread_only:
        print(json.dumps(one_thread_steps(args.stretches, args.per_stretch)))
        return

    g = build_graph(seed=0)
    fast = add_fast_step(g)   # the default path's ops, in the same graph as the tutorial's
    flops = tutorial_iteration_flops(g)
    default_flops = iteration_flops(g, [fast.train_step])
    with matmul_ceiling(args.matmul_size) as ceiling:
        rounds = interleaved_rounds(fast, ceiling, args.stretches, args.per_stretch)
    ceiling = rounds["ceiling"]
    floor = flops / statistics.median(ceiling)
    one_thread, all_cores = one_thread_bounds(args.stretches, args.per_stretch)
    sampling = sampling_seconds(args.checkpoint, 10_000, args.stretches)
    peak = training_peak_memory(200)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; "
          f"GPU: {bool(tf.config.list_physical_devices('GPU'))}")
    print(f"fp32 matmul ceiling ({args.matmul_size}x{args.matmul_size}): {spread(ceiling, 1e-9)} GFLOP/s")
    print(f"work of the tutorial's iteration (batch {g.batch_size}): {flops / 1e9:.2f} GFLOP "
          f"-> floor {floor * 1e3:.1f} ms/iteration")
    print(f"(the default path does the same iteration in {default_flops / 1e9:.2f} GFLOP: the generator's resizes "
          f"are folded into its convolutions; on that work alone the floor would be "
          f"{default_flops / statistics.median(ceiling) * 1e3:.1f} ms)")
    print(f"(rounds of {args.per_stretch} iterations, each timed with its own round's ceiling: "
          f"the ratios are medians of the {args.stretches} rounds' ratios)")
    print()
    print(f"{'measurement':<34}{'median (min-max)':>22}{'x floor':>10}{'speed-up':>10}")
    for label, key in (("tutorial's literal loop, ms/iter", "literal"), ("default path (train_step), ms/iter", "default")):
        times_floor = statistics.median(t * c / flops for t, c in zip(rounds[key], ceiling))
        speed_up = statistics.median(lit / t for lit, t in zip(rounds["literal"], rounds[key]))
        print(f"{label:<34}{spread(rounds[key], 1e3):>22}{times_floor:>10.2f}{speed_up:>9.2f}x")
    print(f"{'sample 10,000 digits, s':<34}{spread(sampling, 1, 2):>22}")
    print(f"{'training peak resident memory, MB':<34}{peak / 2**20:>22.0f}")
    print()
    print("what these kernels allow (TF on one thread, each process its own; x the same floor):")
    critical_path, greedy = one_thread["critical_path"], one_thread["list_schedule"]
    for label, figure, seconds in (
            ("default path, one thread, ms/iter", spread(one_thread["seconds"], 1e3),
             statistics.median(one_thread["seconds"])),
            ("  its critical path, ms", f"{critical_path * 1e3:.1f}", critical_path),
            (f"  its ops on {os.cpu_count()} cores (greedy), ms", f"{greedy * 1e3:.1f}", greedy),
            (f"{os.cpu_count()} copies at once, ms/iter", spread(all_cores, 1e3), statistics.median(all_cores))):
        print(f"{label:<34}{figure:>22}{seconds / floor:>10.2f}")
    print()
    print(f"the discriminator's 3136x1024 layer, gradient to its input (batch {g.batch_size}), ms:")
    for label, seconds in matmul_gradient_forms(args.stretches).items():
        print(f"  {label:<40}{spread(seconds, 1e3, 2):>20}")
    if args.profile:
        print()
        print("share of op time in a traced train_step (summed over both cores' threads):")
        for op_type, share in op_time_shares(fast)[:args.profile]:
            print(f"  {share:6.1%}  {op_type}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(cpu=cpu_name(), cores=os.cpu_count(), tensorflow=tf.__version__,
                           matmul_flops_per_s=ceiling, iteration_flops=flops, default_path_flops=default_flops,
                           floor_seconds=floor,
                           literal_seconds=rounds["literal"], default_seconds=rounds["default"],
                           one_thread_seconds=one_thread["seconds"],
                           one_thread_critical_path_seconds=one_thread["critical_path"],
                           one_thread_list_schedule_seconds=one_thread["list_schedule"],
                           all_cores_busy_seconds=all_cores,
                           sample_10000_seconds=sampling, training_peak_rss_bytes=peak), out, indent=1)


if __name__ == "__main__":
    main()
