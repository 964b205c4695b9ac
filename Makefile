# Crossover — `make run STRATEGY=cot` is the main job, `make test` the tests.
# Variables: STRATEGY (comma list; the baseline is always added), BASELINE, MODELS (ladder name or YAML
# path), TASKS (comma list or task YAML paths), N (items per task), SEED, EXEMPLAR_SEEDS (comma list),
# SHOTS, TEMPERATURE, MAX_TOKENS, RUN (a run id to resume, report or browse), AXIS (params|flops|perplexity), PNG (also write the plot), RUN_A/RUN_B,
# QUICK=1 / REPEATS / SKIP for `make bench`.
PY      := .venv/bin/python
STAMP   := .venv/.crossover-setup
# The bundled ladders and the tests never touch the hub (the runner sets HF_HUB_OFFLINE=1 for them);
# hub ladders download on first use unless HF_HUB_OFFLINE=1 is set.
export TOKENIZERS_PARALLELISM ?= false

opt = $(if $(2),$(1) $(2))
RUN_ARGS = $(call opt,--strategy,$(STRATEGY)) $(call opt,--baseline,$(BASELINE)) \
	$(call opt,--models,$(MODELS)) $(call opt,--tasks,$(TASKS)) $(call opt,--n,$(N)) \
	$(call opt,--seed,$(SEED)) $(call opt,--exemplar-seeds,$(EXEMPLAR_SEEDS)) $(call opt,--run,$(RUN)) \
	$(call opt,--rung,$(RUNG)) $(if $(PREPARE),--prepare) $(call opt,--shots,$(SHOTS)) \
	$(call opt,--temperature,$(TEMPERATURE)) $(call opt,--max-tokens,$(MAX_TOKENS))

.PHONY: help setup run report browse compare validate zoo render test unit integration golden bench reliability clean-runs

help:
	@echo "make run STRATEGY=cot        the main job: strategies vs the baseline over a model ladder, then the report"
	@echo "make report [RUN=id]         a run's report again (AXIS=params|flops|perplexity, PNG=fig.png)"
	@echo "make browse [RUN=id]         runs, reports and records in the terminal"
	@echo "make compare RUN_A=.. RUN_B=..  two runs side by side"
	@echo "make render TASK=.. STRATEGY=..  prompts without a model"
	@echo "make test | unit | integration   the tests (make test is what CI runs)"
	@echo "make bench | reliability | validate | zoo | golden | setup | clean-runs"
	@echo "run variables: STRATEGY BASELINE MODELS TASKS N SEED EXEMPLAR_SEEDS SHOTS TEMPERATURE MAX_TOKENS RUN RUNG PREPARE"
	@echo "python -m toolkit --help and python -m toolkit run --help describe every option"

$(STAMP): scripts/setup.sh requirements.txt pyproject.toml
	bash scripts/setup.sh

setup: $(STAMP)

run: $(STAMP)
	@$(PY) -m toolkit run $(RUN_ARGS)

report: $(STAMP)
	@$(PY) -m toolkit report $(RUN) $(call opt,--axis,$(AXIS)) $(call opt,--png,$(PNG))

# Runs, reports and records in the terminal (Textual; read-only). RUN= opens one run.
browse: $(STAMP)
	@$(PY) -m toolkit browse $(RUN)

compare: $(STAMP)
	@$(PY) -m toolkit compare $(RUN_A) $(RUN_B)

validate: $(STAMP)
	@$(PY) -m toolkit.validate

# Retrains Crossover's own tiny model ladder (models/zoo/) from its seed; the weights are committed.
zoo: $(STAMP)
	$(PY) -m toolkit.zoo train $(call opt,--jobs,$(JOBS)) $(call opt,--threads,$(THREADS))

# Crossover vs raw vLLM, lm-evaluation-harness and HF generate on one grid (docs/performance.md).
# QUICK=1: the <=10-minute form (fewer items, one repeat), same JSON shape.
# Kill soak, run lock, 280+ fuzzed bad inputs and faults on the zoo ladder (CPU, ~20 min);
# figures in runs/reliability/<stamp>.json (docs/reliability.md). KILLS= sets the soak's kills.
reliability: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m reliability $(call opt,--kills,$(KILLS)) $(call opt,--skip,$(SKIP))

bench: $(STAMP)
	@HF_HUB_OFFLINE=1 $(PY) -m bench $(if $(QUICK),--size quick) $(call opt,--repeats,$(REPEATS)) $(call opt,--skip,$(SKIP))

render: $(STAMP)
	@$(PY) -m toolkit render --task $(or $(TASK),$(TASKS),arith_words) --strategy $(or $(STRATEGY),cot) --n $(or $(N),2)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra

unit: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not integration"

integration: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m integration

golden: $(STAMP)
	$(PY) scripts/make_golden.py

clean-runs:
	rm -rf runs/*/
