"""The YOLO blocks: codes named after Ultralytics' modules, each a block of other codes.

A block code's entry gives, for the input shape and its resolved arguments, the chain of
codes it stands for (:class:`~cnndsl.layers.core.BlockText`); the checker expands each use
where the input shape is known, so that the checked model, the backends, the emitters and
ONNX see only the codes of the chain. Each call of a chain is marked with the path of the
Ultralytics module it computes (``cv1``, ``m.0``; a ``CONV`` makes ``conv``, ``bn`` and
``act``), so that every expanded layer carries its path inside the block (``m.0.cv1.conv``)
and weights port by name.

The arithmetic follows Ultralytics' modules: a convolution pads ``k // 2`` on both sides
(its ``autopad``), so a convolution that TensorFlow's ``same`` would pad unevenly (a stride
or an even kernel) is ``ZP`` then a ``valid`` convolution; batch norm has epsilon 1e-3 and
PyTorch momentum 0.03 (Keras's 0.97); the activation is SiLU; hidden widths are
``int(filters * e)``, and a bottleneck adds its input only where its input has its width.
"""

from __future__ import annotations

import math

from cnndsl.layers.core import (
    ACTIVATIONS,
    MAX_UNITS,
    MAX_WINDOW,
    BlockText,
    LayerType,
    Param,
    Torch,
    at,
    block_text,
    choice,
    count,
    flag,
    real,
    size,
)
from cnndsl.shapes import ShapeProblem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from cnndsl.shapes import Shape

MAX_REPEATS = 1000
"""Most repeated modules (``n``) a block takes."""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _hidden(args: Mapping) -> int:
    return int(args["filters"] * args["e"])


def _hidden_args(args: Mapping) -> str | tuple[str, str] | None:
    """A block whose hidden width ``int(filters * e)`` is 0 has no layers to make."""
    if _hidden(args) < 1:
        return (
            f"the hidden width int(filters * e) = int({args['filters']} * {args['e']:g}) is 0",
            "give more filters or a larger e",
        )
    return None


# --- CONV, DWCONV ---------------------------------------------------------------------------


def conv_chain(filters: int, kernel: int, strides: int, groups: int, dilation: int, activation: str) -> str:
    """Ultralytics' Conv in core codes, marked with its modules' paths: convolution without bias
    (padded ``k // 2`` on both sides), batch norm, activation."""
    reach = dilation * (kernel - 1) + 1
    conv = f"CN({filters}, {kernel}, {strides}, padding={{}}, activation=linear, dilation={dilation}, bias=false"
    conv += f", groups={groups})" if groups > 1 else ")"
    if strides == 1 and reach % 2 == 1:  # TensorFlow's same pads (reach - 1) / 2 on both sides: autopad's
        parts = [at("conv", conv.format("same"))]
    else:
        pad = [at("conv", f"ZP({reach // 2})")] if reach // 2 else []
        parts = [*pad, at("conv", conv.format("valid"))]
    parts.append(at("bn", "BN(momentum=0.97, epsilon=0.001)"))
    if activation != "linear":
        parts.append(at("act", f"ACT({activation})"))
    return " -> ".join(parts)


def _conv(shape: Shape, args: Mapping) -> BlockText:
    a = args
    return block_text(conv_chain(a["filters"], a["kernel"], a["strides"], a["groups"], a["dilation"], a["activation"]))


def _conv_args(args: Mapping) -> str | None:
    if args["filters"] % args["groups"]:
        return f"filters ({args['filters']}) must be a multiple of groups ({args['groups']})"
    return None


def _dwconv(shape: Shape, args: Mapping) -> BlockText:
    a = args
    groups = math.gcd(shape[-1], a["filters"])
    return block_text(conv_chain(a["filters"], a["kernel"], a["strides"], groups, a["dilation"], a["activation"]))


# --- BOTTLENECK, C3, C3K, C2F, C3K2 ---------------------------------------------------------


def _bottleneck(shape: Shape, args: Mapping) -> BlockText:
    a = args
    hidden, (first, second) = _hidden(a), a["kernels"]
    groups = f", groups={a['groups']}" if a["groups"] > 1 else ""
    cv1, cv2 = at("cv1", f"CONV({hidden}, {first})"), at("cv2", f"CONV({a['filters']}, {second}{groups})")
    body = f"{cv1} -> {cv2}"
    if a["shortcut"] and shape[-1] == a["filters"]:
        return block_text(f"ADD(ID() | {body})")
    return block_text(body)


