"""cnnc: a declarative neural-network compiler. Specs in YAML → checked graph → reports,
diagrams and kernels."""
__version__ = "0.1.0"
