"""Diagrams of the two networks, drawn from the graph that ``ezgan.model`` builds.

``network_layers(inputs, outputs)`` walks the ops between two tensors of a built graph and turns
the ones that matter (convolution, fully connected, bias, batch norm, activation, pooling,
reshape, resize) into a list of ``Layer`` rows with the static output shape of each. The
notebooks print that list and ``draw_network`` draws it as boxes and arrows with matplotlib, so a
change to the model changes its diagram.
"""
import dataclasses
import math

import numpy as np

COLORS = {
    "input": "#e0e0e0", "fully connected": "#9ecae1", "convolution": "#6baed6", "reshape": "#f0f0f0",
    "batch norm": "#fdd0a2", "ReLU": "#c7e9c0", "sigmoid": "#a1d99b", "average pool": "#dadaeb",
    "bilinear resize": "#fcbba1",
}


@dataclasses.dataclass
class Layer:
    """One step of a network: what it does, the op that ends it, its output shape, its parameters."""
    kind: str
    detail: str
    op_name: str
    shape: tuple
    parameters: int = 0

    @property
    def tensor_name(self):
        return f"{self.op_name}:0"

    def shape_text(self):
        return "(" + ", ".join("batch" if dim is None else str(dim) for dim in self.shape) + ")"


def _shape(tensor):
    return tuple(tensor.shape.as_list())


def _size(shape):
    return int(np.prod([dim for dim in shape if dim is not None]))


def _between(inputs, outputs):
    """Names of the ops on a path from ``inputs`` to ``outputs``."""
    ancestors, stack = set(), [outputs.op]
    while stack:
        op = stack.pop()
        if op.name not in ancestors:
            ancestors.add(op.name)
            stack.extend(tensor.op for tensor in op.inputs)
    descendants, stack = set(), [inputs.op]
    while stack:
        op = stack.pop()
        if op.name not in descendants:
            descendants.add(op.name)
            stack.extend(consumer for tensor in op.outputs for consumer in tensor.consumers())
    return ancestors & descendants


def network_layers(inputs, outputs):
    """The layers from tensor ``inputs`` to tensor ``outputs`` of a built graph, in order.

    The first row is the input itself. A bias added right after a convolution or a matrix product
    is folded into that row (its parameters counted there), as is the rest of batch norm's
    arithmetic into one "batch norm" row.
    """
    on_path = _between(inputs, outputs)
    layers = [Layer("input", inputs.op.name, inputs.op.name, _shape(inputs))]
    for op in inputs.graph.get_operations():
        if op.name not in on_path or op is inputs.op:
            continue
        out = op.outputs[0] if op.outputs else None
        if op.type == "Conv2D":
            kh, kw, _, filters = _shape(op.inputs[1])
            stride, plural = op.get_attr("strides")[1], "s" if filters != 1 else ""
            layers.append(Layer("convolution", f"{kh}x{kw}, stride {stride}, {filters} filter{plural}", op.name,
                                _shape(out), _size(_shape(op.inputs[1]))))
        elif op.type == "MatMul":
            units_in, units_out = _shape(op.inputs[1])
            layers.append(Layer("fully connected", f"{units_in} -> {units_out}", op.name, _shape(out),
                                units_in * units_out))
        elif op.type == "BiasAdd":
            last = layers[-1]
            last.detail += " + bias"
            last.parameters += _size(_shape(op.inputs[1]))
            last.op_name, last.shape = op.name, _shape(out)
        elif op.type == "AddV2" and op.name.endswith("/batchnorm/add_1"):
            channels = _shape(out)[-1]
            layers.append(Layer("batch norm", "batch statistics, offset beta only", op.name, _shape(out),
                                channels))
        elif op.type in ("Relu", "Sigmoid"):
            layers.append(Layer("ReLU" if op.type == "Relu" else "sigmoid", "", op.name, _shape(out)))
        elif op.type == "AvgPool":
            size, stride = op.get_attr("ksize")[1], op.get_attr("strides")[1]
            layers.append(Layer("average pool", f"{size}x{size}, stride {stride}", op.name, _shape(out)))
        elif op.type == "Reshape":
            layers.append(Layer("reshape", "", op.name, _shape(out)))
        elif op.type == "ResizeBilinear":
            layers.append(Layer("bilinear resize", "", op.name, _shape(out)))
    return layers


def format_layers(layers):
    """A text table: one line per layer with its output shape and parameter count."""
    width = max(len(f"{layer.kind} {layer.detail}".strip()) for layer in layers)
    lines = [f"{'layer':<{width}}  {'output shape':<22} {'parameters':>10}"]
    for layer in layers:
        lines.append(f"{f'{layer.kind} {layer.detail}'.strip():<{width}}  {layer.shape_text():<22} "
                     f"{layer.parameters:>10,}")
    lines.append(f"{'total':<{width}}  {'':<22} {sum(layer.parameters for layer in layers):>10,}")
    return "\n".join(lines)


