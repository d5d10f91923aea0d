"""Prometheus metrics, in a registry of their own (no process-wide state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from bot.messages import Reply, ReplyKind

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """What an operator scrapes at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "chatlink_messages",
            "Messages handled, by door and outcome.",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.reply_seconds = Histogram(
            "chatlink_reply_seconds",
            "Time to generate a model reply.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.model_errors = Counter(
            "chatlink_model_errors",
            "Model calls that failed after retries.",
            ["provider"],
            registry=self.registry,
        )
        self.link_attempts = Counter(
            "chatlink_link_attempts",
            "Link code redemptions, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.login_attempts = Counter(
            "chatlink_login_attempts",
            "Logins (web, API, link pages), by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "chatlink_tool_calls",
            "Tool calls of models through MCP servers, by server, tool and outcome "
            "(ok, error, timeout, down, cancelled, not_offered, bad_arguments).",
            ["server", "tool", "outcome"],
            registry=self.registry,
        )
        self.tool_seconds = Histogram(
            "chatlink_tool_seconds",
            "Time one tool call took.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.rate_limited = Counter(
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
        """The text exposition format."""
        return generate_latest(self.registry)
