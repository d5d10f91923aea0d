"""What operators do: admin actions with an audit log, retention, and the doctor's checks."""

from __future__ import annotations

from bot.operations.admin import AdminService, parse_duration
from bot.operations.doctor import Check, CheckFailed, core_checks, run_checks
from bot.operations.retention import Retention
from bot.operations.stats import database_stats, describe_usage, usage_today

__all__ = [
    "AdminService",
    "Check",
    "CheckFailed",
    "Retention",
    "core_checks",
    "database_stats",
    "describe_usage",
    "parse_duration",
    "run_checks",
    "usage_today",
]
