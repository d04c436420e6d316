"""Tasks: the synthetic `arith` generator and the GSM8K and SVAMP file loaders."""

from glore.tasks.base import Task
from glore.tasks.registry import TASK_NAMES, get_task

__all__ = ["TASK_NAMES", "Task", "get_task"]
