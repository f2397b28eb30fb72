"""The articles' model-training example. A SIMULATION for demos: it sleeps instead of training."""

from __future__ import annotations

from typing import Annotated

import anyio
from pydantic import BaseModel, Field

from mcp_server.tooling import TaskContext, tool


class TrainingReport(BaseModel):
    model_name: str
    epochs: int
    final_loss: float
    simulated: bool = True


@tool(mode="either", max_duration_seconds=8 * 3600)
async def model_training(
    model_name: Annotated[str, Field(min_length=1, max_length=128, description="name of the model to 'train'")],
    ctx: TaskContext,
    epochs: Annotated[int, Field(ge=1, le=1000, description="number of epochs")] = 5,
    seconds_per_epoch: Annotated[float, Field(gt=0, le=3600, description="simulated epoch length")] = 1.0,
) -> TrainingReport:
    """DEMO SIMULATION of a long model training run: each epoch sleeps, then reports progress.

    Not resumable: a lost worker fails the task with a reason.
    """
    loss = 1.0
    for epoch in range(1, epochs + 1):
        await anyio.sleep(seconds_per_epoch)  # the simulated work (labelled demo)
        ctx.raise_if_cancelled()
        loss *= 0.7
        await ctx.report_progress(epoch, epochs, f"epoch {epoch}/{epochs}, loss {loss:.4f}")
    return TrainingReport(model_name=model_name, epochs=epochs, final_loss=round(loss, 6))
