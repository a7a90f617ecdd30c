"""Tests for ``jaxlab plot`` (on a saved result made without training) and the
``jaxlab sweep`` flags for TensorBoard and progress."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib.image as mpimg
import pytest

from jaxlab import cli
from tests.fake_results import BATCH_SIZES, fake_result

TINY = """\
name = "tiny"

[data]
name = "blobs"
n_samples = 120
train_size = 80

[model]
hidden = [8]

[train]
epochs = 2

[sweep.grid]
learning_rate = [0.01, 0.1]
"""


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "fake"
    fake_result().save(str(path))
    return path


def plot(*args: str, capsys) -> tuple[int, list[str], str]:
    code = cli.main(["plot", *args])
    out, err = capsys.readouterr()
    return code, out.split(), err


def test_curves_by_facet_and_colour(results_dir, capsys):
    code, paths, err = plot(str(results_dir), "--metric", "val_accuracy", "--facet",
                            "batch_size", "--color", "learning_rate", capsys=capsys)
    assert code == 0, err
    (path,) = paths
    assert path == os.path.join(str(results_dir), "plots",
                                "curves_val_accuracy_by-batch_size_color-learning_rate.png")
    image = mpimg.imread(path)
    # One 3.6 x 2.8 in panel per batch size, plus 2.2 in for the legend, at 100 dpi.
    assert image.shape == (280, int(round(100 * (3.6 * len(BATCH_SIZES) + 2.2))), 4)
    assert image[..., :3].std() > 0.05


@pytest.mark.parametrize("args, name", [
    (["--kind", "sensitivity", "--color", "batch_size", "--aggregate", "seed"],
     "sensitivity_val_accuracy_final.png"),
    (["--kind", "sensitivity", "--vs", "train.batch_size", "--value", "best"],
     "sensitivity_val_accuracy_best_vs-batch_size.png"),
    (["--kind", "heatmap", "--metric", "val_loss"], "heatmap_val_loss_final.png"),
    (["--kind", "compare", "--variants", "0", "3", "--train"], "compare_val_accuracy_v0-3.png"),
    (["--kind", "bars", "--color", "batch_size"],
     "bars_val_accuracy_final_color-batch_size.png"),
    (["--kind", "compare", "--aggregate", "seed", "--band", "minmax"],
     "compare_val_accuracy_mean-seed.png"),
    (["--x", "examples", "--aggregate", "seed", "--format", "svg"],
     "curves_val_accuracy_mean-seed_x-examples.svg"),
])
def test_every_kind_writes_its_file(results_dir, tmp_path, capsys, args, name):
    code, paths, err = plot(str(results_dir), *args, "--out", str(tmp_path), capsys=capsys)
    assert code == 0, err
    assert paths == [str(tmp_path / name)]
    assert os.path.getsize(paths[0]) > 1000


def test_compare_several_results(results_dir, tmp_path, capsys):
    other = tmp_path / "other"
    fake_result("other", shift=0.05).save(str(other))
    code, paths, err = plot(str(results_dir), str(other), "--variants", "1", "--out",
                            str(tmp_path), capsys=capsys)
    assert code == 0, err
    assert os.path.basename(paths[0]) == "compare_val_accuracy_v1.png"


@pytest.mark.parametrize("args, field", [
    (["--metric", "val_acc"], "metric"),
    (["--facet", "bs"], "facet"),
    (["--kind", "heatmap", "--rows", "seed", "--cols", "seed"], "heatmap"),
    (["--kind", "sensitivity", "--metric", "grad_norm"], "metric"),
])
def test_mistakes_exit_2_with_one_line(results_dir, tmp_path, capsys, args, field):
    code, paths, err = plot(str(results_dir), *args, "--out", str(tmp_path), capsys=capsys)
    assert code == 2 and paths == []
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: {field}=")
    assert not os.listdir(tmp_path)


def test_not_a_results_directory(tmp_path, capsys):
    code, _, err = plot(str(tmp_path), capsys=capsys)
    assert code == 2 and err.startswith("error: results=")


def test_bad_metric_from_the_shell_has_no_traceback(results_dir):
    proc = subprocess.run([sys.executable, "-m", "jaxlab.cli", "plot", str(results_dir),
                           "--metric", "nope"], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line == ("error: metric='nope': not in the results; expected one of ['accuracy', "
                    "'grad_norm', 'loss', 'lr', 'val_accuracy', 'val_loss']")
    assert proc.stdout == ""


# -- sweep flags --------------------------------------------------------------------------------
def test_sweep_logs_tensorboard_by_default_and_not_with_the_flag(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    assert cli.main(["sweep", str(spec), "--out", str(tmp_path / "a"), "--no-cache"]) == 0
    runs = sorted(os.listdir(tmp_path / "a" / "tensorboard"))
    assert runs == ["v000_lr=0.01", "v001_lr=0.1"]
    err = capsys.readouterr().err
    assert "tensorboard --logdir" in err
    assert "compiled in" not in err  # stderr is not a terminal: no bar
    assert cli.main(["sweep", str(spec), "--out", str(tmp_path / "b"), "--no-cache",
                     "--no-tensorboard", "--progress"]) == 0
    assert not os.path.exists(tmp_path / "b" / "tensorboard")
    assert "compiled in" in capsys.readouterr().err  # forced
    assert cli.main(["sweep", str(spec), "--out", str(tmp_path / "c"), "--no-cache",
                     "--quiet", "--progress"]) == 0
    assert capsys.readouterr().err == ""
