"""How many input tokens a request will cost, estimated without a tokenizer.

Providers limit the input tokens queued at once per model (OpenAI's batch queue limit, by
organisation tier): a batch over it fails. Sharding and pacing keep under that limit with this
estimate, the same rule the online path uses: a token per four characters of text (system prompt
and every text part), four tokens of overhead per message, and a flat 1,000 tokens for each image,
audio clip or document (their real cost depends on size and detail). For English text this is
close to the real count; for scripts such as Chinese or Japanese (about a token per character) it
is low, so give those a lower ``max_enqueued_tokens`` than the provider's.
"""

from __future__ import annotations

from batch_router_core.models.content import TextContent
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.requests import InputRequest

__all__ = ["CHARS_PER_TOKEN", "estimate_input_tokens"]

#: Characters per token in the estimate.
CHARS_PER_TOKEN = 4
#: Tokens counted for every message (role and separators).
PER_MESSAGE = 4
#: Tokens counted for each non-text part (image, audio, document).
PER_MEDIA_PART = 1000


def estimate_input_tokens(request: InputRequest, params: InferenceParams | None = None) -> int:
    """The estimated input tokens of ``request`` run with ``params`` (the batch's; the request's
    own system prompt, if any, replaces the batch's)."""
    own = request.params.system_prompt if request.params is not None else None
    system = own if own is not None else (params.system_prompt if params is not None else None)
    chars = 0
    if system is not None:
        chars += len(system) if isinstance(system, str) else sum(len(s) for s in system)
    media = 0
    for message in request.messages:
        for part in message.contents:
            if type(part) is TextContent:
                chars += len(part.text)
            else:
                media += 1
    return (
        -(-chars // CHARS_PER_TOKEN) + PER_MESSAGE * len(request.messages) + PER_MEDIA_PART * media
    )
