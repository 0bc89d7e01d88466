"""Policy-based RL — Zoph & Le, "Neural Architecture Search with Reinforcement Learning", ICLR 2017.

An :class:`~archspace.controller.LSTMController` proposes samples; every ``batch_size`` results it
takes one REINFORCE step: advantage = reward - baseline (an exponential moving average of
rewards), loss = -advantage * log p(sample) - entropy_weight * entropy. Log-probabilities are
recomputed when results arrive, so parallel asks and resumes need no stored graphs.

Deviations: REINFORCE with a moving-average baseline and entropy bonus, not the paper's
distributed setup; rewards are the metric itself (negated when minimising) scaled by
``reward_scale``; ``dedup`` re-draws samples already tried (a deterministic benchmark gives the
same reward twice, which would only sharpen the policy on it).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import torch

from archspace.controller import LSTMController
from archspace.space.samples import Sample, fingerprint
from archspace.strategy.base import SampleFilter, Strategy


class PolicyBasedRL(Strategy):
    """REINFORCE on an LSTM controller (see the module docstring).

    Args:
        batch_size: results per policy update.
        learning_rate: Adam learning rate of the controller.
        entropy_weight: weight of the entropy bonus.
        baseline_decay: decay of the moving-average baseline.
        reward_scale: rewards are multiplied by it (e.g. 0.01 for accuracies in percent).
        update_epochs: gradient steps per batch; above 1 the steps use PPO's clipped probability
            ratio (Schulman et al., 2017) against the policy that started the update.
        clip: PPO's clipping range.
        hidden_size, tanh_constant: controller settings.
        dedup: never propose a sample twice.
        filter: see :class:`~archspace.strategy.Strategy`.
    """

    name = "rl"

    def __init__(self, *, batch_size: int = 5, learning_rate: float = 0.01, entropy_weight: float = 1e-3,
                 baseline_decay: float = 0.9, reward_scale: float = 1.0, update_epochs: int = 1,
                 clip: float = 0.2, hidden_size: int = 64,
                 tanh_constant: float | None = 1.5, dedup: bool = True, filter: SampleFilter | None = None) -> None:
        super().__init__(filter=filter)
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.reward_scale = reward_scale
        self.update_epochs = update_epochs
        self.clip = clip
        self.hidden_size = hidden_size
        self.tanh_constant = tanh_constant
        self.dedup = dedup

    def _setup(self) -> None:
        torch_rng = torch.Generator().manual_seed(self.seed or 0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=torch_rng)))
            self.controller = LSTMController(self.space, hidden_size=self.hidden_size,
                                             tanh_constant=self.tanh_constant)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=self.learning_rate)
        self.generator = torch_rng
        self._baseline: float | None = None
        self._buffer: list[tuple[Sample, float]] = []

    def _propose(self) -> Sample | None:
        if self.dedup and self.space_size is not None and len(self._seen) >= self.space_size:
            return None
        with torch.no_grad():
            for _ in range(20):  # a sharp policy repeats itself: then explore an unseen sample
                sample, _, _ = self.controller.sample(self.generator)
                if not self.dedup or fingerprint(sample) not in self._seen:
                    break
            else:
                sample = self.space.random_sample(self.rng)
                while self.dedup and fingerprint(sample) in self._seen:
                    sample = self.space.random_sample(self.rng)
        self._seen.add(fingerprint(sample))
        return sample

    def _observe(self, sample: Sample, result: float | None) -> None:
        score = self.score(result)
        if score is None:
            return  # a failed trial teaches the policy nothing reliable
        self._buffer.append((sample, score * self.reward_scale))
        if len(self._buffer) >= self.batch_size:
            self._update()

    def _update(self) -> None:
        advantages = []
        for _, reward in self._buffer:
            if self._baseline is None:
                self._baseline = reward
            advantages.append(reward - self._baseline)
            self._baseline = self.baseline_decay * self._baseline + (1 - self.baseline_decay) * reward
        old: list[torch.Tensor] = []
        for epoch in range(self.update_epochs):
            losses = []
            for i, ((sample, _), advantage) in enumerate(zip(self._buffer, advantages)):
                log_prob, entropy = self.controller.evaluate(sample)
                if epoch == 0:
                    old.append(log_prob.detach())
                    objective = advantage * log_prob  # REINFORCE
                else:
                    ratio = torch.exp(log_prob - old[i])
                    objective = torch.min(ratio * advantage, ratio.clamp(1 - self.clip, 1 + self.clip) * advantage)
                losses.append(-objective - self.entropy_weight * entropy)
            self.optimizer.zero_grad()
            torch.stack(losses).mean().backward()
            self.optimizer.step()
        self._buffer = []

    def _state(self) -> dict[str, Any]:
        blob = io.BytesIO()
        torch.save({"controller": self.controller.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "generator": self.generator.get_state()}, blob)
        return {"torch": base64.b64encode(blob.getvalue()).decode(), "baseline": self._baseline,
                "buffer": [[s, r] for s, r in self._buffer]}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        data = torch.load(io.BytesIO(base64.b64decode(state["torch"])), weights_only=True)
        self.controller.load_state_dict(data["controller"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.generator.set_state(data["generator"])
        self._baseline = state["baseline"]
        self._buffer = [(dict(s), float(r)) for s, r in state["buffer"]]

    def __repr__(self) -> str:
        return f"PolicyBasedRL(batch_size={self.batch_size}, learning_rate={self.learning_rate})"


__all__ = ["PolicyBasedRL"]
