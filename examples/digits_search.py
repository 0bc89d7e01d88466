"""The main demo: random search over a small CNN space on scikit-learn's bundled digits.

30 trials, 2 worker processes, about a minute on 2 CPU cores. Run it with ``make demo`` or
``archspace run examples/digits_search.py``; if it is stopped, ``archspace resume runs/digits``
continues it, and ``archspace trials runs/digits`` lists what it found.
"""

from __future__ import annotations

from archspace.evaluate import Classification
from archspace.evaluate.data import digits
from archspace.experiment import Experiment
from archspace.strategy import Random
from archspace.testing import ExampleNet

train, val = digits(val_fraction=0.25, seed=0)

experiment = Experiment(
    ExampleNet(),
    Classification(train, val, epochs=4, learning_rate=3e-3, batch_size=64),
    Random(dedup=True),
    max_trials=30,
    concurrency=2,
    directory="runs/digits",
    seed=0,
    progress=True,
)

if __name__ == "__main__":
    trials = experiment.run()
    best = experiment.best(1)[0]
    print(f"best of {len(trials)} trials: validation accuracy {best.metric:.4f} with {best.sample}")
