"""Use cnnc from Python: analyse a spec, list its parameters under the names a PyTorch
state_dict would use, and print where each layer's receptive field stands.

    .venv/bin/python examples/inspect_spec.py specs/resnet18.yaml
"""
import sys

from cnnc.analysis.params import param_names
from cnnc.compiler import check
from cnnc.spec.errors import SpecErrors, render_all


def main(path: str) -> int:
    try:
        a = check(path)
    except SpecErrors as e:
        print(render_all(e.items), file=sys.stderr)
        return 1
    print(f"{a.name}: {len(a.layers)} layers, output {a.output_shape}")
    print("\nparameters (state_dict names):")
    for name, p in param_names(a.params).items():
        print(f"  {name:<40} {str(list(p.shape)):<20} {'' if p.trainable else 'buffer'}")
    print("\nreceptive field after each layer with parameters:")
    for name in a.layers:
        if a.params[name]:
            print(f"  {name:<40} {' / '.join(filter(None, a.fields[name].describe()))}")
    t = a.totals()
    print(f"\n{t['trainable_params']:,} trainable, {t['non_trainable_params']:,} non-trainable, "
          f"{t['macs'] / 1e6:.1f} M MACs per sample")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "examples/small_resnet.yaml"))
