"""Hardware-side measures of architectures: parameters and FLOPs (latency and ONNX later)."""

from __future__ import annotations

from archspace.hardware.counting import count_flops, count_params
from archspace.hardware.onnx import compare_onnx, export_onnx, onnx_session, run_onnx

__all__ = ["compare_onnx", "count_flops", "count_params", "export_onnx", "onnx_session", "run_onnx"]
