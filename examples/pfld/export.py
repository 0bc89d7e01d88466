"""Export the fine-tuned PFLD subnet to ONNX and time it with ONNX Runtime (step 3 of 3).

The model is exported in eval mode, where it returns the landmarks alone (the auxiliary angle
net is training-only and is not in the file), with a free batch dimension; its outputs are
checked against PyTorch's, and ONNX Runtime's latency at batch 1 on this machine is printed (the
median of ``--repeats`` runs at a fixed thread count), with the file's size.

    python examples/pfld/export.py --subnet runs/pfld/subnet/subnet.pt --output runs/pfld/subnet.onnx
    python examples/pfld/export.py --smoke --subnet /tmp/pfld/subnet/subnet.pt
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from archspace.hardware import compare_onnx, export_onnx, onnx_session  # noqa: E402
from archspace.hub import PFLD  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subnet", required=True, help="subnet.pt written by retrain.py")
    parser.add_argument("--output", help="the ONNX file (default: subnet.onnx next to --subnet)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="few timed runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.warmup = 10, 2
    state = torch.load(args.subnet, weights_only=True)
    space = PFLD(**state["config"])
    model = space.freeze(state["sample"])
    model.load_state_dict(state["weights"])
    model.eval()
    size = state["config"]["input_size"]
    example = torch.rand(1, 3, size, size)
    path = Path(args.output) if args.output else Path(args.subnet).with_name("subnet.onnx")
    export_onnx(model, path, example)
    worst = compare_onnx(model, path, example)
    session = onnx_session(path, threads=args.threads)
    feed = {session.get_inputs()[0].name: example.numpy().astype(np.float32)}
    for _ in range(args.warmup):
        session.run(None, feed)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        outputs = session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    result = {"onnx": str(path), "kb": path.stat().st_size / 1024, "outputs": [list(o.shape) for o in outputs],
              "ms": statistics.median(times), "threads": args.threads, "repeats": args.repeats,
              "max_abs_diff": worst, "sample": state["sample"]}
    print(f"ONNX model: {path} ({result['kb']:.0f} KB), output shape {result['outputs'][0]}, "
          f"largest difference from PyTorch {worst:.2e}")
    print(f"ONNX Runtime latency: {result['ms']:.3f} ms (median of {args.repeats} runs at batch 1, "
          f"{args.threads} thread(s), this machine)")
    path.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
