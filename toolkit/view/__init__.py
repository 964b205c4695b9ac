"""Viewing: the terminal report and plots, from report data only."""
