"""The `cnnc` command: a thin click layer over the compiler."""
from __future__ import annotations

import functools
import os
import re
import sys

import click

from .spec.errors import SpecError, SpecErrors, render_all

FORMATS = ("table", "json", "markdown")


def reports_spec_errors(command):
    """A spec error becomes its compiler-style message on stderr and exit 1, never a traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SpecErrors as e:
            click.echo(render_all(e.items), err=True)
            sys.exit(1)
    return wrapper


class InputShape(click.ParamType):
    """`3,32,32`, `3x32x32`, or `name=3,32,32` for a spec with several inputs."""

    name = "SHAPE"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        name, _, dims = value.rpartition("=")
        parts = [p for p in re.split(r"[,x×\s]+", dims.strip()) if p]
        if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
            self.fail(f"'{value}' is not a shape: write positive sizes like 3,224,224 "
                      "(or x=2708,1433 to name an input)", param, ctx)
        return (name or None, tuple(int(p) for p in parts))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cnnc")
def cli():
    """cnnc: check, explain, draw and run neural networks written as YAML."""


@cli.command("compile")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="report MACs and activation memory for this batch size")
@click.option("--input-shape", "input_shapes", type=InputShape(), multiple=True,
              help="override the spec's input shape, e.g. 3,32,32 or x=2708,1433")
@click.option("--depth", type=click.IntRange(min=1), default=None,
              help="fold layers nested deeper than N blocks into one row per block")
@click.option("--plan", is_flag=True, help="also print the fused schedule and the activation memory plan")
@reports_spec_errors
def compile_cmd(spec, fmt, batch, input_shapes, depth, plan):
    """Check SPEC and print shapes, parameters, MACs and receptive fields."""
    from .analysis.report import render
    from .compiler import check

    analysis = check(spec, input_shapes=_named_shapes(spec, input_shapes))
    if analysis.diagnostics.warnings:
        click.echo(render_all(analysis.diagnostics.warnings), err=True)
    click.echo(render(analysis, fmt, batch, depth))
    if plan:
        from .passes.report import plan_text
        click.echo("\n" + plan_text(analysis, batch))


def _named_shapes(spec: str, given) -> dict:
    """--input-shape values keyed by input name; a wrong name or count is a usage error."""
    if not given:
        return {}
    from .spec.errors import Diagnostics
    from .spec.expand import expand
    from .spec.load import load

    names = [inp.name for inp in expand(load(spec), Diagnostics()).inputs]
    if any(name is None for name, _ in given):
        if len(given) > 1 or len(names) != 1:
            raise click.BadParameter(f"the spec's inputs are {', '.join(names)}: name each, e.g. "
                                     f"{names[0] if names else 'x'}=3,32,32", param_hint="--input-shape")
        return {names[0]: given[0][1]}
    for name, _ in given:
        if name not in names:
            raise click.BadParameter(f"'{name}' is not an input of the spec; its inputs are {', '.join(names)}",
                                     param_hint="--input-shape")
    return dict(given)


@cli.command("draw")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="file to write; its suffix (.svg .png .pdf .dot) picks the format")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "pdf", "dot"]), default=None,
              help="override the format the suffix gives")
@click.option("--rankdir", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="top to bottom or left to right")
@click.option("--detail", type=click.Choice(["kinds", "attrs", "shapes", "full"]), default="attrs",
              show_default=True, help="kinds; + attributes; + shapes on edges and parameters; + MACs and RF")
@click.option("--collapse", is_flag=True, help="fold each run of identical repeated blocks into one node ×N")
@click.option("--input-shape", "input_shapes", type=InputShape(), multiple=True,
              help="override the spec's input shape, e.g. 3,32,32 or x=2708,1433")
@reports_spec_errors
def draw_cmd(spec, output, fmt, rankdir, detail, collapse, input_shapes):
    """Draw SPEC as an architecture diagram with Graphviz.

    A spec with errors is drawn as far as it is valid, the failing layers in red, and the
    command exits 1 after printing the same errors as `cnnc compile`."""
    from .compiler import analyse
    from .draw import diagram, render

    fmt = fmt or _format_from_suffix(output)
    analysis = analyse(spec, input_shapes=_named_shapes(spec, input_shapes))
    try:
        data = render(diagram(analysis, detail, rankdir, collapse), fmt)
    except Exception as e:                   # graphviz.ExecutableNotFound, or dot failing
        raise SpecErrors([SpecError(None, _dot_failure(e, output))]) from None
    _write_atomically(output, data)
    if analysis.diagnostics.items:
        click.echo(render_all(analysis.diagnostics.items), err=True)
    if not analysis.ok:
        click.echo(f"drew {output} as far as the spec is valid (failing layers in red)", err=True)
        sys.exit(1)
    click.echo(f"wrote {output}")


def _format_from_suffix(output: str) -> str:
    suffix = output.rsplit(".", 1)[-1].lower() if "." in output else ""
    if suffix not in ("svg", "png", "pdf", "dot"):
        raise click.BadParameter(f"cannot tell the format from '{output}': end it in .svg, .png, .pdf or "
                                 ".dot, or give --format", param_hint="-o")
    return suffix


def _dot_failure(e: Exception, output: str) -> str:
    import graphviz
    if isinstance(e, graphviz.ExecutableNotFound):
        return ("Graphviz's `dot` program is not installed, so only .dot text can be written.\n"
                "  install it: sudo apt-get install graphviz   (Debian/Ubuntu; `bash scripts/setup.sh` does it)\n"
                "              brew install graphviz           (macOS)\n"
                f"  or write the dot text: cnnc draw … -o {output.rsplit('.', 1)[0]}.dot")
    return f"Graphviz's dot failed: {e}"


def _write_atomically(path: str, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a failure never leaves half a file."""
    import os
    import tempfile
    directory = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".cnnc-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as e:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        raise SpecErrors([SpecError(None, f"cannot write {path}: {e.strerror}")]) from None


