"""Generate large, realistic TF1-style training graphs for mgstore's benchmarks, without TensorFlow.

Benchmarks need MetaGraphDefs shaped like what TensorFlow 1.x code exports for real training jobs:
ref variables with their initializer subgraphs and colocation attrs, forward layers, the gradient
subgraph of ``tf.gradients``, GradientDescent updates, a Saver and the usual collections. Writing
them with mgstore's own protobuf classes keeps the generator fast and TensorFlow-free. Node for
node, the output equals what TensorFlow 2.21 writes for the same model in graph mode (names, op,
inputs, attrs, ``_output_shapes``, op list); ``bench/validate_with_tf.py`` checks that.

The model is a residual MLP on ``x: [batch, 784]``: ``blocks`` blocks ``block_i/dense`` compute
``relu(h @ kernel + bias)``, in stages of ``STAGE`` blocks; the first block of a stage changes the
width, the others add a shortcut (``block_i/dense/add``). Variables live on 4 ps tasks, compute on
2 GPUs. ``make_graph(2000)``: 80,049 nodes, 20.9 MB. CLI: ``python bench/generate.py --help``.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

from graphwriter import (
    FALSE,
    FLOAT,
    INT32,
    INT64,
    TRUE,
    GraphWriter,
    Shape,
    a_bool,
    a_class,
    a_int,
    a_int32s,
    a_shape,
    a_shapes,
    a_str,
    a_tensor,
    a_type,
    variable_def,
)

from mgstore.proto import AttrValue, MetaGraphDef, NodeDef

TF_VERSION = "2.21.0"
TF_GIT_VERSION = "v2.21.0-rc1-5-ga481b10260d"
INPUT_WIDTH = 784
WIDTHS = (256, 384, 512, 768, 1024)  # layer widths a stage may pick
STAGE = 4  # blocks per stage: one width-changing block, then STAGE - 1 residual blocks
PS_TASKS = 4
GPUS = 2
LEARNING_RATE = 0.01


@dataclass
class _Block:
    """One dense block's names and sizes, shared by its forward and gradient parts."""

    index: int
    fan_in: int
    fan_out: int
    h_in: str  # the block's input tensor (previous block's output, or x)
    residual: bool

    @property
    def scope(self) -> str:
        return f"block_{self.index}/dense"

    @property
    def device(self) -> str:
        return f"/job:worker/task:0/device:GPU:{self.index % GPUS}"

    @property
    def ps(self) -> str:
        return f"/job:ps/task:{self.index % PS_TASKS}/device:CPU:0"

    @property
    def h_out(self) -> str:
        return f"{self.scope}/add" if self.residual else f"{self.scope}/Relu"


def _forward(w: GraphWriter, b: _Block) -> None:
    """Kernel and bias variables (glorot-uniform and zeros initializers) and the layer ops."""
    kernel, bias, f = f"{b.scope}/kernel", f"{b.scope}/bias", a_type(FLOAT)
    cls, shape = a_class(kernel), (b.fan_in, b.fan_out)
    init = f"{kernel}/Initializer/random_uniform"
    limit = math.sqrt(6.0 / (b.fan_in + b.fan_out))
    w.const(f"{init}/shape", INT32, a_int32s(*shape), _class=cls)
    w.const(f"{init}/min", FLOAT, a_tensor(FLOAT, (), float_val=[-limit]), _class=cls)
    w.const(f"{init}/max", FLOAT, a_tensor(FLOAT, (), float_val=[limit]), _class=cls)
    w.add(
        f"{init}/RandomUniform",
        "RandomUniform",
        [f"{init}/shape"],
        T=a_type(INT32),
        dtype=f,
        seed=a_int(0),
        seed2=a_int(0),
        _output_shapes=a_shapes(shape),
        _class=cls,
    )
    w.add(
        f"{init}/sub",
        "Sub",
        [f"{init}/max", f"{init}/min"],
        T=f,
        _output_shapes=a_shapes(()),
        _class=cls,
    )
    w.add(
        f"{init}/mul",
        "Mul",
        [f"{init}/RandomUniform", f"{init}/sub"],
        T=f,
        _output_shapes=a_shapes(shape),
        _class=cls,
    )
    w.add(
        init,
        "AddV2",
        [f"{init}/mul", f"{init}/min"],
        T=f,
        _output_shapes=a_shapes(shape),
        _class=cls,
    )
    w.variable(kernel, shape, FLOAT, b.ps, init, cls)
    zeros, cls = f"{bias}/Initializer/zeros", a_class(bias)
    w.const(zeros, FLOAT, a_tensor(FLOAT, (b.fan_out,), float_val=[0.0]), _class=cls)
    w.variable(bias, (b.fan_out,), FLOAT, b.ps, zeros, cls)
    rows, dev = a_shapes((-1, b.fan_out)), b.device
    w.add(
        f"{b.scope}/MatMul",
        "MatMul",
        [b.h_in, f"{kernel}/read"],
        dev,
        T=f,
        _output_shapes=rows,
        transpose_a=FALSE,
        transpose_b=FALSE,
        grad_a=FALSE,
        grad_b=FALSE,
    )
    w.add(
        f"{b.scope}/BiasAdd",
        "BiasAdd",
        [f"{b.scope}/MatMul", f"{bias}/read"],
        dev,
        T=f,
        data_format=a_str("NHWC"),
        _output_shapes=rows,
    )
    w.add(f"{b.scope}/Relu", "Relu", [f"{b.scope}/BiasAdd"], dev, T=f, _output_shapes=rows)
    if b.residual:
        w.add(f"{b.scope}/add", "AddV2", [f"{b.scope}/Relu", b.h_in], dev, T=f, _output_shapes=rows)


