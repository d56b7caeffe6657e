"""tools/determinism.py: the training command of each setting, the byte-for-byte comparison and the report."""
import pathlib

import numpy as np

from tools import determinism


def test_a_setting_replaces_the_default_flag_it_names_and_keeps_the_others():
    command = determinism.train_command("tutorial --literal", 100, 1, pathlib.Path("/tmp/run"),
                                        ["--milestone-every", "10"])
    assert command[command.index("--recipe"):command.index("--seed")] == ["--recipe", "tutorial", "--literal"]
    assert command[command.index("--milestone-every") + 1] == "10"
    assert command[command.index("--checkpoint-every") + 1] == "100"
    assert command.count("--milestone-every") == 1


def test_weights_with_the_same_bytes_differ_by_zero_and_others_by_their_largest_difference():
    reference = {"a": np.array([1.0, 2.0], np.float32), "b": np.array([[3.0]], np.float32)}
    assert determinism.largest_difference({k: v.copy() for k, v in reference.items()}, reference) == 0.0
    changed = {"a": np.array([1.0, 2.5], np.float32), "b": np.array([[2.75]], np.float32)}
    assert determinism.largest_difference(changed, reference) == 0.5


def test_the_report_counts_the_repeats_that_gave_the_same_bytes_and_names_the_settings_that_changed_the_result():
    results = {"tutorial": [("one thread, again", 0.0, 0.0), ("two threads", 0.03, None),
                            ("two threads, again", 0.03, 0.0)],
               "guided": [("one thread, again", 0.0, 0.0), ("two threads", 0.2, None),
                          ("two threads, again", 0.2, 1e-6)]}
    text = determinism.report(results, 100, "python tools/determinism.py")
    assert "| tutorial | two threads | 3.00e-02 |  |" in text
    assert "| guided | two threads, again | 2.00e-01 | 1.00e-06 |" in text
    assert "Of 4 repeated runs, 3 gave the same bytes as the run they repeat." in text
    assert "Settings that changed the result from the one-thread run's: two threads." in text
