"""Testing tools for batch-router users and plugin authors.

* :mod:`.fake_provider` - an in-memory provider on a controllable clock (``FakeService``).
* :mod:`.conformance` - the shared conformance suite every provider plugin runs; one line enables
  it: ``TestConformance = conformance_suite("myprovider", chat_model="...")``.
* :func:`question_batch` - a small chat batch of numbered questions for a provider's own tests.
* :mod:`.pytest_plugin` - fixtures, enabled automatically when batch-router-core is installed.
"""

from typing import Any

from batch_router_core.models import InferenceParams, InputBatch, InputMessage, InputRequest

__all__ = ["question_batch"]


def question_batch(provider: str, model: str, n: int = 3, **params: Any) -> InputBatch:
    """``n`` requests ``req-0``... asking "What is i plus i?", with ``params`` for the batch."""
    requests = [
        InputRequest(custom_id=f"req-{i}", messages=[InputMessage.user(f"What is {i} plus {i}?")])
        for i in range(n)
    ]
    return InputBatch(requests=requests).with_params(
        InferenceParams(provider_id=provider, model_id=model, **params)
    )