def fail(message: str, code: int = 1):
    """A user-facing error: the message on stderr, exit 1 — never a traceback."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def user_errors():
    """The exceptions that mean bad input (data, weights, checkpoints), not a bug."""
    from .data import DataError
    from .train.checkpoint import CheckpointError
    from .train.feeds import FeedError
    from .infer import InputError
    from .train.trainer import TrainingError
    return DataError, CheckpointError, FeedError, TrainingError, InputError


@cli.command("train")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", help="dataset name (digits, digits-rows, digits-affine, karate) or a path "
                             "(MNIST IDX directory, .npz); default: the spec's `train: data`, else digits")
@click.option("--epochs", type=click.IntRange(min=1))
@click.option("--batch", type=click.IntRange(min=1))
@click.option("--optimizer", type=click.Choice(["sgd", "rmsprop", "adam"]))
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="learning rate")
@click.option("--momentum", type=click.FloatRange(min=0, max=1))
@click.option("--nesterov/--no-nesterov", default=None)
@click.option("--l1", type=click.FloatRange(min=0))
@click.option("--l2", type=click.FloatRange(min=0))
@click.option("--schedule", type=click.Choice(["constant", "step", "cosine"]))
@click.option("--clip", type=click.FloatRange(min=0), help="global gradient-norm limit")
@click.option("--loss", type=click.Choice(["cross_entropy", "binary_cross_entropy", "mse"]))
@click.option("--patience", type=click.IntRange(min=0), help="early stopping after N epochs without gain")
@click.option("--seed", type=int)
@click.option("--checkpoint", "out_dir", type=click.Path(file_okay=False),
              help="directory for best.npz, last.npz, history.json, curve.png (default runs/<spec name>)")
@click.option("--resume", is_flag=True, help="continue from <checkpoint>/last.npz")
@click.option("--threads", type=click.IntRange(min=1), help="compute threads (default: every core)")
@click.option("--backend", type=click.Choice(["cpu", "reference"]), default="cpu", show_default=True,
              help="cpu: Numba kernels; reference: the NumPy oracle")
@reports_spec_errors
def train_cmd(spec, out_dir, resume, backend, threads, **flags):
    """Train SPEC on a dataset; write checkpoints, history.json and a learning curve."""
    from .compiler import check
    from .data import load_dataset
    from .train.config import from_spec
    from .train.feeds import Feeds
    from .train.trainer import Trainer

    analysis = check(spec)
    config = from_spec(analysis.graph.spec.train).with_overrides(**flags)
    out_dir = out_dir or os.path.join("runs", analysis.name)
    try:
        dataset = load_dataset(config.data, _single_input_shape(analysis), seed=config.seed)
        trainer = Trainer(analysis, Feeds(analysis, dataset), config, out_dir, _backend(backend),
                          report=click.echo, progress=ProgressBar)
        if resume:
            trainer.resume()
        click.echo(f"training {analysis.name} on {dataset.name} ({len(dataset.train.y)} train / "
                   f"{len(dataset.val.y)} val / {len(dataset.test.y)} test) for {config.epochs} epochs, "
                   f"{config.optimizer} lr {config.lr}, batch {config.batch}, backend {backend}")
        with _backend(backend).compute_scope(threads):
            trainer.fit()
            test = trainer.test()
    except user_errors() as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail(f"interrupted; the last complete checkpoint is {os.path.join(out_dir, 'last.npz')} "
             "(continue with --resume)", code=130)
    from .train.plot import plot_history
    plot_history(trainer.history, os.path.join(out_dir, "curve.png"), analysis.name)
    click.echo(f"test: loss {test['loss']:.4f}  acc {test['acc']:.2%}  (best checkpoint {out_dir}/best.npz)")


@cli.command("infer")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--weights", required=True, type=click.Path(exists=True, dir_okay=False),
              help=".npz of PyTorch-named tensors (a cnnc checkpoint, or exported from elsewhere)")
@click.option("--data", help="evaluate on a dataset (name or path) and print loss and accuracy")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help=".npy for a one-input network, or .npz keyed by the spec's input names")
@click.option("--output", "output_path", type=click.Path(dir_okay=False),
              help="write the network's output here (.npy); without it, predictions are printed")
@click.option("--batch", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--backend", type=click.Choice(["cpu", "reference"]), default="cpu", show_default=True,
              help="cpu: Numba kernels; reference: the NumPy oracle")
@click.option("--threads", type=click.IntRange(min=1), help="compute threads (default: every core)")
@reports_spec_errors
def infer_cmd(spec, weights, data, split, input_path, output_path, batch, backend, threads):
    """Run SPEC with trained weights: accuracy on a dataset, or raw arrays in and out."""
    from .compiler import check
    from .infer import Inference

    if (data is None) == (input_path is None):
        raise click.UsageError("give either --data (evaluate on a dataset) or --input (run raw arrays)")
    analysis = check(spec)
    try:
        with _backend(backend).compute_scope(threads):
            run = Inference(analysis, weights, _backend(backend))
            if data is not None:
                from .data import load_dataset
                dataset = load_dataset(data, _single_input_shape(analysis))
                loss, acc = run.evaluate(dataset, split, batch)
                click.echo(f"{analysis.name} on {dataset.name} {split}: loss {loss:.4f}  acc {acc:.2%}  "
                           f"({len(getattr(dataset, split).y)} examples)")
                return
            outputs = run.arrays(input_path, batch)
    except user_errors() as e:
        fail(str(e))
    result = outputs[analysis.graph.outputs[-1]]
    if output_path:
        _write_atomically(output_path, _npy_bytes(result))
        click.echo(f"wrote {output_path}: {result.dtype} array of shape {result.shape}")
    else:
        click.echo("index\tclass\tscore")
        for i, row in enumerate(result.reshape(len(result), -1)):
            click.echo(f"{i}\t{int(row.argmax())}\t{float(row.max()):.4f}")


@cli.command("bench")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--train", is_flag=True, help="time training steps (forward, backward, update)")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--backend", type=click.Choice(["cpu", "reference"]), default="cpu", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="compute threads (default: every core)")
@click.option("--compare", type=click.Choice(["torch"]),
              help="also run the network in PyTorch (same weights, threads, batch, float32), a step each "
                   "in turn, and print the ratios")
@reports_spec_errors
def bench_cmd(spec, train, batch, repeat, backend, fmt, threads, compare):
    """Time SPEC per layer against the machine's measured FP32 peak."""
    import json

    from .bench import bench, table
    from .compiler import check
    from cnnc.runtime.cpu.peak import fp32_peak_gflops

    rival = _rival(compare) if compare else None
    analysis = check(spec)
    try:
        with _backend(backend).compute_scope(threads):
            peak = fp32_peak_gflops()                # on the threads the steps run on
            result = bench(analysis, _backend(backend), train=train, batch=batch, repeat=repeat,
                           peak_gflops=peak, rival=rival, threads=_threads_in_use(threads))
    except user_errors() as e:
        fail(str(e))
    except _rival_errors(rival) as e:
        fail(f"cannot run {analysis.name} in PyTorch: {e}")
    click.echo(json.dumps(result, indent=2) if fmt == "json" else table(result))


