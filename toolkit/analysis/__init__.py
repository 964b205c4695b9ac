"""Analysis: records → typed frame → joint bootstrap → cells, pairs, verdicts, emergence, calibration → report data."""
