"""A daily spending budget across batch-router jobs, kept beside the ledger: an observer plugin."""

from batch_router_budget.plugin import BUDGET_ENV, BUDGET_FILE_ENV, DailyBudget

__all__ = ["BUDGET_ENV", "BUDGET_FILE_ENV", "DailyBudget"]