def _backward(
    w: GraphWriter, b: _Block, grad: str, addn: int, colocate: bool
) -> tuple[str, dict[str, str]]:
    """The block's gradient ops; ``grad`` is the gradient flowing into ``h_out``.

    With ``colocate`` (``colocate_gradients_with_ops=True``) each gradient op gets its forward
    op's device and ``_class``; otherwise only tuple Identities and AddN carry a ``_class``.
    Returns the gradient of ``h_in`` and the gradient tensor of each variable.
    """
    s, g, f, i32 = b.scope, f"gradients/{b.scope}", a_type(FLOAT), a_type(INT32)
    dev = b.device if colocate else ""
    rows_in, rows_out, kernel = (-1, b.fan_in), (-1, b.fan_out), (b.fan_in, b.fan_out)

    def near(forward: str) -> dict[str, AttrValue]:
        return {"_class": a_class(f"{s}/{forward}")} if colocate else {}

    def tuple_(scope: str, outputs: list[str], shapes: list[Shape], forward: str) -> list[str]:
        classes = [a_class(f"{s}/{forward}" if colocate else out) for out in outputs]
        return w.tuple_(scope, outputs, shapes, classes, dev)

    if b.residual:
        a = f"{g}/add_grad"
        for name, source in (("Shape", f"{s}/Relu"), ("Shape_1", b.h_in)):
            w.shape_of(
                f"{a}/{name}", source, dev, T=f, _output_shapes=a_shapes((2,)), **near("add")
            )
        w.add(
            f"{a}/BroadcastGradientArgs",
            "BroadcastGradientArgs",
            [f"{a}/Shape", f"{a}/Shape_1"],
            dev,
            T=i32,
            _output_shapes=a_shapes((-1,), (-1,)),
            **near("add"),
        )
        for suffix, port in (("", ""), ("_1", ":1")):
            w.add(
                f"{a}/Sum{suffix}",
                "Sum",
                [grad, f"{a}/BroadcastGradientArgs{port}"],
                dev,
                T=f,
                Tidx=i32,
                keep_dims=TRUE,
                _output_shapes=a_shapes((-1, -1)),
                **near("add"),
            )
            w.add(
                f"{a}/Reshape{suffix}",
                "Reshape",
                [f"{a}/Sum{suffix}", f"{a}/Shape{suffix}"],
                dev,
                T=f,
                Tshape=i32,
                _output_shapes=a_shapes(rows_out),
                _has_manual_control_dependencies=TRUE,
                **near("add"),
            )
        grad, shortcut = tuple_(a, [f"{a}/Reshape", f"{a}/Reshape_1"], [rows_out, rows_out], "add")
    relu_grad, bias_grad = f"{g}/Relu_grad/ReluGrad", f"{g}/BiasAdd_grad/BiasAddGrad"
    w.add(
        relu_grad,
        "ReluGrad",
        [grad, f"{s}/Relu"],
        dev,
        T=f,
        _output_shapes=a_shapes(rows_out),
        _has_manual_control_dependencies=TRUE,
        **near("Relu"),
    )
    w.add(
        bias_grad,
        "BiasAddGrad",
        [relu_grad],
        dev,
        T=f,
        data_format=a_str("NHWC"),
        _output_shapes=a_shapes((b.fan_out,)),
        _has_manual_control_dependencies=TRUE,
        **near("BiasAdd"),
    )
    back, d_bias = w.tuple_(
        f"{g}/BiasAdd_grad",
        [relu_grad, bias_grad],
        [rows_out, (b.fan_out,)],
        [
            a_class(f"{s}/Relu" if colocate else relu_grad),
            a_class(f"{s}/BiasAdd" if colocate else bias_grad),
        ],
        dev,
    )
    m = f"{g}/MatMul_grad"
    for name, inputs, transpose_a in (
        ("MatMul", [back, f"{s}/kernel/read"], False),
        ("MatMul_1", [b.h_in, back], True),
    ):
        w.add(
            f"{m}/{name}",
            "MatMul",
            inputs,
            dev,
            T=f,
            transpose_a=a_bool(transpose_a),
            transpose_b=a_bool(not transpose_a),
            grad_a=a_bool(not transpose_a),
            grad_b=a_bool(transpose_a),
            _has_manual_control_dependencies=TRUE,
            _output_shapes=a_shapes(kernel if transpose_a else rows_in),
            **near("MatMul"),
        )
    d_in, d_kernel = tuple_(m, [f"{m}/MatMul", f"{m}/MatMul_1"], [rows_in, kernel], "MatMul")
    if b.residual:  # h_in feeds both MatMul and the shortcut: TensorFlow sums the two gradients
        total = "gradients/AddN" + (f"_{addn}" if addn else "")
        w.add(
            total,
            "AddN",
            [shortcut, d_in],
            dev,
            N=a_int(2),
            T=f,
            _output_shapes=a_shapes(rows_in),
            _class=a_class(f"{s}/add" if colocate else f"{g}/add_grad/Reshape_1"),
        )
        d_in = total
    return d_in, {f"{s}/kernel": d_kernel, f"{s}/bias": d_bias}


