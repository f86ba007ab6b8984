"""Convert a GGUF model file into a model directory vLLM loads: ``PYTHON convert_gguf.py GGUF_DIR
FILE OUT``.

Run with the interpreter that has vLLM (it brings transformers and torch; ``gguf`` and
``accelerate`` are the plugin's ``convert`` extra). transformers de-quantizes the GGUF tensors on
load; the model is saved in bfloat16 with its tokenizer and chat template. Only the standard library
is imported here besides those, so batch-router need not be installed in that interpreter.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Convert ``argv[2]`` in directory ``argv[1]`` into the directory ``argv[3]``."""
    source, filename, out = Path(argv[1]), argv[2], Path(argv[3])
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(
        str(source), gguf_file=filename, dtype=torch.bfloat16
    )
    # The weights are de-quantized tensors now; the GGUF quantization record only blocks saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
