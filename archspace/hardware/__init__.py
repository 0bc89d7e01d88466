"""Hardware-side measures of architectures: parameters and FLOPs (latency and ONNX later)."""

from __future__ import annotations

from archspace.hardware.counting import count_flops, count_params
from archspace.hardware.latency import LatencyTable, LatencyTableError, LatencyTableMismatch, measure_networks
from archspace.hardware.onnx import compare_onnx, export_onnx, onnx_session, run_onnx
from archspace.hardware.profile import Profile, Profiler, profile

__all__ = ["LatencyTable", "LatencyTableError", "LatencyTableMismatch", "Profile", "Profiler",
           "compare_onnx", "count_flops", "count_params", "export_onnx", "measure_networks", "onnx_session", "profile",
           "run_onnx"]
