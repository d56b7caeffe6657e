"""tools/time_to_quality.py: which milestone counts, and the minutes priced from the one table of each recipe's pace
alone (docs/ablation/timings.json), which it reads and never measures."""
import json

import pytest

from ezgan.paths import REPO
from tools import time_to_quality


def rows(*scores):
    return [dict(iteration=1000 * (k + 1), classifier_score=score) for k, score in enumerate(scores)]


def test_the_first_milestone_reaching_the_score_counts_else_the_best():
    assert time_to_quality.milestone_reaching(rows(5.0, 9.1, 9.5, 8.0), 9) == (rows(5.0, 9.1)[1], True)
    assert time_to_quality.milestone_reaching(rows(5.0, 9.0), 9) == (rows(5.0, 9.0)[1], True)
    assert time_to_quality.milestone_reaching(rows(4.0, 6.5, 6.0), 9) == (rows(4.0, 6.5)[1], False)


def test_the_minutes_are_priced_from_the_pace_table_and_a_missing_row_names_the_command_that_times_it(
        tmp_path, capsys):
    # Made-up paces, one per bundled model's recipe (whichever recipe pretrained/improved was trained with).
    recipes = [time_to_quality.model_recipe(folder) for folder in time_to_quality.MODELS]
    assert recipes[0] == "tutorial" and recipes[-1] == "conditional" and len(set(recipes)) == len(recipes)
    paces = {recipe: (0.5 / 2 ** k, 30.0 / (k + 1)) for k, recipe in enumerate(recipes)}
    timings = dict(command="make timings", machine="test machine", rows={
        row: dict(seconds_per_iteration=per_iteration, seconds_before=before, date="2026-12-05")
        for row, (per_iteration, before) in paces.items()})
    (tmp_path / "timings.json").write_text(json.dumps(timings))
    out = tmp_path / "time_to_quality.json"
    assert time_to_quality.main(["--timings", str(tmp_path / "timings.json"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["machine"] == "test machine" and "make timings" in result["pace"]
    for row in result["models"]:
        per_iteration, before = paces[row["recipe"]]
        assert (row["seconds_per_iteration"], row["seconds_before"]) == (per_iteration, before)
        assert row["minutes"] == pytest.approx((before + row["iteration"] * per_iteration) / 60)

    del timings["rows"]["conditional"]
    (tmp_path / "timings.json").write_text(json.dumps(timings))
    out.unlink()
    assert time_to_quality.main(["--timings", str(tmp_path / "timings.json"), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "no pace measured alone for conditional" in error
    assert "run `make timings` (python tools/ablation.py --time-only --rows conditional)" in error
    assert not out.exists()


def test_the_readme_shows_the_committed_timing():
    """README's time-to-quality rows are docs/time_to_quality.json's (make time-to-quality)."""
    result = json.loads((REPO / "docs" / "time_to_quality.json").read_text())
    readme = (REPO / "README.md").read_text()
    assert [row["model"] for row in result["models"]] == list(time_to_quality.MODELS)
    assert {"pretrained", "pretrained/improved", "pretrained/conditional"} <= set(time_to_quality.MODELS)
    for row in result["models"]:
        milestone = "first ≥ 9" if row["reached"] else "best (never 9)"
        assert (f"| `{row['model']}` | {row['recipe']} | {milestone}: iteration {row['iteration']:,} | "
                f"{row['classifier_score']:.2f} | {row['seconds_per_iteration']:.3f} | {row['minutes']:.0f} |") in readme
