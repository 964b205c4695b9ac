"""`make bench`: the same grid through Crossover and through what a user would otherwise run
(raw vLLM on Crossover's own prompts, lm-evaluation-harness with its vLLM backend, HF transformers
batched ``generate``), timed side by side on one machine. See docs/performance.md."""
