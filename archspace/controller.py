"""An LSTM controller that emits a sample one decision at a time (Zoph & Le, 2017; ENAS, 2018).

Each active decision, in space order, is one LSTM step: the input is the embedding of the previous
decision's choice (a learned start token first), the output goes through that decision's own
linear head to logits over its candidates. Inactive decisions are skipped, so a conditional space
gives sequences of different lengths and the policy conditions every choice on all earlier ones.
Shared by the multi-trial PolicyBasedRL strategy and the ENAS one-shot strategy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archspace.space.decisions import value_key
from archspace.space.samples import Sample
from archspace.space.search_space import SearchSpace


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

    def _run(self, sample: Sample | None, generator: torch.Generator | None) -> tuple[Sample, torch.Tensor, torch.Tensor]:
        out: Sample = {}
        inputs = self.start
        state: Any = None
        log_prob = torch.zeros(())
        entropy = torch.zeros(())
        for position, label in enumerate(self.labels):
            if not self.space.condition(label).holds(out):
                continue
            output, state = self.lstm(inputs, state)
            logits = self._logits(position, output[-1])
            probs = torch.softmax(logits, -1)
            if sample is None:
                index = int(torch.multinomial(probs.detach(), 1, generator=generator))
            else:
                index = self._index[position][value_key(sample[label])]
            log_probs = torch.log_softmax(logits, -1)
            log_prob = log_prob + log_probs[index]
            entropy = entropy - (probs * log_probs).sum()
            out[label] = self.space[label].values[index]
            inputs = self.embeddings[position](torch.tensor([index]))
        return out, log_prob, entropy

    def sample(self, generator: torch.Generator | None = None) -> tuple[Sample, torch.Tensor, torch.Tensor]:
        """Draw a sample; returns it with its log-probability and the policy's entropy along it."""
        return self._run(None, generator)

    def evaluate(self, sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of a given (normalised) sample under the current policy."""
        _, log_prob, entropy = self._run(sample, None)
        return log_prob, entropy


__all__ = ["LSTMController"]
