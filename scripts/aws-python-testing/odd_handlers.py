"""Durable functions of odd shapes for serve.py: a history over a page
long, with escapes and NUL in results; retries that succeed; retries that
run out."""

from typing import Any

from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.context import DurableContext, StepContext, durable_step
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy


@durable_execution
def many(event: Any, ctx: DurableContext) -> Any:
    for i in range(700):  # 1,403 events: two pages of history
        ctx.step(lambda _, i=i: {"i": i, "s": "é😀\u0000\"\\</script>", "big": "x" * (i % 7) * 300}, name=f"s{i:04d}")
    return 700


@durable_step
def flaky(sc: StepContext) -> str:
    if sc.attempt < 4:
        raise RuntimeError(f"attempt {sc.attempt}: ünïcode ✓")
    return "made it"


def retry_config(attempts: int) -> StepConfig:
    return StepConfig(create_retry_strategy(RetryStrategyConfig(max_attempts=attempts, retryable_error_types=[RuntimeError])))


@durable_execution
def retried(event: Any, ctx: DurableContext) -> Any:
    a = ctx.step(flaky(), name="flaky", config=retry_config(6))
    ctx.wait(Duration.from_seconds(2), name="pause")
    return {"a": a, "none": ctx.step(lambda _: None, name="none"), "empty": ctx.step(lambda _: "", name="empty")}


@durable_step
def always(sc: StepContext) -> str:
    raise RuntimeError("never works " + "y" * 5000)


@durable_execution
def exhausted(event: Any, ctx: DurableContext) -> Any:
    return ctx.step(always(), name="always", config=retry_config(3))
