"""Strategy plugins. Each module registers itself with ``@register("name")`` on import.

The list is explicit on purpose: a strategy exists only if it is imported here, so
``strategy_names()`` and the parametrized tests always see the same set. Import order is listing
order, so the baseline comes first.
"""
from strategies import few_shot  # noqa: F401  isort: skip
from strategies import cot  # noqa: F401  isort: skip
from strategies import zero_shot_cot  # noqa: F401  isort: skip
from strategies import scratchpad  # noqa: F401  isort: skip
from strategies import instruction  # noqa: F401  isort: skip
from strategies import true_false  # noqa: F401  isort: skip
from strategies import self_consistency  # noqa: F401  isort: skip
from strategies import least_to_most  # noqa: F401  isort: skip

__all__ = ["few_shot", "cot", "zero_shot_cot", "scratchpad", "instruction", "true_false", "self_consistency", "least_to_most"]
