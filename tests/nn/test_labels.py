from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import archspace as asp
from archspace.errors import DuplicateLabelError
from archspace.testing import CellNet, NestedNet, SharedNet


def test_shared_labels_make_one_decision() -> None:
    space = SharedNet()
    assert list(space.search_space()) == ["width", "act"]
    model = space.freeze({"width": 8, "act": "tanh"})
    assert isinstance(model.act1, nn.Tanh) and isinstance(model.act2, nn.Tanh)
    assert model.conv2.out_channels == 16 and model.head.in_features == 16  # width * 2 everywhere


def test_conflicting_duplicate_labels_name_both_places() -> None:
    class Clash(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.a = asp.LayerChoice([nn.ReLU(), nn.Tanh()], label="act")
            self.b = asp.LayerChoice([nn.ReLU(), nn.Tanh(), nn.GELU()], label="act")

    with pytest.raises(DuplicateLabelError, match=r"'act'.*\[0, 1\] at 'a'.*\[0, 1, 2\] at 'b'"):
        Clash()

    class ClashValues(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.a = asp.nn.Linear(2, asp.choice("w", [2, 4]))
            self.b = asp.nn.Linear(2, asp.choice("w", [2, 8]))

    with pytest.raises(DuplicateLabelError, match=r"'w'.*'a' \(written at .*test_labels.py:\d+\).*'b'"):
        ClashValues()


def test_nested_decisions_record_their_condition() -> None:
    space = NestedNet().search_space()
    assert space.condition("outer").is_always
    assert space.is_active("inner_kernel", {"outer": "nested"})
    assert not space.is_active("inner_kernel", {"outer": "plain"})
    assert space.is_active("stack.1", {"stack": 2}) and not space.is_active("stack.1", {"stack": 1})


def test_shared_label_active_anywhere_is_active() -> None:
    class Mixed(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.top = asp.LayerChoice([nn.ReLU(), nn.Tanh()], label="act")
            self.branch = asp.LayerChoice(
                {"a": nn.Identity(), "b": asp.LayerChoice([nn.ReLU(), nn.Tanh()], label="act")}, label="br"
            )

    assert Mixed().search_space().condition("act").is_always


AUTO_LABELS = (
    "from archspace.testing import CellNet, NestedNet; "
    "print(list(NestedNet().search_space()) + list(CellNet().search_space()))"
)


def test_auto_labels_are_module_paths_and_stable_across_processes() -> None:
    labels = list(NestedNet().search_space()) + list(CellNet().search_space())
    assert "stack" in labels and "stack.1" in labels and "pick" in labels and "cell1/op_2_0" in labels
    runs = [subprocess.run([sys.executable, "-c", AUTO_LABELS], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] == f"{labels}\n"


def test_choice_arithmetic_resolves_on_freeze() -> None:
    class Arith(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            w = asp.choice("w", [8, 16])
            e = asp.choice("e", [1, 2])
            self.up = asp.nn.Linear(4, w * e)
            self.down = asp.nn.Linear(w * e, w // 4 + e)
            self.norm = asp.nn.LayerNorm(w // 4 + e)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(self.down(self.up(x)))

    space = Arith()
    assert space.up.out_features == 32  # space form holds the largest weight
    model = space.freeze({"w": 16, "e": 1})
    assert type(model.up) is nn.Linear and model.up.out_features == 16
    assert model.down.out_features == 5 and model.norm.normalized_shape == (5,)
    assert model(torch.randn(2, 4)).shape == (2, 5)


def test_cellnet_labels_use_explicit_prefix() -> None:
    labels = list(CellNet().search_space())
    assert "second/input_4_1" in labels and "cell1/input_4_1" in labels


def test_user_module_may_keep_a_choice_for_forward() -> None:
    class Dropper(asp.ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            self.p = asp.choice("p", [0.0, 0.5])
            self.fc = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.dropout(self.fc(x), self.p, self.training)

    space = Dropper()
    assert list(space.search_space()) == ["p"]
    assert space.freeze({"p": 0.5}).p == 0.5
