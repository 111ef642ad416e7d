"""Benchmarks behind one command line: ``python -m criticlab.bench {sandbox,engines,train}``."""
