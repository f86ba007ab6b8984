"""batch-router core: one interface to LLM batch inference on every provider.

The vocabulary (requests, params, results), the plugin contract (:mod:`.hookspecs`), the provider
registry and the typed facade over it. Provider plugins are separate distributions found through
the ``batch_router`` entry-point group.
"""

from batch_router_core.errors import (
    BatchFailedError,
    BatchRouterError,
    BatchTimeoutError,
    ConfigError,
    CostLimitError,
    FileOperationError,
    PluginLoadError,
    ProviderNotFoundError,
    ProviderPermanentError,
    ProviderTransientError,
    UnsupportedOperationError,
    UnverifiedCandidatesError,
    ValidationError,
)
from batch_router_core.hookspecs import hookimpl
from batch_router_core.models import (
    AudioContent,
    BatchHandle,
    BatchMode,
    BatchStatus,
    BatchStatusReport,
    DocumentContent,
    ImageContent,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputMessageRole,
    InputRequest,
    OutputSchema,
    PreparedBatch,
    PreparedPayloads,
    ProviderId,
    ProviderInfo,
    RequestCounts,
    RequestError,
    RequestResult,
    ResultStatus,
    TextContent,
    Tool,
    ToolCall,
    ToolCallContent,
    ToolResultContent,
    UsageInfo,
)
from batch_router_core.registry import BatchProviderRegistry
from batch_router_core.registry.handle import ProviderHandle
from batch_router_core.registry.status import normalize_provider_status

__version__ = "0.2.0"


def __getattr__(name: str) -> object:
    # The router pulls in the ledger and the JSON converter: imported on first use, so that
    # `batch-router providers` and plugin discovery stay fast.
    if name in ("BatchRouter", "JobStatus"):
        from batch_router_core.jobs import router

        return getattr(router, name)
    if name in ("run", "run_async"):
        from batch_router_core.jobs import oneshot

        return getattr(oneshot, name)
    raise AttributeError(f"module 'batch_router_core' has no attribute {name!r}")


__all__ = [
    "AudioContent",
    "BatchFailedError",
    "BatchHandle",
    "BatchMode",
    "BatchProviderRegistry",
    "BatchRouter",
    "BatchRouterError",
    "BatchStatus",
    "BatchStatusReport",
    "BatchTimeoutError",
    "ConfigError",
    "CostLimitError",
    "DocumentContent",
    "FileOperationError",
    "ImageContent",
    "InferenceParams",
    "InputBatch",
    "InputMessage",
    "InputMessageRole",
    "InputRequest",
    "OutputSchema",
    "JobStatus",
    "PluginLoadError",
    "PreparedBatch",
    "PreparedPayloads",
    "ProviderHandle",
    "ProviderId",
    "ProviderInfo",
    "ProviderNotFoundError",
    "ProviderPermanentError",
    "ProviderTransientError",
    "RequestCounts",
    "RequestError",
    "RequestResult",
    "ResultStatus",
    "TextContent",
    "Tool",
    "ToolCall",
    "ToolCallContent",
    "ToolResultContent",
    "UnsupportedOperationError",
    "UnverifiedCandidatesError",
    "UsageInfo",
    "ValidationError",
    "hookimpl",
    "normalize_provider_status",
    "run",
    "run_async",
]