def _cross_stage(args: Mapping, bottleneck: str) -> BlockText:
    """C3 and C3K: ``cv1`` then ``n`` bottlenecks, beside ``cv2``; both concatenated into ``cv3``."""
    hidden = _hidden(args)
    chain = " -> ".join(at(f"m.{i}", bottleneck.format(hidden)) for i in range(args["n"]))
    cv1, cv2 = at("cv1", f"CONV({hidden}, 1)"), at("cv2", f"CONV({hidden}, 1)")
    cv3 = at("cv3", f"CONV({args['filters']}, 1)")
    return block_text(f"CAT({cv1} -> {chain} | {cv2}) -> {cv3}")


def _c3(shape: Shape, args: Mapping) -> BlockText:
    return _cross_stage(args, f"BOTTLENECK({{}}, {_flag(args['shortcut'])}, {args['groups']}, (1, 3), 1.0)")


def _c3k(shape: Shape, args: Mapping) -> BlockText:
    k = args["kernel"]
    return _cross_stage(args, f"BOTTLENECK({{}}, {_flag(args['shortcut'])}, {args['groups']}, ({k}, {k}), 1.0)")


def _split(args: Mapping, module: str) -> BlockText:
    """C2F and C3K2: ``cv1`` split in two halves, the second through ``n`` modules one after the other,
    every module's output kept; all of them concatenated into ``cv2``."""
    hidden, n = _hidden(args), args["n"]
    branches = ["ID()"]
    for i in range(n):
        start = f"SL({hidden}, {2 * hidden})" if i == 0 else f"@m{i - 1}"
        named = f" as m{i}" if i < n - 1 else ""
        branches.append(f"{start} -> {at(f'm.{i}', module.format(hidden))}{named}")
    cv1, cv2 = at("cv1", f"CONV({2 * hidden}, 1)"), at("cv2", f"CONV({args['filters']}, 1)")
    return block_text(f"{cv1} -> CAT({' | '.join(branches)}) -> {cv2}")


def _c2f(shape: Shape, args: Mapping) -> BlockText:
    return _split(args, f"BOTTLENECK({{}}, {_flag(args['shortcut'])}, {args['groups']}, (3, 3), 1.0)")


def _c2(shape: Shape, args: Mapping) -> BlockText:
    """C2: ``cv1`` split in halves, ``n`` bottlenecks on the first, concatenated with the second into ``cv2``."""
    hidden = _hidden(args)
    module = f"BOTTLENECK({hidden}, {_flag(args['shortcut'])}, {args['groups']}, (3, 3), 1.0)"
    chain = " -> ".join(at(f"m.{i}", module) for i in range(args["n"]))
    cv1, cv2 = at("cv1", f"CONV({2 * hidden}, 1)"), at("cv2", f"CONV({args['filters']}, 1)")
    return block_text(f"{cv1} -> CAT(SL(0, {hidden}) -> {chain} | SL({hidden}, {2 * hidden})) -> {cv2}")


def _c3k2(shape: Shape, args: Mapping) -> BlockText:
    shortcut, groups = _flag(args["shortcut"]), args["groups"]
    if args["c3k"]:
        return _split(args, f"C3K({{}}, 2, {shortcut}, {groups})")
    return _split(args, f"BOTTLENECK({{}}, {shortcut}, {groups})")


# --- SPPF ---------------------------------------------------------------------------------


def _sppf(shape: Shape, args: Mapping) -> BlockText:
    hidden = shape[-1] // 2
    if hidden < 1:
        raise ShapeProblem(
            f"SPPF's hidden width is the input's channels // 2, and the input has {shape[-1]} channel",
            "give SPPF an input of at least 2 channels",
        )
    pool = at("m", f"MP({args['kernel']}, strides=1, padding=same)")
    cv1 = at("cv1", f"CONV({hidden}, 1, activation={args['activation']})")
    cv2 = at("cv2", f"CONV({args['filters']}, 1)")
    return block_text(f"{cv1} -> CAT(ID() | {pool} as p1 | @p1 -> {pool} as p2 | @p2 -> {pool}) -> {cv2}")


def _sppf_args(args: Mapping) -> str | None:
    if args["kernel"] % 2 == 0:
        return f"SPPF's kernel must be odd (its pooling pads kernel // 2 on both sides), not {args['kernel']}"
    return None


# --- PSA, C2PSA ----------------------------------------------------------------------------


