# The two commands of the README: `make demo` (the main job on the bundled samples) and `make test`.
.PHONY: setup demo test bench eval

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/omniembed demo

# Two pytest-xdist workers (the machine has 2 cores), whole files per worker (--dist loadfile: a file's
# module fixtures — a Ray cluster, a server — start once), the longest files first (tests/conftest.py's
# SLOW_FIRST; --no-loadscope-reorder keeps that order). Serially: `.venv/bin/python -m pytest -q tests`.
test: setup
	.venv/bin/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests

bench: setup
	.venv/bin/python -m bench

eval: setup
	.venv/bin/python ../shared/eval-dev/run.py --embedder omniembed
