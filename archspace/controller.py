"""An LSTM controller that emits a sample one decision at a time (Zoph & Le, 2017; ENAS, 2018).

Each active decision, in space order, is one LSTM step: the input is the embedding of the previous
decision's choice (a learned start token first), the output goes through that decision's own
linear head to logits over its candidates. Inactive decisions are skipped, so a conditional space
gives sequences of different lengths and the policy conditions every choice on all earlier ones.
Shared by the multi-trial PolicyBasedRL strategy and the ENAS one-shot strategy; ENAS also reads
each decision's probabilities along a draw (:meth:`LSTMController.trace`: its skip-connection
penalty) and decodes the most likely sample (:meth:`LSTMController.greedy`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from archspace.space.decisions import value_key
from archspace.space.samples import Sample
from archspace.space.search_space import SearchSpace


class Trace(NamedTuple):
    """One pass of the controller along a sample.

    Attributes:
        sample: the sample (drawn, decoded or given).
        log_prob: its log-probability (differentiable).
        entropy: the summed entropy of the distributions along it (differentiable).
        probs: label -> the distribution the controller gave that decision (differentiable), for
            penalties on particular decisions (ENAS's skip-rate KL term).
    """

    sample: Sample
    log_prob: torch.Tensor
    entropy: torch.Tensor
    probs: dict[str, torch.Tensor]


class LSTMController(nn.Module):
    """A policy over the samples of ``space``.

    Args:
        space: the search space.
        hidden_size: LSTM width (ENAS: 100; 64 is plenty for tabular benchmarks).
        num_layers: stacked LSTM layers.
        temperature: logits are divided by it (ENAS uses 5 for its macro space).
        tanh_constant: if set, logits become ``c * tanh(logits)`` (ENAS: 2.5), which keeps the
            policy from collapsing early.
    """

    def __init__(self, space: SearchSpace, *, hidden_size: int = 64, num_layers: int = 1,
                 temperature: float | None = None, tanh_constant: float | None = 1.5) -> None:
        super().__init__()
        self.space = space
        self.labels = list(space)
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.start = nn.Parameter(torch.zeros(1, hidden_size))
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, len(space[label])) for label in self.labels)
        self.embeddings = nn.ModuleList(nn.Embedding(len(space[label]), hidden_size) for label in self.labels)
        self._index = [{value_key(v): i for i, v in enumerate(space[label].values)} for label in self.labels]
        nn.init.uniform_(self.start, -0.1, 0.1)

    def _logits(self, position: int, output: torch.Tensor) -> torch.Tensor:
        logits = self.heads[position](output)
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _run(self, sample: Sample | None, generator: torch.Generator | None, greedy: bool = False) -> Trace:
        out: Sample = {}
        inputs = self.start
        state: Any = None
        log_prob = torch.zeros(())
        entropy = torch.zeros(())
        dists: dict[str, torch.Tensor] = {}
        for position, label in enumerate(self.labels):
            if not self.space.condition(label).holds(out):
                continue
            output, state = self.lstm(inputs, state)
            logits = self._logits(position, output[-1])
            probs = torch.softmax(logits, -1)
            if sample is not None:
                index = self._index[position][value_key(sample[label])]
            elif greedy:
                index = int(probs.detach().argmax())
            else:
                index = int(torch.multinomial(probs.detach(), 1, generator=generator))
            log_probs = torch.log_softmax(logits, -1)
            log_prob = log_prob + log_probs[index]
            entropy = entropy - (probs * log_probs).sum()
            dists[label] = probs
            out[label] = self.space[label].values[index]
            inputs = self.embeddings[position](torch.tensor([index]))
        return Trace(out, log_prob, entropy, dists)

    def sample(self, generator: torch.Generator | None = None) -> tuple[Sample, torch.Tensor, torch.Tensor]:
        """Draw a sample; returns it with its log-probability and the policy's entropy along it."""
        drawn, log_prob, entropy, _ = self._run(None, generator)
        return drawn, log_prob, entropy

    def evaluate(self, sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of a given (normalised) sample under the current policy."""
        _, log_prob, entropy, _ = self._run(sample, None)
        return log_prob, entropy

    def trace(self, sample: Sample | None = None, generator: torch.Generator | None = None) -> Trace:
        """Draw a sample (or follow ``sample``) and keep every decision's distribution along it."""
        return self._run(sample, generator)

    def greedy(self) -> Trace:
        """The most likely sample by greedy decoding: at every decision, in space order, the most
        probable candidate given the ones before (draws nothing)."""
        return self._run(None, None, greedy=True)


__all__ = ["LSTMController", "Trace"]
