"""Fisher (Theis et al. 2018; Turner et al., BlockSwap, ICLR 2020) as a whole-network score
(Abdelfattah et al., ICLR 2021).

The Fisher saliency of an output channel ``k`` of a layer estimates the loss increase when the
channel is removed: ``½ · mean_n (Σ_spatial a_nk · ∂L/∂a_nk)²`` with ``a`` the layer's output
activation, on one minibatch. The zero-cost paper assigns each channel's saliency to every weight
of that channel and sums over the weights, so a channel counts once per weight it holds
(``in_channels/groups × kernel size``); this follows it, to stay comparable with its figures.
"""

from __future__ import annotations

import torch
from torch import nn

from archspace.proxies.base import Batch, Proxy, prunable_layers


class Fisher(Proxy):
    """Σ_layers Σ_channels ½·mean_n(Σ_spatial a·∂L/∂a)² × (weights per channel)."""

    name = "fisher"

    def compute(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> float:
        model.train()
        model.zero_grad()
        saliency: dict[int, torch.Tensor] = {}
        handles = []

        def watch(layer: nn.Module) -> None:
            def forward_hook(module: nn.Module, args: object, output: torch.Tensor) -> None:
                if not output.requires_grad:
                    return
                act = output.detach()

                def grad_hook(grad: torch.Tensor) -> None:
                    product = act * grad  # channels: dim 1 of a convolution's output, the last of a linear's
                    if isinstance(module, nn.Linear):
                        product = product.reshape(len(product), -1, product.shape[-1]).sum(1)
                    elif product.dim() > 2:
                        product = product.sum(dim=tuple(range(2, product.dim())))
                    per_channel = product
                    value = per_channel.pow(2).mean(0).mul(0.5)
                    saliency[id(layer)] = saliency[id(layer)] + value if id(layer) in saliency else value

                output.register_hook(grad_hook)

            handles.append(layer.register_forward_hook(forward_hook))

        layers = list(prunable_layers(model))
        for layer in layers:
            watch(layer)
        try:
            batch.loss(model).backward()
        finally:
            for handle in handles:
                handle.remove()
        total = 0.0
        for layer in layers:
            if id(layer) in saliency:
                per_weight = layer.weight[0].numel()
                total += float(saliency[id(layer)].sum()) * per_weight
        return total


__all__ = ["Fisher"]
