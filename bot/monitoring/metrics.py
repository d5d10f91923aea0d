"""Prometheus metrics, in a registry of their own (no process-wide state).

prometheus_client is imported at the first count or scrape, not when the process starts:
each metric is made when first used, and a scrape makes any not made yet, so /metrics
always lists them all.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from bot.messages import Reply, ReplyKind

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """What an operator scrapes at /metrics."""

    @cached_property
    def registry(self) -> CollectorRegistry:
        from prometheus_client import CollectorRegistry

        return CollectorRegistry()

    @cached_property
    def messages(self) -> Counter:
        from prometheus_client import Counter

        return Counter(
            "chatlink_messages",
            "Messages handled, by door and outcome.",
            ["platform", "outcome"],
            registry=self.registry,
        )

    @cached_property
    def reply_seconds(self) -> Histogram:
        from prometheus_client import Histogram

        return Histogram(
            "chatlink_reply_seconds",
            "Time to generate a model reply.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )

    @cached_property
    def model_errors(self) -> Counter:
        from prometheus_client import Counter

        return Counter(
            "chatlink_model_errors",
            "Model calls that failed after retries.",
            ["provider"],
            registry=self.registry,
        )

    @cached_property
    def link_attempts(self) -> Counter:
        from prometheus_client import Counter

        return Counter(
            "chatlink_link_attempts",
            "Link code redemptions, by outcome.",
            ["outcome"],
            registry=self.registry,
        )

    @cached_property
    def login_attempts(self) -> Counter:
        from prometheus_client import Counter

        return Counter(
            "chatlink_login_attempts",
            "Logins (web, API, link pages), by outcome.",
            ["outcome"],
            registry=self.registry,
        )

    @cached_property
    def tool_calls(self) -> Counter:
        from prometheus_client import Counter

        return Counter(
            "chatlink_tool_calls",
            "Tool calls of models through MCP servers, by server, tool and outcome "
            "(ok, error, timeout, down, cancelled, not_offered, bad_arguments).",
            ["server", "tool", "outcome"],
            registry=self.registry,
        )

    @cached_property
    def tool_seconds(self) -> Histogram:
        from prometheus_client import Histogram

        return Histogram(
            "chatlink_tool_seconds",
            "Time one tool call took.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )

    @cached_property
    def rate_limited(self) -> Counter:
        from prometheus_client import Counter

        return Counter(
            "chatlink_rate_limited",
            "Answers refused by a rate limit or budget.",
            registry=self.registry,
        )

    def handled(self, platform: str, replies: list[Reply]) -> None:
        """Count one message by its outcome."""
        if not replies:
            outcome = "ignored"
        elif any(r.kind is ReplyKind.MODEL for r in replies):
            outcome = "answered"
        elif any(r.kind is ReplyKind.ERROR for r in replies):
            outcome = "failed"
        elif any(r.kind is ReplyKind.REJECTED for r in replies):
            outcome = "refused"
        else:
            outcome = "info"
        self.messages.labels(platform, outcome).inc()

    def render(self) -> bytes:
        """The text exposition format, every metric in it."""
        from prometheus_client import generate_latest

        for made in METRICS:
            getattr(self, made)
        return generate_latest(self.registry)


# Every metric of `Metrics` (its cached properties but the registry), made if not yet
# before each scrape.
METRICS = tuple(
    name
    for name, attribute in vars(Metrics).items()
    if isinstance(attribute, cached_property) and name != "registry"
)
