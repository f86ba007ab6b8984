"""Everything a provider plugin needs, in one import.

::

    from batch_router_core.plugin import (
        BatchHandle, BatchStatusReport, InputBatch, PreparedBatch, PreparedPayloads,
        ProviderContext, ProviderInfo, RequestCounts, RequestResult, hookimpl,
        load_provider_defaults, new_result,
    )

The hook contract itself is :mod:`batch_router_core.hookspecs`; the hooks receive and return the
vocabulary re-exported here. Besides the vocabulary this package holds the plugin kit: the context
every hook receives, the fast result constructors, the SDK error map, the upload-then-create helper,
per-event-loop SDK clients and the crash points the recovery tests use.
"""

from batch_router_core.config import load_provider_defaults
from batch_router_core.errors import (
    ConfigError,
    ProviderError,
    ProviderPermanentError,
    ProviderTransientError,
    UnsupportedContentError,
    UnsupportedOperationError,
    UnverifiedCandidatesError,
    ValidationError,
    ValidationIssue,
)
from batch_router_core.files import atomic_file, default_state_dir, iter_jsonl, write_json_atomic
from batch_router_core.hookspecs import hookimpl
from batch_router_core.logging import scrub_secrets
from batch_router_core.models import (
    AudioContent,
    BatchHandle,
    BatchMode,
    BatchStatus,
    BatchStatusReport,
    Capabilities,
    Content,
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
    ProviderCall,
    ProviderInfo,
    ProviderLimits,
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
    new_result,
    new_usage,
)
from batch_router_core.models.extras import with_kwargs
from batch_router_core.plugin.clients import per_loop
from batch_router_core.plugin.context import ProviderContext
from batch_router_core.plugin.crashpoints import crash_point
from batch_router_core.plugin.processes import proc_stat
from batch_router_core.plugin.sdk_errors import (
    SdkErrorMap,
    SdkErrorMapper,
    error_for_status,
    is_transport_error,
    result_for_error,
    retry_after_from_headers,
)
from batch_router_core.plugin.uploads import (
    cleanup_pending,
    create_from_upload,
    delete_files,
    discard_uploads,
    is_refusal,
)
from batch_router_core.webhooks.events import WebhookEvent, WebhookRejectedError
from batch_router_core.webhooks.signatures import verify as verify_standard_webhook

__all__ = [
    "WebhookEvent",
    "WebhookRejectedError",
    "AudioContent",
    "BatchHandle",
    "BatchMode",
    "BatchStatus",
    "BatchStatusReport",
    "Capabilities",
    "ConfigError",
    "Content",
    "DocumentContent",
    "ImageContent",
    "InferenceParams",
    "InputBatch",
    "InputMessage",
    "InputMessageRole",
    "InputRequest",
    "OutputSchema",
    "PreparedBatch",
    "PreparedPayloads",
    "ProviderCall",
    "ProviderContext",
    "ProviderError",
    "ProviderInfo",
    "ProviderLimits",
    "ProviderPermanentError",
    "ProviderTransientError",
    "RequestCounts",
    "RequestError",
    "RequestResult",
    "ResultStatus",
    "SdkErrorMap",
    "SdkErrorMapper",
    "TextContent",
    "Tool",
    "ToolCall",
    "ToolCallContent",
    "ToolResultContent",
    "UnsupportedContentError",
    "UnsupportedOperationError",
    "UnverifiedCandidatesError",
    "UsageInfo",
    "ValidationError",
    "ValidationIssue",
    "atomic_file",
    "cleanup_pending",
    "crash_point",
    "create_from_upload",
    "delete_files",
    "discard_uploads",
    "default_state_dir",
    "error_for_status",
    "hookimpl",
    "is_refusal",
    "is_transport_error",
    "iter_jsonl",
    "load_provider_defaults",
    "new_result",
    "new_usage",
    "per_loop",
    "proc_stat",
    "result_for_error",
    "retry_after_from_headers",
    "scrub_secrets",
    "verify_standard_webhook",
    "with_kwargs",
    "write_json_atomic",
]
