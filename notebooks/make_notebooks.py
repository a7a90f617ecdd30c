"""Write the example notebooks (without outputs) from the cells below.

  python notebooks/make_notebooks.py      # rewrites notebooks/*.ipynb

The notebooks are committed as this script writes them: no outputs, no execution counts,
stable cell ids, so a regenerated notebook only differs where its cells changed. The test
suite executes each one (tests/test_notebooks.py).
"""

from __future__ import annotations

import os

import nbformat
from nbformat import v4

HERE = os.path.dirname(os.path.abspath(__file__))

COURSE_BLOBS = ('jl.DataConfig("blobs", options={"n_samples": 1000, "centers": 3, '
                '"n_features": 2,\n'
                '                                  "cluster_std": 2.0, "random_state": 2},\n'
                '              train_size=500)')

QUICKSTART = [
    ("md", """\
# jaxlab quickstart

Train several variants of one small MLP at once, look at their learning curves, pick the
best variant and predict with it. Everything below runs in well under a minute on a laptop
CPU."""),
    ("code", """\
%matplotlib inline
import jaxlab as jl
from jaxlab import plotting"""),
    ("md", """\
## The data

The course's three-class blobs: 1000 points in 2-D, the first 500 for training, the rest
for validation."""),
    ("code", f"""\
data = {COURSE_BLOBS}
ds = jl.load(data)
ds.x_train.shape, ds.x_val.shape, ds.n_classes"""),
    ("md", """\
## A sweep

Three batch sizes times two learning rates: six variants of the same network, trained
side by side as one compiled program."""),
    ("code", """\
spec = jl.Sweep(
    data=data,
    model=jl.ModelConfig(hidden=(50,), activation="relu", kernel_init="he_uniform"),
    train=jl.TrainConfig(optimizer="sgd", momentum=0.9, epochs=40,
                         loss="categorical_crossentropy", metrics=("accuracy",)),
    grid={"batch_size": [8, 32, 128], "learning_rate": [0.01, 0.1]},
    name="quickstart",
)
result = jl.run(spec)
result.variants[["variant", "train.batch_size", "train.learning_rate", "status",
                 "final_val_accuracy", "best_val_accuracy"]]"""),
    ("md", """\
## Learning curves

One panel per batch size, one colour per learning rate. `result.history` holds the same
numbers as a tidy table."""),
    ("code", """\
plotting.curves(result, "val_accuracy", facet="batch_size", color="learning_rate")"""),
    ("code", """\
plotting.curves(result, "loss", color="learning_rate", facet="batch_size", logy=True)"""),
    ("md", """\
## The best variant, and predictions

`best` picks the variant with the best final value (diverged variants excluded);
`predict` returns class probabilities."""),
    ("code", """\
best = result.best("val_accuracy")
result.variants.loc[best, ["train.batch_size", "train.learning_rate", "final_val_accuracy"]]"""),
    ("code", """\
probs = result.predict(ds.x_val, variant=best)
accuracy = (probs.argmax(axis=1) == ds.y_val).mean()
print(f"variant {best}: validation accuracy {accuracy:.3f}")
probs[:5].round(3)"""),
    ("md", """\
Save the results directory (CSV history and summary, the spec, every variant's
parameters) to come back to it later, or to plot it from the shell with `jaxlab plot`."""),
    ("code", """\
path = result.save("runs/quickstart")
again = jl.load_result(path)
plotting.compare(again, "val_accuracy", variants=[best, 0], train=True)"""),
]

LR_BATCH = [
    ("md", """\
# Learning rate x batch size

How do the learning rate and the batch size interact? A 4 x 4 grid, two seeds each: 32
variants of the course's blobs network, trained as one program. The final accuracy as a
heatmap, then the curves against the number of **examples seen**, the fair clock when
batch sizes differ (a batch of 4 makes 32 times as many updates per epoch as a batch of
128)."""),
    ("code", """\
%matplotlib inline
import jaxlab as jl
from jaxlab import plotting"""),
    ("code", f"""\
spec = jl.Sweep(
    data={COURSE_BLOBS},
    model=jl.ModelConfig(hidden=(50,), activation="relu", kernel_init="he_uniform"),
    train=jl.TrainConfig(optimizer="sgd", momentum=0.9, epochs=25,
                         loss="categorical_crossentropy", metrics=("accuracy",)),
    grid={{"learning_rate": [0.001, 0.01, 0.1, 1.0], "batch_size": [4, 16, 64, 256],
          "seed": [0, 1]}},
    name="lr_batch",
)
result = jl.run(spec, tensorboard="runs/lr_batch/tensorboard")
result.variants.status.value_counts()"""),
    ("md", """\
## The final validation accuracy over both axes

Each cell is the mean over the two seeds; grey cells diverged."""),
    ("code", """\
plotting.heatmap(result, "val_accuracy", x="batch_size", y="learning_rate")"""),
    ("code", """\
plotting.sensitivity(result, "val_accuracy", axis="learning_rate", color="batch_size",
                     aggregate="seed")"""),
    ("md", """\
## Curves by examples seen

Mean over seeds with a min-max band. Small batches learn faster per example at small
learning rates; at large learning rates they are the first to become unstable."""),
    ("code", """\
plotting.curves(result, "val_accuracy", facet="learning_rate", color="batch_size",
                x="examples", aggregate="seed", band="minmax")"""),
    ("md", """\
The same runs against optimizer updates (log scale): large batches reach their accuracy in
far fewer updates, each of which costs more."""),
    ("code", """\
plotting.curves(result, "val_loss", facet="learning_rate", color="batch_size", x="updates",
                aggregate="seed", logy=True)"""),
    ("md", """\
Every variant is also a TensorBoard run with its hyperparameters in the HParams tab:

    tensorboard --logdir runs/lr_batch/tensorboard"""),
]

