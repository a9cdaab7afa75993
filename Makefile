# The two commands of the README: `make demo` (the main job on the bundled samples) and `make test`.
.PHONY: setup demo test bench eval

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/omniembed demo

test: setup
	.venv/bin/python -m pytest -q tests

bench: setup
	.venv/bin/python -m bench

eval: setup
	.venv/bin/python ../shared/eval-dev/run.py --embedder omniembed
