"""Small model spaces built from a plain description, for property-based tests of the one-shot
algorithms on spaces nobody wrote by hand.

:class:`GeneratedSpace` takes a JSON-like ``spec`` and builds, on ``(N, 1, 8, 8)`` images, a stem,
a list of blocks and a linear head, all at one width that may itself be a choice shared by every
layer. The blocks are the public primitives, the way users combine them:

- ``{"kind": "layer", "label": L, "ops": [...], "nested": bool}``: a LayerChoice over mutable
  convolutions (width-shared, a kernel-size choice ``kernel``), plain layers and, with
  ``nested``, a candidate holding a LayerChoice of its own; blocks sharing a label share one
  decision (their candidate lists must match, and do: the spec repeats them);
- ``{"kind": "input", "label": L, "chosen": k, "reduction": r}``: an InputChoice over every
  state so far (``n_chosen`` may exceed 1);
- ``{"kind": "repeat", "label": L, "depths": [..]}``: a Repeat of conv blocks with a depth choice
  (a block's hidden width may be a choice of its own: ``hidden``);
- ``{"kind": "cell", "label": L, "nodes": n, "ops_per_node": k, "merge": m}``: a Cell whose
  edges choose among a convolution, an average pool and the identity;
- ``{"kind": "value", "kernel": [..]}``: a mutable convolution whose kernel size is a choice.

:func:`space_specs` is the Hypothesis strategy drawing such specs (Hypothesis is imported only
there, so the module imports without it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

import archspace as asp

OPS = ("conv3", "conv1", "kconv", "relu", "pool", "widen")


def _width(spec: Mapping[str, Any]) -> Any:
    widths = list(spec["width"])
    return widths[0] if len(widths) == 1 else asp.choice("width", widths)


class _Hidden(nn.Module):
    """conv(w -> h) -> batch norm -> ReLU -> conv(h -> w): ``h`` a choice masks the middle channels."""

    def __init__(self, width: Any, hidden: Any) -> None:
        super().__init__()
        self.inner = asp.nn.Conv2d(width, hidden, 1)
        self.norm = asp.nn.BatchNorm2d(hidden)
        self.outer = asp.nn.Conv2d(hidden, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.outer(torch.relu(self.norm(self.inner(x))))
        return out


class _Nested(nn.Module):
    """A candidate that holds a decision of its own (a LayerChoice nested in a LayerChoice)."""

    def __init__(self, width: Any, label: str) -> None:
        super().__init__()
        self.conv = asp.nn.Conv2d(width, width, 3, padding=1)
        self.act = asp.LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label=label)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.conv(x))
        return out


def _op(name: str, width: Any, label: str) -> nn.Module:
    if name == "conv3":
        return asp.nn.Conv2d(width, width, 3, padding=1)
    if name == "conv1":
        return nn.Sequential(asp.nn.Conv2d(width, width, 1), asp.nn.BatchNorm2d(width))
    if name == "kconv":
        k = asp.choice(f"{label}_kernel", [1, 3])
        return asp.nn.Conv2d(width, width, k, padding=k // 2)
    if name == "relu":
        return nn.ReLU()
    if name == "pool":
        return nn.AvgPool2d(3, 1, 1)
    if name == "widen":
        return _Hidden(width, asp.choice(f"{label}_hidden", [2, 4]))
    raise ValueError(f"unknown op {name!r}; known: {list(OPS)}")


class _Block(nn.Module):
    def __init__(self, width: Any, hidden: Any) -> None:
        super().__init__()
        self.body = _Hidden(width, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.body(x)
        return out


class _BlockFactory:
    """The blocks of a Repeat: ``factory(index)`` builds one."""

    def __init__(self, width: Any, hidden: Any) -> None:
        self.width, self.hidden = width, hidden

    def __call__(self, index: int) -> nn.Module:
        return _Block(self.width, self.hidden)


def _cell_ops(width: Any) -> dict[str, nn.Module]:
    return {"conv": nn.Sequential(nn.ReLU(), asp.nn.Conv2d(width, width, 3, padding=1, bias=False),
                                  asp.nn.BatchNorm2d(width)),
            "pool": nn.AvgPool2d(3, 1, 1), "skip": nn.Identity()}


class GeneratedSpace(asp.ModelSpace):
    """The space a ``spec`` describes (see the module docstring)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        width = _width(spec)
        self.stem = asp.nn.Conv2d(1, width, 3, padding=1)
        blocks: list[nn.Module] = []
        self.kinds = [block["kind"] for block in spec["blocks"]]
        for i, block in enumerate(spec["blocks"]):
            kind = block["kind"]
            if kind == "layer":
                ops: dict[str, nn.Module] = {name: _op(name, width, block["label"]) for name in block["ops"]}
                if block.get("nested"):
                    ops["nested"] = _Nested(width, f"{block['label']}_inner")
                blocks.append(asp.LayerChoice(ops, label=block["label"]))
            elif kind == "input":
                blocks.append(asp.InputChoice(i + 1, block["chosen"], block["reduction"], label=block["label"]))
            elif kind == "repeat":
                hidden = block.get("hidden", [4])
                h = hidden[0] if len(hidden) == 1 else asp.choice(f"{block['label']}_hidden", hidden)
                depths = list(block["depths"])
                blocks.append(asp.Repeat(_BlockFactory(width, h), range(depths[0], depths[-1] + 1),
                                         label=block["label"]))
            elif kind == "cell":
                blocks.append(asp.Cell(lambda node, k, source: _cell_ops(width), block["nodes"], block["ops_per_node"],
                                       1, block["merge"], label=block["label"]))
                blocks.append(asp.nn.Conv2d(width, width, 1))
            elif kind == "value":
                k = asp.choice(block["label"], block["kernel"])
                blocks.append(asp.nn.Conv2d(width, width, k, padding=k // 2))
            else:
                raise ValueError(f"unknown block kind {kind!r}")
        self.blocks = nn.ModuleList(blocks)
        self.head = asp.nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [self.stem(x)]
        blocks = iter(self.blocks)
        for kind in self.kinds:
            block = next(blocks)
            if kind == "input":
                out = block(list(states))
            elif kind == "cell":
                # The nodes' sum, not their concatenation: a layer reading a concatenation of
                # channel-masked states would see the active channels interleaved in the
                # supernet but contiguous in the subnet (see the README's one-shot limits).
                merged = block([states[-1]])
                out = next(blocks)(sum(merged.split(states[-1].shape[1], dim=1)))
            else:
                out = block(states[-1])
            states.append(out)
        result: torch.Tensor = self.head(states[-1].mean((2, 3)))
        return result


def example_input(batch: int = 4) -> torch.Tensor:
    """An input batch for every generated space."""
    return torch.randn(batch, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def space_specs(max_blocks: int = 4) -> Any:
    """Hypothesis strategy of specs for :class:`GeneratedSpace`."""
    from hypothesis import strategies as st

    @st.composite
    def specs(draw: Any) -> dict[str, Any]:
        width = draw(st.sampled_from([[4], [4, 8]]))
        count = draw(st.integers(1, max_blocks))
        blocks: list[dict[str, Any]] = []
        layer_labels: dict[str, dict[str, Any]] = {}
        for i in range(count):
            kind = draw(st.sampled_from(["layer", "layer", "input", "repeat", "cell", "value"]))
            if kind == "layer":
                if layer_labels and draw(st.booleans()):  # the same decision again: a shared label
                    blocks.append(dict(draw(st.sampled_from(sorted(layer_labels.values(), key=str)))))
                    continue
                ops = draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=3, unique=True))
                nested = draw(st.booleans()) if len(ops) < 3 else False
                if len(ops) == 1 and not nested:
                    ops.append("relu" if ops[0] != "relu" else "conv3")
                block = {"kind": "layer", "label": f"op{i}", "ops": ops, "nested": nested}
                layer_labels[block["label"]] = block
            elif kind == "input":
                chosen = draw(st.integers(1, max(1, min(2, i + 1))))
                block = {"kind": "input", "label": f"in{i}", "chosen": chosen,
                         "reduction": draw(st.sampled_from(["sum", "mean"]))}
            elif kind == "repeat":
                block = {"kind": "repeat", "label": f"rep{i}",
                         "depths": draw(st.sampled_from([[1, 2], [0, 1], [1, 2, 3]])),
                         "hidden": draw(st.sampled_from([[4], [2, 4]]))}
            elif kind == "cell":
                block = {"kind": "cell", "label": f"cell{i}", "nodes": draw(st.integers(1, 2)),
                         "ops_per_node": draw(st.integers(1, 2)), "merge": draw(st.sampled_from(["all", "loose_end"]))}
            else:
                block = {"kind": "value", "label": f"k{i}", "kernel": draw(st.sampled_from([[1, 3], [3, 5]]))}
            blocks.append(block)
        return {"width": width, "blocks": blocks}

    return specs()


def describe(spec: Mapping[str, Any]) -> str:
    """A one-line summary of a spec (for failure messages)."""
    parts: Sequence[str] = [f"{b['kind']}:{b.get('label', '')}" for b in spec["blocks"]]
    return f"width {list(spec['width'])}; " + ", ".join(parts)


__all__ = ["OPS", "GeneratedSpace", "describe", "example_input", "space_specs"]
