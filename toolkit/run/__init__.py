"""Running: plan, runner, rung workers and their supervisor, the run store."""
