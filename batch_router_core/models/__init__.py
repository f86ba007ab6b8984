"""The vocabulary: the same requests, params, results and statuses for every provider."""

from batch_router_core.models.calls import ProviderCall
from batch_router_core.models.content import (
    AudioContent,
    Content,
    DocumentContent,
    ImageContent,
    TextContent,
)
from batch_router_core.models.enums import (
    BatchMode,
    BatchStatus,
    InputMessageRole,
    ProviderId,
    ResultStatus,
)
from batch_router_core.models.messages import InputMessage
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.provider import (
    BatchHandle,
    Capabilities,
    PreparedBatch,
    PreparedPayloads,
    ProviderInfo,
    ProviderLimits,
)
from batch_router_core.models.requests import InputBatch, InputRequest
from batch_router_core.models.results import (
    BatchStatusReport,
    RequestCounts,
    RequestError,
    RequestResult,
    UsageInfo,
    new_result,
    new_usage,
)
from batch_router_core.models.schema import OutputSchema
from batch_router_core.models.tools import Tool, ToolCall, ToolCallContent, ToolResultContent

__all__ = [
    "AudioContent",
    "BatchHandle",
    "BatchMode",
    "BatchStatus",
    "BatchStatusReport",
    "Capabilities",
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
    "ProviderId",
    "ProviderInfo",
    "ProviderLimits",
    "RequestCounts",
    "RequestError",
    "RequestResult",
    "ResultStatus",
    "TextContent",
    "Tool",
    "ToolCall",
    "ToolCallContent",
    "ToolResultContent",
    "UsageInfo",
    "new_result",
    "new_usage",
]