def psa_block(channels: int, heads: int, prefix: str, name: str) -> str:
    """Ultralytics' PSABlock on ``channels`` (attention ratio 0.5), marked with its modules' paths under
    ``prefix``: position-sensitive attention (``attn``: ``qkv``, ``pe``, ``proj``) added to its input, then
    the feed-forward (``ffn.0``, ``ffn.1``) added to its input. ``name`` keeps its tensors' names apart."""
    head = channels // heads
    key = int(head * 0.5)

    def conv(path: str, text: str) -> str:
        return at(".".join(part for part in (prefix, path) if part), text)

    qkv, v = f"qkv{name}", f"v{name}"
    query = f"@{qkv} -> SL(0, {key}, groups={heads})"
    keys = f"@{qkv} -> SL({key}, {2 * key}, groups={heads})"
    attention = (
        f"{conv('attn.qkv', f'CONV({channels + 2 * key * heads}, 1, activation=linear)')} as {qkv}"
        f" -> SL({2 * key}, {2 * key + head}, groups={heads}) as {v}"
        f" -> ADD(ATT({query} | {keys} | @{v}, heads={heads})"
        f" | {conv('attn.pe', f'CONV({channels}, 3, groups={channels}, activation=linear)')})"
        f" -> {conv('attn.proj', f'CONV({channels}, 1, activation=linear)')}"
    )
    ffn = f"{conv('ffn.0', f'CONV({2 * channels}, 1)')} -> {conv('ffn.1', f'CONV({channels}, 1, activation=linear)')}"
    return f"ADD(ID() | {attention}) -> ADD(ID() | {ffn})"


