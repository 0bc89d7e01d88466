"""Hardware-side measures of architectures: parameters and FLOPs (latency and ONNX later)."""

from __future__ import annotations

from archspace.hardware.counting import count_flops, count_params

__all__ = ["count_flops", "count_params"]