def draw_network(layers, title=None, ax=None):
    """Boxes and arrows, top to bottom: one box per layer, what it does and its output shape beside it.

    A box's width grows with the logarithm of the number of values its output holds per example,
    so the eye sees where the network widens and narrows.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.5 * len(layers) + 0.8))
    sizes = [max(_size(layer.shape), 1) for layer in layers]
    largest = math.log(max(sizes) + 1)
    for row, (layer, size) in enumerate(zip(layers, sizes)):
        y = -row
        width = 1.7 + 1.1 * math.log(size + 1) / largest
        ax.add_patch(FancyBboxPatch((-width / 2, y - 0.3), width, 0.6,
                                    boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor=COLORS.get(layer.kind, "white"), edgecolor="#333333", linewidth=1))
        ax.text(0, y, layer.kind, ha="center", va="center", fontsize=9)
        ax.text(1.75, y, layer.detail, ha="left", va="center", fontsize=8.5, color="#333333")
        plural = "" if layer.parameters == 1 else "s"
        params = f"  {layer.parameters:,} parameter{plural}" if layer.parameters else ""
        ax.text(7.2, y, f"{layer.shape_text()}{params}", ha="left", va="center", fontsize=8.5,
                family="monospace", color="#333333")
        if row:
            ax.annotate("", xy=(0, y + 0.3), xytext=(0, y + 0.7),
                        arrowprops=dict(arrowstyle="-|>", color="#333333", linewidth=1))
    ax.text(1.75, 0.75, "what it does", fontsize=9, weight="bold")
    ax.text(7.2, 0.75, "output shape, parameters", fontsize=9, weight="bold")
    ax.set_xlim(-1.5, 13.0)
    ax.set_ylim(-len(layers) + 0.5, 1.1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def draw_gan(real_image=None, fake_image=None, ax=None):
    """The whole game in one picture: noise -> G -> image -> D <- real image, and the three losses.

    ``real_image`` and ``fake_image`` (28x28 arrays in [0, 1]) are drawn as the two images D looks
    at; without them the boxes stay empty.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4.6))

    def box(x, y, width, height, text, color):
        ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                    boxstyle="round,pad=0.02,rounding_size=0.15",
                                    facecolor=color, edgecolor="#333333", linewidth=1.2))
        ax.text(x, y, text, ha="center", va="center", fontsize=10)

    def arrow(start, end, label=None, offset=(0, 0.18)):
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="#333333", linewidth=1.2))
        if label:
            ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], label,
                    ha="center", va="bottom", fontsize=8.5, color="#333333")

    def picture(x, y, image, caption):
        size = 0.9
        if image is not None:
            ax.imshow(1 - np.asarray(image), cmap="gray", vmin=0, vmax=1,
                      extent=(x - size / 2, x + size / 2, y - size / 2, y + size / 2), zorder=2)
        ax.add_patch(plt.Rectangle((x - size / 2, y - size / 2), size, size, fill=False, edgecolor="#333333"))
        ax.text(x, y - size / 2 - 0.12, caption, ha="center", va="top", fontsize=9)

    box(0.75, 2.6, 1.4, 0.8, "noise z\n(100 numbers)", COLORS["input"])
    box(2.6, 2.6, 1.4, 0.9, "generator G", COLORS["convolution"])
    picture(4.6, 2.6, fake_image, "G(z): a fake digit")
    picture(4.6, 0.6, real_image, "x: a real MNIST digit")
    box(7.0, 1.6, 1.6, 1.0, "discriminator D", COLORS["fully connected"])
    box(9.8, 2.6, 2.0, 0.8, "D(G(z))\nfake called real?", COLORS["sigmoid"])
    box(9.8, 0.6, 2.0, 0.8, "D(x)\nreal called real?", COLORS["sigmoid"])
    arrow((1.45, 2.6), (1.9, 2.6))
    arrow((3.3, 2.6), (4.15, 2.6))
    arrow((5.05, 2.5), (6.2, 1.8))
    arrow((5.05, 0.7), (6.2, 1.4))
    arrow((7.8, 1.8), (8.8, 2.45))
    arrow((7.8, 1.4), (8.8, 0.75))
    ax.text(9.8, 3.1, "G's loss: wants D(G(z)) = 1\nD's fake loss: wants D(G(z)) = 0", ha="center", va="bottom",
            fontsize=9, color="#08519c")
    ax.text(9.8, 0.1, "D's real loss: wants D(x) = 1", ha="center", va="top", fontsize=9, color="#08519c")
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.5, 3.9)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax.figure
