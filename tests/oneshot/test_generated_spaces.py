"""The one-shot contract over spaces nobody wrote by hand: Hypothesis generates small model spaces
from the public primitives (shared and separate LayerChoices over mutable layers, nested choices,
InputChoices with n_chosen > 1, Repeats with a depth choice, Cells, value choices feeding widths
and kernel sizes) and every registered algorithm must pass :func:`check_user_space` on each.

``ARCHSPACE_ONESHOT_EXAMPLES`` sets the number of spaces per algorithm (CI: 12; ``make
oneshot-fuzz``: 200). A failing example found here becomes a regular test below.
"""

from __future__ import annotations

import functools
import os

import pytest
from hypothesis import HealthCheck, given, settings

from archspace.oneshot import ONESHOT
from archspace.testing.generated import GeneratedSpace, describe, example_input, space_specs
from archspace.testing.oneshot_contracts import check_user_space

EXAMPLES = int(os.environ.get("ARCHSPACE_ONESHOT_EXAMPLES", "12"))


@pytest.mark.parametrize("algorithm", ONESHOT.list())
@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("ARCHSPACE_ONESHOT_RANDOM") is None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=space_specs())
def test_every_algorithm_keeps_the_contract_on_generated_spaces(algorithm: str, spec: dict) -> None:  # type: ignore[type-arg]
    try:
        check_user_space(algorithm, functools.partial(GeneratedSpace, spec), example_input(), 10)
    except Exception as exc:
        raise AssertionError(f"{algorithm} on {describe(spec)}: {exc}\nspec={spec!r}") from exc


# Examples found by the generator, kept as regular tests ---------------------------------------------
SHARED_WIDTH_IN_A_LAYER_CHOICE = {"width": [4, 8], "blocks": [
    {"kind": "layer", "label": "op0", "ops": ["conv3", "kconv"], "nested": False}]}


@pytest.mark.parametrize("algorithm", ONESHOT.list())
def test_a_layer_choice_of_convolutions_sharing_a_width_choice(algorithm: str) -> None:
    """ProxylessNAS's recomputation once drew the width's mix inside a checkpointed op (the crash
    of a two-conv stem); every algorithm keeps the contract on that shape of space."""
    check_user_space(algorithm, functools.partial(GeneratedSpace, SHARED_WIDTH_IN_A_LAYER_CHOICE), example_input(), 10)


ONE_VALUE_INPUT_CHOICE = {"width": [4], "blocks": [{"kind": "input", "label": "in0", "chosen": 1, "reduction": "sum"}]}


@pytest.mark.parametrize("algorithm", ONESHOT.list())
def test_a_space_whose_only_decision_has_one_value(algorithm: str) -> None:
    """Found by ``make oneshot-fuzz``: an InputChoice over one input is a decision with one value;
    its logit cannot move (ProxylessNAS has no weight decay on it) and nothing else may break."""
    check_user_space(algorithm, functools.partial(GeneratedSpace, ONE_VALUE_INPUT_CHOICE), example_input(), 10)


READ_OR_NOT = {"width": [4], "blocks": [{"kind": "input", "label": "in0", "chosen": 1, "reduction": "sum"},
                                        {"kind": "value", "label": "k1", "kernel": [1, 3]},
                                        {"kind": "input", "label": "in2", "chosen": 1, "reduction": "sum"}]}


@pytest.mark.parametrize("algorithm", ONESHOT.list())
def test_a_space_whose_last_choice_may_leave_earlier_ones_unread(algorithm: str) -> None:
    """Found by ``make oneshot-fuzz``: when the last InputChoice's two drawn candidates skip the
    kernel choice's output, one ProxylessNAS step rightly moves no logit; the contract holds."""
    check_user_space(algorithm, functools.partial(GeneratedSpace, READ_OR_NOT), example_input(), 10)