def _loss_and_head_gradient(w: GraphWriter, h: str, width: int, colocate: bool) -> str:
    """``loss = tf.reduce_mean(h)`` and its gradient (``Mean_grad``), as TensorFlow 2.21 emits."""
    f, i32 = a_type(FLOAT), a_type(INT32)
    near = {"_class": a_class("Mean")} if colocate else {}
    w.const("Const", INT32, a_int32s(0, 1))
    w.add("Mean", "Mean", [h, "Const"], T=f, Tidx=i32, keep_dims=FALSE, _output_shapes=a_shapes(()))
    w.const("gradients/Shape", INT32, a_tensor(INT32, (0,)), **near)
    w.const("gradients/grad_ys_0/Const", FLOAT, a_tensor(FLOAT, (), float_val=[1.0]), **near)
    w.add(
        "gradients/grad_ys_0",
        "Fill",
        ["gradients/Shape", "gradients/grad_ys_0/Const"],
        T=f,
        index_type=i32,
        _output_shapes=a_shapes(()),
        **near,
    )
    m = "gradients/Mean_grad"
    w.const(f"{m}/Reshape/shape", INT32, a_int32s(1, 1), **near)
    w.add(
        f"{m}/Reshape",
        "Reshape",
        ["gradients/grad_ys_0", f"{m}/Reshape/shape"],
        T=f,
        Tshape=i32,
        _output_shapes=a_shapes((1, 1)),
        **near,
    )
    for name in ("Shape", "Shape_1"):
        w.shape_of(f"{m}/{name}", h, T=f, _output_shapes=a_shapes((2,)), **near)
        if name == "Shape":
            w.add(
                f"{m}/Tile",
                "Tile",
                [f"{m}/Reshape", f"{m}/Shape"],
                T=f,
                Tmultiples=i32,
                _output_shapes=a_shapes((-1, width)),
                **near,
            )
    w.const(f"{m}/Size", INT32, a_tensor(INT32, (), int_val=[2]), **near)
    vec2 = a_shapes((2,))
    w.add(f"{m}/add", "AddV2", ["Const", f"{m}/Size"], T=i32, _output_shapes=vec2, **near)
    w.add(f"{m}/mod", "FloorMod", [f"{m}/add", f"{m}/Size"], T=i32, _output_shapes=vec2, **near)
    w.const(f"{m}/GatherV2/axis", INT32, a_tensor(INT32, (), int_val=[0]), **near)
    w.add(
        f"{m}/GatherV2",
        "GatherV2",
        [f"{m}/Shape_1", f"{m}/mod", f"{m}/GatherV2/axis"],
        Tparams=i32,
        Tindices=i32,
        Taxis=i32,
        batch_dims=a_int(0),
        _output_shapes=vec2,
        **near,
    )
    w.const(f"{m}/Const", INT32, a_tensor(INT32, (1,), int_val=[0]), **near)
    w.add(
        f"{m}/Prod",
        "Prod",
        [f"{m}/GatherV2", f"{m}/Const"],
        T=i32,
        Tidx=i32,
        keep_dims=FALSE,
        _output_shapes=a_shapes(()),
        **near,
    )
    w.add(
        f"{m}/Cast",
        "Cast",
        [f"{m}/Prod"],
        SrcT=i32,
        DstT=f,
        Truncate=FALSE,
        _output_shapes=a_shapes(()),
        **near,
    )
    w.add(
        f"{m}/truediv",
        "RealDiv",
        [f"{m}/Tile", f"{m}/Cast"],
        T=f,
        _output_shapes=a_shapes((-1, width)),
        **near,
    )
    return f"{m}/truediv"


