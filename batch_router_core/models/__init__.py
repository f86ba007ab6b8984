"""The vocabulary: the same requests, params, results and statuses for every provider."""

from .content import AudioContent, Content, DocumentContent, ImageContent, TextContent
from .enums import BatchMode, BatchStatus, InputMessageRole, ProviderId, ResultStatus
from .messages import InputMessage
from .params import InferenceParams
from .provider import (
    BatchHandle,
    Capabilities,
    PreparedBatch,
    PreparedPayloads,
    ProviderInfo,
    ProviderLimits,
)
from .requests import InputBatch, InputRequest
from .results import (
    BatchStatusReport,
    RequestCounts,
    RequestError,
    RequestResult,
    UsageInfo,
    new_result,
    new_usage,
)

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
    "PreparedBatch",
    "PreparedPayloads",
    "ProviderId",
    "ProviderInfo",
    "ProviderLimits",
    "RequestCounts",
    "RequestError",
    "RequestResult",
    "ResultStatus",
    "TextContent",
    "UsageInfo",
    "new_result",
    "new_usage",
]
