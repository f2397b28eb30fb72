"""Map the configuration's log retention (days) onto CDK's RetentionDays enum."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

from stacks.config import LOG_RETENTION_DAYS

# RetentionDays lists the finite periods in ascending order, as LOG_RETENTION_DAYS does.
_BY_DAYS = dict(zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m.name != "INFINITE"], strict=True))


def retention(days: int) -> logs.RetentionDays:
    return _BY_DAYS[days]