def _rival(name: str):
    """The module that runs a Program in the framework `name` (cnnc/torch_net.py for torch)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        fail("--compare torch needs PyTorch, which is not installed: pip install 'cnnc[bench]' "
             "(PyTorch 2.13, CPU build)")
    from . import torch_net
    return torch_net


def _rival_errors(rival) -> tuple:
    return (rival.MissingTorchOp,) if rival is not None else ()


def _threads_in_use(threads: int | None) -> int:
    """The threads cnnc computes with: --threads as compute_scope caps it, else Numba's count."""
    import numba
    return min(threads, numba.config.NUMBA_NUM_THREADS) if threads else numba.get_num_threads()


def _npy_bytes(array) -> bytes:
    import io

    import numpy as np
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


class ProgressBar:
    """The trainer's per-epoch bar: steps done, and the running loss and accuracy."""

    def __init__(self, steps: int, label: str) -> None:
        self.text = ""
        self.bar = click.progressbar(length=steps, label=label, show_eta=True,
                                     item_show_func=lambda _: self.text, file=sys.stderr)

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def update(self, text: str) -> None:
        self.text = text
        self.bar.update(1)


def _single_input_shape(analysis):
    """The shape the dataset must take: the spec's input (the node features for a graph)."""
    tensors = [i for i in analysis.graph.inputs if i.kind != "graph"]
    return tuple(tensors[0].shape)