def _psa_heads(hidden: int) -> int:
    """Ultralytics' head count for a PSA block on ``hidden`` channels: one per 64 channels, at least one."""
    return max(hidden // 64, 1)


def _psa_input(shape: Shape, args: Mapping, code: str) -> int:
    if shape[-1] != args["filters"]:
        raise ShapeProblem(
            f"{code} keeps its input's width: its input has {shape[-1]} channels, and filters is {args['filters']}",
            f"give {code} filters={shape[-1]}, or bring the input to {args['filters']} channels first",
        )
    hidden = _hidden(args)
    if hidden // _psa_heads(hidden) < 2:
        raise ShapeProblem(f"{code}'s hidden width {hidden} leaves its attention no key channels", "give a larger e")
    return hidden


def _psa(shape: Shape, args: Mapping) -> BlockText:
    hidden = _psa_input(shape, args, "PSA")
    inner = psa_block(hidden, _psa_heads(hidden), "", "")
    cv1, cv2 = at("cv1", f"CONV({2 * hidden}, 1)"), at("cv2", f"CONV({args['filters']}, 1)")
    return block_text(f"{cv1} -> CAT(SL(0, {hidden}) | SL({hidden}, {2 * hidden}) -> {inner}) -> {cv2}")


def _c2psa(shape: Shape, args: Mapping) -> BlockText:
    hidden = _psa_input(shape, args, "C2PSA")
    heads = _psa_heads(hidden)
    blocks = " -> ".join(psa_block(hidden, heads, f"m.{i}", str(i)) for i in range(args["n"]))
    cv1, cv2 = at("cv1", f"CONV({2 * hidden}, 1)"), at("cv2", f"CONV({args['filters']}, 1)")
    return block_text(f"{cv1} -> CAT(SL(0, {hidden}) | SL({hidden}, {2 * hidden}) -> {blocks}) -> {cv2}")


# --- the entries --------------------------------------------------------------------------

_AS_EXPANDED = Torch(unread="a block: its layers are built, and read back, as the codes it expands to")
_FILTERS = Param("filters", count(1, MAX_UNITS), scaled="width")
_N = Param("n", count(1, MAX_REPEATS), 1, scaled="depth")
_E = Param("e", real(0, 64, low_open=True), 0.5)
_GROUPS = Param("groups", count(1, MAX_UNITS), 1)
_KERNEL = Param("kernel", count(1, MAX_WINDOW), 1)
_STRIDES = Param("strides", count(1, MAX_WINDOW), 1)
_DILATION = Param("dilation", count(1, MAX_WINDOW), 1)
_ACTIVATION = Param("activation", choice(ACTIVATIONS), "silu")


def _block(code: str, summary: str, params: tuple[Param, ...], expand, check_args, example: dict, note: str):
    return LayerType(code, "a block", summary, params, input_rank=4, check_args=check_args, block=expand,
                     torch=_AS_EXPANDED, example=example, note=note)  # fmt: skip


YOLO_BLOCKS = (
    _block("CONV", "Ultralytics' Conv: convolution without bias, batch norm, SiLU",
           (_FILTERS, _KERNEL, _STRIDES, _GROUPS, _DILATION, _ACTIVATION), _conv, _conv_args, {"filters": 4},
           ": `CN(filters, kernel, strides, bias=false)` padded `kernel // 2` on both sides (`ZP` first where "
           "TensorFlow's `same` would not), `BN(momentum=0.97)`, `ACT(activation)` (none for `linear`); "
           "paths `conv`, `bn`, `act`"),
    _block("DWCONV", "Ultralytics' DWConv: a CONV grouped by gcd(input channels, filters)",
           (_FILTERS, _KERNEL, _STRIDES, _DILATION, _ACTIVATION), _dwconv, lambda args: None, {"filters": 4},
           ": `CONV(filters, kernel, strides, groups=gcd(input channels, filters))`; paths `conv`, `bn`, `act`"),
    _block("BOTTLENECK", "Ultralytics' Bottleneck: two CONVs, added to the input where the widths agree",
           (_FILTERS, Param("shortcut", flag, True), _GROUPS, Param("kernels", size(2), (3, 3)), _E),
           _bottleneck, _hidden_args, {"filters": 4},
           ": `CONV(int(filters * e), kernels[0]) -> CONV(filters, kernels[1], groups=groups)` (`cv1`, `cv2`), "
           "inside `ADD(ID() | ...)` when `shortcut` and the input has `filters` channels"),
    _block("C3", "Ultralytics' C3: n bottlenecks beside a 1x1 CONV, concatenated, then a 1x1 CONV",
           (_FILTERS, _N, Param("shortcut", flag, True), _GROUPS, _E), _c3, _hidden_args, {"filters": 4},
           ": hidden width `int(filters * e)`; `cv1` then `n` BOTTLENECKs with kernels (1, 3) and e=1 "
           "(`m.0`, ...), beside `cv2`, concatenated into `cv3`"),
    _block("C3K", "Ultralytics' C3k: a C3 whose bottlenecks have kernel x kernel convolutions",
           (_FILTERS, _N, Param("shortcut", flag, True), _GROUPS, _E, Param("kernel", count(1, MAX_WINDOW), 3)),
           _c3k, _hidden_args, {"filters": 4},
           ": C3 with BOTTLENECKs of kernels (kernel, kernel)"),
    _block("C2F", "Ultralytics' C2f: a 1x1 CONV split in halves, n bottlenecks on the second, all concatenated",
           (_FILTERS, _N, Param("shortcut", flag, False), _GROUPS, _E), _c2f, _hidden_args, {"filters": 4},
           ": hidden width `c = int(filters * e)`; `cv1` makes 2c channels, the last c go through `n` "
           "BOTTLENECKs (e=1, `m.0`, ...), and `cv1`'s output and every bottleneck's are concatenated into `cv2`"),
    _block("C2", "Ultralytics' C2: a 1x1 CONV split in halves, n bottlenecks on the first, concatenated",
           (_FILTERS, _N, Param("shortcut", flag, True), _GROUPS, _E), _c2, _hidden_args, {"filters": 4},
           ": hidden width `c = int(filters * e)`; `cv1` makes 2c channels, the first c go through `n` "
           "BOTTLENECKs (e=1, `m.0`, ...), concatenated with the last c into `cv2`"),
    _block("C3K2", "Ultralytics' C3k2: a C2F whose modules are BOTTLENECKs, or C3Ks with c3k=true",
           (_FILTERS, _N, Param("c3k", flag, False), _E, _GROUPS, Param("shortcut", flag, True)),
           _c3k2, _hidden_args, {"filters": 4},
           ": C2F's structure; each module `m.i` is `BOTTLENECK(c, shortcut, groups)` (e=0.5), "
           "or `C3K(c, 2, shortcut, groups)` with `c3k=true`"),
    _block("SPPF", "Ultralytics' SPPF: a 1x1 CONV, three chained max pools, concatenated, a 1x1 CONV",
           (_FILTERS, Param("kernel", count(1, MAX_WINDOW), 5), _ACTIVATION), _sppf, _sppf_args, {"filters": 4},
           ": `cv1` halves the input's channels (its activation `activation`: YOLOv8's and YOLO11's SiLU; "
           "`linear` for the unactivated form), `MP(kernel, strides=1, padding=same)` three times (`m`), the "
           "four concatenated into `cv2`"),
    _block("PSA", "Ultralytics' PSA: a 1x1 CONV split in halves, attention and a feed-forward on the second",
           (_FILTERS, _E), _psa, _hidden_args, {"filters": 4},
           ": hidden width `c = int(filters * e)`, `max(c // 64, 1)` heads; `cv1`, then on its last c channels "
           "`ATT` of a `CONV` to query, key and value (`attn.qkv`) plus a depthwise `CONV` of the value "
           "(`attn.pe`), projected (`attn.proj`), and a feed-forward (`ffn.0`, `ffn.1`), each added to its "
           "input; concatenated with the first c into `cv2`; the input must have `filters` channels"),
    _block("C2PSA", "Ultralytics' C2PSA: a 1x1 CONV split in halves, n PSA blocks on the second",
           (_FILTERS, _N, _E), _c2psa, _hidden_args, {"filters": 4},
           ": PSA's structure with `n` attention-and-feed-forward blocks (`m.0`, ...); "
           "the input must have `filters` channels"),
)  # fmt: skip
"""Ultralytics' blocks, each defined as a chain of other codes."""
