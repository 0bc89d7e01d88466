"""NNI's hello-NAS, with its Lightning evaluator: the model space and the evaluator ported with name
changes only (``nni.nas.nn.pytorch`` → ``archspace``, ``nni.choice`` → ``asp.choice``,
``MutableDropout``/``MutableLinear`` → ``asp.nn.Dropout``/``asp.nn.Linear``,
``nni.nas.evaluator.pytorch.Classification`` → ``archspace.evaluate.lightning.Classification``,
``NasExperiment`` → ``Experiment``).

NNI trains on MNIST; without torchvision this runs on scikit-learn's digits, upscaled to MNIST's
28x28 so that the space is NNI's exactly. ``archspace run examples/lightning/hello_nas.py`` (or
``python examples/lightning/hello_nas.py --smoke`` for a seconds-long check) needs
``pip install 'archspace[lightning,demo]'``.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import archspace as asp
from archspace.data import digits
from archspace.evaluate.lightning import Classification
from archspace.experiment import Experiment
from archspace.schedule import ASHA
from archspace.strategy import Random

SMOKE = os.environ.get("ARCHSPACE_SMOKE") == "1"


class DepthwiseSeparableConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size=3, groups=in_ch)
        self.pointwise = nn.Conv2d(in_ch, out_ch, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class MyModelSpace(asp.ModelSpace):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = asp.LayerChoice([nn.Conv2d(32, 64, 3, 1), DepthwiseSeparableConv(32, 64)], label="conv2")
        self.dropout1 = asp.nn.Dropout(asp.choice("dropout", [0.25, 0.5, 0.75]))
        self.dropout2 = nn.Dropout(0.5)
        feature = asp.choice("feature", [64, 128, 256])
        self.fc1 = asp.nn.Linear(9216, feature)
        self.fc2 = asp.nn.Linear(feature, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(self.conv2(x), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.fc2(self.dropout2(F.relu(self.fc1(x))))
        output = F.log_softmax(x, dim=1)
        return output


def mnist_sized(images: torch.Tensor) -> torch.Tensor:
    """Digits' 8x8 images at MNIST's 28x28."""
    return F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)


(x, y), (xv, yv) = digits()
if SMOKE:
    x, y, xv, yv = x[:128], y[:128], xv[:64], yv[:64]
train_dataset, test_dataset = TensorDataset(mnist_sized(x), y), TensorDataset(mnist_sized(xv), yv)

# NNI: from nni.nas.evaluator.pytorch import Classification, DataLoader
train_loader = DataLoader(train_dataset, batch_size=64)
valid_loader = DataLoader(test_dataset, batch_size=64)
max_epochs = 1 if SMOKE else 3
evaluator = Classification(
    train_dataloaders=train_loader, val_dataloaders=valid_loader, max_epochs=max_epochs, num_classes=10,
    learning_rate=1e-3, weight_decay=1e-4, accelerator="cpu",
)

model_space = MyModelSpace()
experiment = Experiment(model_space, evaluator, Random(), max_trials=2 if SMOKE else 12, concurrency=2,
                        scheduler=None if SMOKE else ASHA(max_resource=max_epochs, min_resource=1),
                        directory="runs/lightning_hello_nas_smoke" if SMOKE else "runs/lightning_hello_nas",
                        seed=0, progress=not SMOKE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="two trials of one epoch on 128 images")
    if parser.parse_args().smoke and not SMOKE:  # the settings are read at import: run again with them
        import subprocess
        import sys

        raise SystemExit(subprocess.call([sys.executable, __file__], env={**os.environ, "ARCHSPACE_SMOKE": "1"}))
    trials = experiment.run()
    best = experiment.best(1)[0]
    print(f"best of {len(trials)} trials: validation accuracy {best.metric:.4f} with {best.sample}")


if __name__ == "__main__":
    main()