def _backend(name: str):
    """The backend module; a backend that generates kernels reports compiling them on stderr."""
    import importlib
    backend = importlib.import_module(f"cnnc.runtime.{name}")
    if name == "cpu":
        from cnnc.runtime.cpu.generated import report_compiling
        report_compiling(_compiling)
    return backend


def _compiling(k: int, n: int) -> None:
    """`compiling kernels k/n` (k done), on one line of a terminal; a first run or a new shape
    class."""
    end = "\n" if k == n else ""
    if sys.stderr.isatty():
        click.echo(f"\rcompiling kernels {k}/{n}" + end, err=True, nl=False)
    else:
        click.echo(f"compiling kernels {k}/{n}", err=True)


@cli.command("build")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option("--backend", type=click.Choice(["cpu"]), default="cpu", show_default=True)
@reports_spec_errors
def build_cmd(spec, backend):
    """Compile SPEC's kernels ahead of time (training and inference), into the kernel cache."""
    import time

    from .compiler import check
    from .passes import lower
    from .passes.fold import fold_batchnorm
    from .train.init import initial_params
    from cnnc.runtime.cpu.generated import kernel_dir

    analysis = check(spec)
    started = time.perf_counter()
    cpu = _backend(backend)
    inference, _ = fold_batchnorm(lower(analysis, training=False), initial_params(analysis))
    programs = [lower(analysis, training=True), inference]
    kernels = {k.stem for p in programs for k in cpu.generated_kernels(p)}
    compiled = cpu.prepare(*programs)
    click.echo(f"{analysis.name}: {len(kernels)} kernel{'s' * (len(kernels) != 1)} ready ({compiled} compiled) in "
               f"{time.perf_counter() - started:.1f} s, cached in {kernel_dir()}")


@cli.command("layers")
@click.argument("kinds", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
def layers_cmd(kinds, fmt):
    """List every layer kind with its attributes, types and defaults."""
    from .layers.catalogue import markdown, public_kinds, text
    from .spec.errors import did_you_mean

    for kind in kinds:
        if kind not in public_kinds():
            hint = did_you_mean(kind, public_kinds(), "")
            raise click.BadParameter(f"unknown layer kind '{kind}'" + (f"; {hint}" if hint else ""),
                                     param_hint="KINDS")
    click.echo(markdown() if fmt == "markdown" else text(list(kinds)))


def main():
    cli(prog_name="cnnc")


if __name__ == "__main__":
    main()
