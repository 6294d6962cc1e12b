# recforge: `make demo` and `make test` work on a fresh clone (they create .venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve-demo test lint bench bench-ncf bench-ml100k bench-speed bench-serving bench-representation bench-cold-start bench-kg bench-ranking-speed clean

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/recforge demo

serve-demo: $(STAMP)
	$(BIN)/recforge demo --serve

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: bench-ncf bench-ml100k bench-speed bench-serving bench-representation bench-cold-start bench-kg bench-ranking-speed

bench-ncf: $(STAMP)
	$(BIN)/python benchmarks/ncf_ml1m.py

bench-ml100k: $(STAMP)
	$(BIN)/python benchmarks/ml100k_full.py

bench-speed: $(STAMP)
	$(BIN)/python benchmarks/speed.py

bench-serving: $(STAMP)
	$(BIN)/python benchmarks/serving.py

bench-representation: $(STAMP)
	$(BIN)/python benchmarks/representation.py
	$(BIN)/python benchmarks/representation.py --dataset ml-100k
	$(BIN)/python benchmarks/representation_speed.py

bench-cold-start: $(STAMP)
	$(BIN)/python benchmarks/cold_start.py

bench-kg: $(STAMP)
	$(BIN)/python benchmarks/knowledge_graph.py

bench-ranking-speed: $(STAMP)
	$(BIN)/python benchmarks/ranking_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
