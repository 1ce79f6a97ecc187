"""Headless building blocks shared by loads and backtests."""

from engine.core.cancellation import CancelToken, OperationCancelled
from engine.core.eta import Eta, EtaEstimator, EtaHistory
from engine.core.jobs import InvalidTransition, Job, JobEvent, JobRunner, JobState
from engine.core.progress import ProgressSnapshot, ProgressTracker, Stage

__all__ = [
    "CancelToken",
    "Eta",
    "EtaEstimator",
    "EtaHistory",
    "InvalidTransition",
    "Job",
    "JobEvent",
    "JobRunner",
    "JobState",
    "OperationCancelled",
    "ProgressSnapshot",
    "ProgressTracker",
    "Stage",
]
