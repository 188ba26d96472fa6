"""Hugging Face safetensors checkpoints → GGUF, in numpy (no PyTorch).

`convert_checkpoint` writes one GGUF file from a checkpoint directory;
`supported()` lists the Hugging Face architectures it converts.
"""

from corral.convert.convert import OUTPUT_TYPES, ConversionResult, convert_checkpoint, is_checkpoint
from corral.convert.models import supported

__all__ = ["OUTPUT_TYPES", "ConversionResult", "convert_checkpoint", "is_checkpoint", "supported"]
