"""tools/time_to_quality.py without training: which milestone counts, and the pace from a timing run's clock."""
import json

import pytest

from tools import time_to_quality


def rows(*scores):
    return [dict(iteration=1000 * (k + 1), classifier_score=score) for k, score in enumerate(scores)]


def test_the_first_milestone_reaching_the_score_counts_else_the_best():
    assert time_to_quality.milestone_reaching(rows(5.0, 9.1, 9.5, 8.0), 9) == (rows(5.0, 9.1)[1], True)
    assert time_to_quality.milestone_reaching(rows(5.0, 9.0), 9) == (rows(5.0, 9.0)[1], True)
    assert time_to_quality.milestone_reaching(rows(4.0, 6.5, 6.0), 9) == (rows(4.0, 6.5)[1], False)


def test_the_pace_is_measured_between_the_two_milestones():
    # 300 pre-training steps, 200 iterations: milestones at steps 400 and 500 of the run's clock.
    per_iteration, before = time_to_quality.pace({"500": 130.0, "400": 80.0}, 200)
    assert per_iteration == pytest.approx(0.5)
    assert before == pytest.approx(30.0)   # 80 s at the half-way milestone, less its 100 iterations at 0.5 s


def test_the_readme_shows_the_committed_timing():
    """README's time-to-quality rows are docs/time_to_quality.json's (make time-to-quality)."""
    from ezgan.paths import REPO

    result = json.loads((REPO / "docs" / "time_to_quality.json").read_text())
    readme = (REPO / "README.md").read_text()
    assert {row["model"] for row in result["models"]} == {"pretrained", "pretrained/improved", "pretrained/conditional"}
    for row in result["models"]:
        milestone = "first ≥ 9" if row["reached"] else "best (never 9)"
        assert (f"| `{row['model']}` | {row['recipe']} | {milestone}: iteration {row['iteration']:,} | "
                f"{row['classifier_score']:.2f} | {row['seconds_per_iteration']:.3f} | {row['minutes']:.0f} |") in readme
