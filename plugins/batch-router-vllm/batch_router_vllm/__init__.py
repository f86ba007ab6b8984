"""batch-router-vllm: local batch inference with vLLM as a batch-router provider plugin.

A job is a tracked local process: vLLM's ``run_batch`` entry point, or the offline ``vllm.LLM`` API
in a worker process, started under a small supervisor (:mod:`.runner`) that records its exit status.
Importing this package (as discovery does) imports neither vLLM nor torch.
"""

__version__ = "0.1.0"