SINGLE = [
    ("md", """\
# One model, Keras style

`jl.Network` is the course's Keras workflow: make the model, compile it, fit, evaluate,
predict. Under the hood it is a sweep of one variant."""),
    ("code", """\
%matplotlib inline
import numpy as np
from sklearn.datasets import make_blobs

import jaxlab as jl
from jaxlab import plotting"""),
    ("md", """\
## Data, as in the course: blobs, one-hot labels, the first 500 points for training"""),
    ("code", """\
X, y = make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2)
y = np.eye(3)[y]  # one-hot, like to_categorical
n_train = 500
trainX, testX = X[:n_train], X[n_train:]
trainy, testy = y[:n_train], y[n_train:]"""),
    ("md", "## Make and compile the model"),
    ("code", """\
model = jl.Network(hidden=(50,), activation="relu", kernel_init="he_uniform")
model.compile(optimizer="sgd", learning_rate=0.01, momentum=0.9,
              loss="categorical_crossentropy", metrics=["accuracy"]);"""),
    ("md", "## Fit: the history has one row per epoch"),
    ("code", """\
history = model.fit(trainX, trainy, validation_data=(testX, testy), epochs=100,
                    batch_size=32)
history.tail()"""),
    ("md", "## Evaluate and predict"),
    ("code", """\
model.evaluate(testX, testy)"""),
    ("code", """\
model.predict(testX[:5]).round(3)"""),
    ("md", """\
## Learning curves: train and test accuracy"""),
    ("code", """\
plotting.compare(model.result, "val_accuracy", train=True)"""),
]


OWN_MODEL = [
    ("md", """\
# Bring your own model and optimizer

Any Flax NNX module trains in a jaxlab sweep: here a small CNN on the 8x8 digits, swept over
learning rate x batch size x seed in one compiled program; then `optax.lion`, swept over
its `b1`. Runs in about a minute on a laptop CPU."""),
    ("code", """\
%matplotlib inline
from flax import nnx

import jaxlab as jl
from jaxlab import plotting"""),
    ("md", """\
## The model

A factory that takes `n_in`, `n_out` and `rngs` (and your options) and returns a module
whose `__call__(x, *, train)` gives raw outputs. The digits arrive flattened, `(b, 64)`; the
module reshapes them itself."""),
    ("code", """\
class SmallCNN(nnx.Module):
    def __init__(self, *, n_in, n_out, rngs, features=8):
        self.side = int(n_in ** 0.5)
        self.conv = nnx.Conv(1, features, (3, 3), rngs=rngs)
        self.out = nnx.Linear(features * (self.side // 2) ** 2, n_out, rngs=rngs)

    def __call__(self, x, *, train):
        x = x.reshape(-1, self.side, self.side, 1)
        x = nnx.avg_pool(nnx.relu(self.conv(x)), (2, 2), (2, 2))
        return self.out(x.reshape(x.shape[0], -1))"""),
    ("md", """\
## A sweep of CNNs

Every value axis works as for the built-in MLP: batch sizes are exact (the last, smaller
batch included), each seed gives its own initialization from the module's own initializers
and its own data order."""),
    ("code", """\
data = jl.DataConfig("digits", validation_split=0.2)
spec = jl.Sweep(
    data=data,
    model=jl.ModelConfig(module=SmallCNN, options={"features": 8}),
    train=jl.TrainConfig(optimizer="adam", epochs=5),
    grid={"learning_rate": [1e-3, 3e-3], "batch_size": [16, 64], "seed": [0, 1]})
result = jl.run(spec)
result.variants[["train.learning_rate", "train.batch_size", "train.seed",
                 "final_val_accuracy"]]"""),
    ("code", """\
plotting.curves(result, "val_accuracy", facet="batch_size", color="learning_rate",
                aggregate="seed")"""),
    ("md", """\
## Any Optax optimizer

`"optax:lion"` (or the function itself, or your own `optax.chain`): every float option is a
vectorized axis, `train.optimizer_options.NAME`."""),
    ("code", """\
lion = jl.Sweep(
    data=data,
    model=jl.ModelConfig(module=SmallCNN),
    train=jl.TrainConfig(optimizer="optax:lion", learning_rate=3e-4, epochs=5,
                         optimizer_options={"b2": 0.99}),
    grid={"train.optimizer_options.b1": [0.8, 0.9, 0.95]})
lion_result = jl.run(lion)
lion_result.variants[["train.optimizer_options.b1", "final_val_accuracy"]]"""),
    ("code", """\
best = result.best("val_accuracy")
result.predict(jl.load(data).x_val[:5], variant=best).argmax(1)"""),
]

NOTEBOOKS = {"quickstart": QUICKSTART, "lr_batch_study": LR_BATCH, "single_model": SINGLE,
             "own_model": OWN_MODEL}


def notebook(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook of ``cells`` (``("md" | "code", source)``) with stable ids, no outputs."""
    nb = v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python",
                                  "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, (kind, source) in enumerate(cells):
        cell = v4.new_markdown_cell(source) if kind == "md" else v4.new_code_cell(source)
        cell.id = f"{name.replace('_', '-')}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        path = os.path.join(HERE, f"{name}.ipynb")
        nbformat.write(notebook(name, cells), path)
        print(path)


if __name__ == "__main__":
    main()