def _optimizer(w: GraphWriter, grads: dict[str, str]) -> None:
    """``GradientDescentOptimizer.minimize(loss, global_step)``'s update ops and train op."""
    w.const("GradientDescent/learning_rate", FLOAT, a_tensor(FLOAT, (), float_val=[LEARNING_RATE]))
    updates: dict[str, list[str]] = {}
    for var in (v for v in w.variables if v.trainable):
        name = f"GradientDescent/update_{var.name}/ApplyGradientDescent"
        w.add(
            name,
            "ApplyGradientDescent",
            [var.name, "GradientDescent/learning_rate", grads[var.name]],
            var.device,
            T=a_type(var.dtype),
            use_locking=FALSE,
            _output_shapes=a_shapes(var.dims),
            _has_manual_control_dependencies=TRUE,
            _class=a_class(var.name),
        )
        updates.setdefault(var.device, []).append(name)
    w.group("GradientDescent/update", updates, _has_manual_control_dependencies=TRUE)
    cls = a_class("global_step")
    w.add(
        "GradientDescent/value",
        "Const",
        ["^GradientDescent/update"],
        dtype=a_type(INT64),
        value=a_tensor(INT64, (), int64_val=[1]),
        _output_shapes=a_shapes(()),
        _class=cls,
    )
    w.add(
        "GradientDescent",
        "AssignAdd",
        ["global_step", "GradientDescent/value"],
        T=a_type(INT64),
        use_locking=FALSE,
        _output_shapes=a_shapes(()),
        _class=cls,
    )


def _stage_widths(stages: int, seed: int) -> list[int]:
    """Each stage's width, chosen by ``seed``; consecutive stages always differ."""
    rng, widths = random.Random(seed), [INPUT_WIDTH]
    for _ in range(stages):
        widths.append(rng.choice([x for x in WIDTHS if x != widths[-1]]))
    return widths[1:]


