"""The benchmark's own logic, ``tools/bench.py`` (its timings are not asserted: they belong to the machine)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ezgan.paths import REPO
from tools.bench import list_schedule, longest_chain

pytestmark = pytest.mark.slow   # benchmark processes


def heaviest_path_by_enumeration(inputs, weights):
    """Every path, walked backwards from every node: slow, obviously right, for small graphs."""
    def heaviest_ending_at(name):
        return weights.get(name, 0) + max((heaviest_ending_at(source) for source in inputs[name]
                                           if source in inputs), default=0)
    return max(heaviest_ending_at(name) for name in inputs)


def test_longest_chain_is_the_heaviest_path():
    inputs = {"read": [], "conv": ["read"], "pool": ["read"], "sum": ["conv", "pool", "outside"]}
    assert longest_chain(inputs, {"read": 1, "conv": 5, "pool": 2, "sum": 1}) == 7
    rng = np.random.default_rng(0)
    for size in range(1, 9):
        names = [f"op{i}" for i in range(size)]
        for trial in range(5):
            # A random DAG: each op reads some of the ops before it (in a shuffled listing order).
            inputs = {name: [names[j] for j in range(i) if rng.random() < 0.4] for i, name in enumerate(names)}
            order = list(inputs.items())
            rng.shuffle(order)
            weights = {name: float(rng.integers(0, 10)) for name in names if rng.random() < 0.9}
            assert longest_chain(dict(order), weights) == heaviest_path_by_enumeration(inputs, weights)


def test_longest_chain_of_a_long_chain_does_not_recurse():
    inputs = {f"op{i}": [f"op{i - 1}"] if i else [] for i in range(50_000)}
    assert longest_chain(inputs, dict.fromkeys(inputs, 1)) == 50_000


def test_list_schedule_spreads_ops_over_the_cores():
    independent = {f"op{i}": [] for i in range(5)}
    assert list_schedule(independent, dict.fromkeys(independent, 2), cores=2) == 6
    assert list_schedule(independent, dict.fromkeys(independent, 2), cores=1) == 10
    chain = {"a": [], "b": ["a"], "c": ["b"]}
    assert list_schedule(chain, {"a": 1, "b": 2, "c": 3}, cores=2) == 6
    # The head of the long chain goes first, with one side op; its tail then goes before the other
    # side op: 6, where taking the two side ops first (as by name) would give 3 + 1 + 5 = 9.
    fork = {"a_side": [], "b_side": [], "z_head": [], "z_tail": ["z_head"]}
    assert list_schedule(fork, {"a_side": 3, "b_side": 3, "z_head": 1, "z_tail": 5}, cores=2) == 6
    rng = np.random.default_rng(1)
    for trial in range(20):
        names = [f"op{i}" for i in range(12)]
        inputs = {name: [names[j] for j in range(i) if rng.random() < 0.3] for i, name in enumerate(names)}
        weights = {name: float(rng.integers(1, 10)) for name in names}
        makespan = list_schedule(inputs, weights, cores=2)
        # Never below the longest chain or half the work; greedy is within 2x of the best (Graham).
        assert max(longest_chain(inputs, weights), sum(weights.values()) / 2) <= makespan
        assert makespan <= longest_chain(inputs, weights) + sum(weights.values()) / 2


def test_one_thread_worker_reports_its_figures():
    """What ``make bench`` runs in each one-thread process: JSON on stdout."""
    # No PYTHONPATH: the tool imports the installed package, as `make bench` runs it.
    result = subprocess.run([sys.executable, "tools/bench.py", "--one-thread-only", "--stretches", "2",
                             "--per-stretch", "2"], cwd=REPO, capture_output=True, text=True, check=True,
                            env={"PATH": "/usr/bin:/bin"})
    report = json.loads(result.stdout)
    assert set(report) == {"seconds", "critical_path", "list_schedule"}
    assert len(report["seconds"]) == 2 and all(seconds > 0 for seconds in report["seconds"])
    assert 0 < report["critical_path"] <= report["list_schedule"]
