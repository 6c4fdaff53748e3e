"""Convert MediaPipe's BlazePose person detector (``pose_detection.tflite``) into a safetensors file for torch.

The detector (Apache-2.0) ships inside the ``mediapipe`` PyPI wheel (no hub download). This converter runs
once, in an environment with the TFLite reference interpreter and flatbuffer parser — not a dependency of
the project::

    pip download mediapipe==0.10.14 --no-deps -d /tmp/mp
    python -m venv /tmp/litert
    /tmp/litert/bin/pip install ai-edge-litert tflite safetensors numpy opencv-python-headless
    PYTHONPATH=src /tmp/litert/bin/python -m stereosync.extract.blaze_convert \\
        /tmp/mp/mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl \\
        src/stereosync/weights/blaze_pose_detector.safetensors \\
        --reference tests/data/blaze_pose_reference.npz \\
        --frames tests/data/market_street/*.jpg tests/data/bikes_0120.jpg

It writes every constant of the graph (the float16 weights, densified and dequantized by the interpreter
itself) and the list of compute operations with their options (JSON in the file's metadata), which
:mod:`stereosync.extract.blaze_pose` executes in torch. ``--reference`` stores the interpreter's raw outputs
on the given frames (letterboxed as :func:`stereosync.extract.blaze_pose.letterbox` does); ``python -m
stereosync.extract.blaze_pose --check <reference>`` compares torch with them. Only numpy, cv2, ``tflite``,
``ai_edge_litert`` and ``safetensors`` are imported here (no torch).
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mediapipe/modules/pose_detection/pose_detection.tflite"
SOURCE = "mediapipe 0.10.14 wheel (PyPI), " + MEMBER + " (Apache-2.0, Google LLC)"
COMPUTE = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "ADD",
    "PAD",
    "RESHAPE",
    "DEPTH_TO_SPACE",
    "RESIZE_BILINEAR",
    "CONCATENATION",
}
FOLDED = {"DEQUANTIZE", "DENSIFY"}  # constant-in, constant-out: their outputs are stored as weights


def letterbox_np(frame: np.ndarray, size: int = 224) -> np.ndarray:
    """RGB frame (H, W, 3) uint8 -> (size, size, 3) uint8: resized (area) to fit, centred, mid-grey (128) around.

    MediaPipe's input convention (aspect kept, zero padding in the [-1, 1] value range); the model input is
    ``x / 127.5 - 1``.
    """
    import cv2

    h, w = frame.shape[:2]
    scale = size / max(h, w)
    nw, nh = round(w * scale), round(h * scale)
    out = np.full((size, size, 3), 128, np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py : py + nh, px : px + nw] = cv2.resize(np.ascontiguousarray(frame), (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def read_model(path: str | Path) -> bytes:
    """The .tflite bytes from a .tflite file or from the mediapipe wheel."""
    path = Path(path)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            if MEMBER not in z.namelist():
                raise SystemExit(f"{path}: no {MEMBER} in this wheel (expected mediapipe 0.10.x)")
            return z.read(MEMBER)
    return path.read_bytes()


def _options(op, name: str) -> dict:
    import tflite

    act = {0: "none", 1: "relu", 3: "relu6"}

    def activation(o):
        a = o.FusedActivationFunction()
        if a not in act:
            raise SystemExit(f"unsupported fused activation {a} in {name}")
        return act[a]

    table = op.BuiltinOptions()
    pad = {tflite.Padding.SAME: "same", tflite.Padding.VALID: "valid"}
    if name == "CONV_2D":
        o = tflite.Conv2DOptions()
        o.Init(table.Bytes, table.Pos)
        if (o.DilationHFactor(), o.DilationWFactor()) != (1, 1):
            raise SystemExit("dilated CONV_2D is not supported")
        return {"stride": [o.StrideH(), o.StrideW()], "padding": pad[o.Padding()], "act": activation(o)}
    if name == "DEPTHWISE_CONV_2D":
        o = tflite.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        if (o.DilationHFactor(), o.DilationWFactor()) != (1, 1) or o.DepthMultiplier() not in (0, 1):
            raise SystemExit("dilated or multiplied DEPTHWISE_CONV_2D is not supported")
        return {"stride": [o.StrideH(), o.StrideW()], "padding": pad[o.Padding()], "act": activation(o)}
    if name == "ADD":
        o = tflite.AddOptions()
        o.Init(table.Bytes, table.Pos)
        return {"act": activation(o)}
    if name == "CONCATENATION":
        o = tflite.ConcatenationOptions()
        o.Init(table.Bytes, table.Pos)
        return {"axis": o.Axis(), "act": activation(o)}
    if name == "DEPTH_TO_SPACE":
        o = tflite.DepthToSpaceOptions()
        o.Init(table.Bytes, table.Pos)
        return {"block": o.BlockSize()}
    if name == "RESIZE_BILINEAR":
        o = tflite.ResizeBilinearOptions()
        o.Init(table.Bytes, table.Pos)
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    return {}


def convert(model: bytes) -> tuple[dict[str, np.ndarray], list[dict], dict]:
    """(constants by name, compute ops in execution order, io) of the detector graph."""
    import tflite
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
    it.invoke()
    m = tflite.Model.GetRootAsModel(model, 0)
    g = m.Subgraphs(0)
    names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    produced = {int(t) for i in range(g.OperatorsLength()) for t in g.Operators(i).OutputsAsNumpy()}
    folded: set[int] = set()
    ops, consts = [], {}
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = m.OperatorCodes(op.OpcodeIndex())
        name = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = [int(t) for t in op.InputsAsNumpy()]
        outs = [int(t) for t in op.OutputsAsNumpy()]
        if name in FOLDED:
            folded.update(outs)
            continue
        if name not in COMPUTE:
            raise SystemExit(f"operation {name} is not supported by stereosync.extract.blaze_pose")
        for t in ins:
            if t >= 0 and (t in folded or t not in produced) and t != int(inp["index"]):
                consts[f"t{t}"] = np.asarray(it.get_tensor(t))
        ops.append({"op": name, "in": [f"t{t}" if t >= 0 else None for t in ins], "out": f"t{outs[0]}"})
        ops[-1].update(_options(op, name))
    outs = it.get_output_details()
    io = {
        "input": f"t{int(inp['index'])}",
        "size": int(inp["shape"][1]),
        "regressors": next(f"t{o['index']}" for o in outs if o["shape"][-1] > 1),
        "scores": next(f"t{o['index']}" for o in outs if o["shape"][-1] == 1),
    }
    return consts, ops, io


def reference(model: bytes, frames: list[str]) -> dict[str, np.ndarray]:
    """Letterboxed inputs (uint8) and the reference interpreter's raw outputs on ``frames`` (image files)."""
    import cv2
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(
        model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    outs = {("regressors" if o["shape"][-1] > 1 else "scores"): o["index"] for o in it.get_output_details()}
    images, reg, cls = [], [], []
    for f in frames:
        img = cv2.imread(str(f))
        if img is None:
            raise SystemExit(f"--frames: cannot read image {f}")
        x = letterbox_np(img[..., ::-1], int(inp["shape"][1]))
        it.set_tensor(inp["index"], (x.astype(np.float32) / 127.5 - 1)[None])
        it.invoke()
        images.append(x)
        reg.append(it.get_tensor(outs["regressors"])[0])
        cls.append(it.get_tensor(outs["scores"])[0])
    return {"inputs": np.stack(images), "regressors": np.stack(reg), "scores": np.stack(cls)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("source", help="the mediapipe wheel or pose_detection.tflite")
    p.add_argument("out", help="output .safetensors")
    p.add_argument("--reference", default=None, help="write the interpreter's outputs on --frames here (.npz)")
    p.add_argument("--frames", nargs="*", default=[], help="image files for --reference")
    args = p.parse_args(argv)
    from safetensors.numpy import save_file

    model = read_model(args.source)
    consts, ops, io = convert(model)
    tensors = {}
    for k, v in consts.items():
        v = np.ascontiguousarray(v)
        lossless = v.dtype == np.float32 and np.array_equal(v.astype(np.float16).astype(np.float32), v)
        tensors[k] = v.astype(np.float16) if lossless else v
    meta = {"graph": json.dumps(ops), "io": json.dumps(io), "source": SOURCE, "license": "Apache-2.0"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, args.out, metadata=meta)
    n = sum(int(v.size) for v in consts.values())
    print(f"{args.out}: {len(ops)} operations, {len(consts)} constants, {n} values")
    if args.reference:
        if not args.frames:
            raise SystemExit("--reference needs --frames")
        np.savez_compressed(args.reference, **reference(model, args.frames))
        print(f"{args.reference}: reference outputs on {len(args.frames)} frames")


if __name__ == "__main__":
    main()