def make_graph(blocks: int = 2000, seed: int = 0, colocate_gradients: bool = False) -> MetaGraphDef:
    """A TF1-style training MetaGraphDef with ``blocks`` dense blocks; ``seed`` picks widths."""
    w = GraphWriter()
    cls = a_class("global_step")
    w.const("global_step/Initializer/zeros", INT64, a_tensor(INT64, (), int64_val=[0]), _class=cls)
    w.variable("global_step", (), INT64, "", "global_step/Initializer/zeros", cls, trainable=False)
    w.add(
        "x",
        "Placeholder",
        dtype=a_type(FLOAT),
        shape=a_shape(-1, INPUT_WIDTH),
        _output_shapes=a_shapes((-1, INPUT_WIDTH)),
    )
    widths = _stage_widths((blocks + STAGE - 1) // STAGE, seed)
    chain: list[_Block] = []
    h, width = "x", INPUT_WIDTH
    for i in range(blocks):
        fan_out = widths[i // STAGE]
        chain.append(_Block(i, width, fan_out, h, residual=fan_out == width))
        _forward(w, chain[-1])
        h, width = chain[-1].h_out, fan_out
    grad = _loss_and_head_gradient(w, h, width, colocate_gradients)
    grads: dict[str, str] = {}
    addn = 0
    for block in reversed(chain):
        grad, block_grads = _backward(w, block, grad, addn, colocate_gradients)
        addn += block.residual
        grads.update(block_grads)
    _optimizer(w, grads)
    meta = MetaGraphDef()
    meta.saver_def.CopyFrom(w.saver())
    meta.graph_def.CopyFrom(w.graph)
    info = meta.meta_info_def
    info.stripped_op_list.CopyFrom(w.op_list())
    info.tensorflow_version, info.tensorflow_git_version = TF_VERSION, TF_GIT_VERSION
    collections = meta.collection_def
    collections["variables"].bytes_list.value.extend(variable_def(v) for v in w.variables)
    collections["trainable_variables"].bytes_list.value.extend(
        variable_def(v) for v in w.variables if v.trainable
    )
    collections["global_step"].bytes_list.value.append(variable_def(w.variables[0]))
    collections["train_op"].node_list.value.append("GradientDescent")
    return meta


def _other_device(device: str, rng: random.Random) -> str:
    """A plausible re-placement: another ps task, the other GPU, or CPU pinning toggled."""
    if device.startswith("/job:ps/task:"):
        task = int(device.split("/")[2].split(":")[1])
        new = rng.choice([t for t in range(PS_TASKS) if t != task])
        return f"/job:ps/task:{new}/device:CPU:0"
    if "/device:GPU:" in device:
        gpu = int(device.rsplit(":", 1)[1])
        return device.rsplit(":", 1)[0] + f":{(gpu + 1) % GPUS}"
    return "" if device else "/job:worker/task:0/device:CPU:0"


def _mutate_node(node: NodeDef, rng: random.Random) -> None:
    """Change one node the way a new training run's export differs, keeping the graph valid."""
    if node.op == "Const" and node.attr["dtype"].type == FLOAT:  # init range, lr, bias init
        values = node.attr["value"].tensor.float_val
        old = values[0]
        values[0] = old * rng.choice((0.5, 0.8, 1.25, 2.0)) if old else rng.choice((0.01, 0.1))
    elif node.op == "RandomUniform":  # an op-level seed was set
        node.attr["seed"].i = rng.randrange(1, 2**31)
        node.attr["seed2"].i = rng.randrange(1, 2**31)
    elif node.op in ("Assign", "AssignAdd", "ApplyGradientDescent"):
        node.attr["use_locking"].b = not node.attr["use_locking"].b
    else:
        node.device = _other_device(node.device, rng)


def mutate(meta: MetaGraphDef, fraction: float = 0.01, seed: int = 0) -> MetaGraphDef:
    """A copy of ``meta`` with ``round(fraction * nodes)`` distinct nodes changed.

    Changes are realistic version-to-version edits (a retuned Const, a seed, a locking flag, a
    device move); node names, inputs, count and order stay the same, so the graph stays valid.
    """
    result = MetaGraphDef()
    result.CopyFrom(meta)
    nodes = result.graph_def.node
    rng = random.Random(seed)
    for index in sorted(rng.sample(range(len(nodes)), round(fraction * len(nodes)))):
        _mutate_node(nodes[index], rng)
    return result


def main(argv: list[str] | None = None) -> None:
    """CLI: write a generated graph and, optionally, successive mutated versions of it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output .meta file (binary MetaGraphDef)")
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--versions", type=int, default=0, help="mutated versions to write")
    parser.add_argument("--versions-dir", type=Path, help="where versions go (default: beside out)")
    parser.add_argument("--fraction", type=float, default=0.01, help="nodes changed per version")
    parser.add_argument(
        "--colocate-gradients",
        action="store_true",
        help="as minimize(colocate_gradients_with_ops=True): bigger, ~22.6 MB",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    meta = make_graph(args.blocks, args.seed, args.colocate_gradients)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write(args.out, meta, time.perf_counter() - start)
    directory = args.versions_dir or args.out.parent
    directory.mkdir(parents=True, exist_ok=True)
    for k in range(1, args.versions + 1):
        start = time.perf_counter()
        meta = mutate(meta, args.fraction, seed=args.seed * 1000 + k)
        _write(
            directory / f"{args.out.stem}.v{k:03d}{args.out.suffix}",
            meta,
            time.perf_counter() - start,
        )


def _write(path: Path, meta: MetaGraphDef, seconds: float) -> None:
    """Serialize deterministically (stable bytes for a given seed) and report."""
    start = time.perf_counter()
    data = meta.SerializeToString(deterministic=True)
    path.write_bytes(data)
    print(
        f"{path}: {len(meta.graph_def.node)} nodes, {len(data)} bytes (built in {seconds:.2f} s,"
        f" written in {time.perf_counter() - start:.2f} s)"
    )


if __name__ == "__main__":
    main()
