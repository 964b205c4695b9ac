"""The core: config, types, errors, prompting, scoring, strategies' interface, models; imports nothing above it."""
