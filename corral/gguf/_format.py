"""GGUF format constants: value types, ggml tensor types, file types and the reader's limits.

Everything here is data. The tensor-type table (block size and bytes per block) matches
ggml's `type_traits` and gguf-py's `GGML_QUANT_SIZES`; the file-type names are llama.cpp's
`llama_ftype` names without the `MOSTLY_` prefix, except that id 4 reads "MXFP4" as it does
in Ollama (its gpt-oss GGUFs reuse that retired id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "FILE_TYPE_NAMES",
    "GGML_TYPES",
    "GGUF_MAGIC",
    "MAX_ALIGNMENT",
    "MAX_ARRAY_DEPTH",
    "MAX_ARRAY_LENGTH",
    "MAX_KEPT_ARRAY",
    "MAX_KEPT_ELEMENTS",
    "MAX_KEPT_STRING_BYTES",
    "MAX_KEY_LENGTH",
    "MAX_KV_COUNT",
    "MAX_LOADED_ARRAY",
    "MAX_NESTED_ARRAY",
    "MAX_STRING_LENGTH",
    "MAX_TENSORS",
    "MAX_TENSOR_DIMS",
    "MAX_TENSOR_NAME_LENGTH",
    "MAX_WALKED_ARRAY",
    "MAX_WALKED_ELEMENTS",
    "NESTED_ARRAY_COST",
    "SUPPORTED_VERSIONS",
    "TOKEN_CHECKPOINT_STRIDE",
    "VALUE_SIZES",
    "VALUE_TYPE_NAMES",
    "ArraySummary",
    "GGMLType",
    "ValueType",
]

GGUF_MAGIC: Final = b"GGUF"
SUPPORTED_VERSIONS: Final = (2, 3)


class ValueType:
    """GGUF metadata value type ids (`gguf_type` in ggml)."""

    UINT8: Final = 0
    INT8: Final = 1
    UINT16: Final = 2
    INT16: Final = 3
    UINT32: Final = 4
    INT32: Final = 5
    FLOAT32: Final = 6
    BOOL: Final = 7
    STRING: Final = 8
    ARRAY: Final = 9
    UINT64: Final = 10
    INT64: Final = 11
    FLOAT64: Final = 12


VALUE_TYPE_NAMES: Final[dict[int, str]] = {
    0: "uint8",
    1: "int8",
    2: "uint16",
    3: "int16",
    4: "uint32",
    5: "int32",
    6: "float32",
    7: "bool",
    8: "string",
    9: "array",
    10: "uint64",
    11: "int64",
    12: "float64",
}

# struct format character and size of each fixed-size value type.
VALUE_SIZES: Final[dict[int, tuple[str, int]]] = {
    0: ("B", 1),
    1: ("b", 1),
    2: ("H", 2),
    3: ("h", 2),
    4: ("I", 4),
    5: ("i", 4),
    6: ("f", 4),
    7: ("B", 1),
    10: ("Q", 8),
    11: ("q", 8),
    12: ("d", 8),
}

# --- limits -------------------------------------------------------------------------------
# Ollama's own caps (fs/gguf/gguf.go) are 16 MiB per string, 64 Mi array elements and four
# tensor dimensions; ours are the same where they bound memory and tighter where they bound
# time (arrays of strings must be walked one element at a time in Python).

MAX_STRING_LENGTH: Final = 16 << 20
"""Longest string value (a chat template, a token); Ollama's `MaxStringLength`."""
MAX_KEY_LENGTH: Final = 1024
"""Longest metadata key. Real keys are under 64 bytes."""
MAX_TENSOR_NAME_LENGTH: Final = 1024
"""Longest tensor name. llama.cpp itself refuses names of 64 bytes or more."""
MAX_ARRAY_LENGTH: Final = 64 << 20
"""Most elements in an array of fixed-size values; Ollama's `MaxArraySize`."""
MAX_WALKED_ARRAY: Final = 1 << 21
"""Most elements in one array of strings (the largest vocabularies are ~262k)."""
MAX_NESTED_ARRAY: Final = 1 << 16
"""Most elements in one array of arrays (llama.cpp reads no nested arrays at all)."""
MAX_WALKED_ELEMENTS: Final = 3 << 20
"""Work budget for walking string and nested arrays over the whole file (about a second):
each string costs 1, each nested array `NESTED_ARRAY_COST`."""
NESTED_ARRAY_COST: Final = 32
MAX_ARRAY_DEPTH: Final = 2
"""An array may hold arrays, which may not hold arrays (llama.cpp allows no nesting at all)."""
MAX_KEPT_ARRAY: Final = 1024
"""Arrays up to this length are kept in `metadata`; longer ones become an `ArraySummary`."""
MAX_KEPT_ELEMENTS: Final = 1 << 18
"""Most array elements kept over the whole file; arrays beyond the budget are summarised."""
MAX_KEPT_STRING_BYTES: Final = 32 << 20
"""Most bytes of decoded strings kept over the whole file."""
MAX_LOADED_ARRAY: Final = 1 << 21
"""Most elements `GGUFInfo.read_array` loads from a summarised array."""
MAX_KV_COUNT: Final = 1 << 16
"""Most metadata entries (real files have ~20-60)."""
MAX_TENSORS: Final = 1 << 16
"""Most tensors (real files have a few hundred to a few thousand)."""
MAX_TENSOR_DIMS: Final = 4
"""ggml's `GGML_MAX_DIMS`."""
MAX_ALIGNMENT: Final = 1 << 24
"""Largest `general.alignment` accepted (real files use 32)."""
TOKEN_CHECKPOINT_STRIDE: Final = 1024
"""A summarised string array remembers the offset of every 1024th element."""


@dataclass(frozen=True, slots=True)
class GGMLType:
    """One ggml tensor type: `block_size` elements are stored in `type_size` bytes."""

    name: str
    block_size: int
    type_size: int


GGML_TYPES: Final[dict[int, GGMLType]] = {
    t_id: GGMLType(name, block, size)
    for t_id, (name, block, size) in {
        0: ("F32", 1, 4),
        1: ("F16", 1, 2),
        2: ("Q4_0", 32, 18),
        3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22),
        7: ("Q5_1", 32, 24),
        8: ("Q8_0", 32, 34),
        9: ("Q8_1", 32, 40),
        10: ("Q2_K", 256, 84),
        11: ("Q3_K", 256, 110),
        12: ("Q4_K", 256, 144),
        13: ("Q5_K", 256, 176),
        14: ("Q6_K", 256, 210),
        15: ("Q8_K", 256, 292),
        16: ("IQ2_XXS", 256, 66),
        17: ("IQ2_XS", 256, 74),
        18: ("IQ3_XXS", 256, 98),
        19: ("IQ1_S", 256, 50),
        20: ("IQ4_NL", 32, 18),
        21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82),
        23: ("IQ4_XS", 256, 136),
        24: ("I8", 1, 1),
        25: ("I16", 1, 2),
        26: ("I32", 1, 4),
        27: ("I64", 1, 8),
        28: ("F64", 1, 8),
        29: ("IQ1_M", 256, 56),
        30: ("BF16", 1, 2),
        34: ("TQ1_0", 256, 54),
        35: ("TQ2_0", 256, 66),
        39: ("MXFP4", 32, 17),
        40: ("NVFP4", 64, 36),
        41: ("Q1_0", 128, 18),
    }.items()
}

FILE_TYPE_NAMES: Final[dict[int, str]] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "MXFP4",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
    39: "NVFP4",
    40: "Q1_0",
}


@dataclass(frozen=True, slots=True)
class ArraySummary:
    """A metadata array too long to keep: its element type, length and where it lies.

    `offset` is the file offset of the first element. For arrays of strings,
    `checkpoints[i]` is the offset of element `i * TOKEN_CHECKPOINT_STRIDE`, so one
    element can be found again by walking at most `TOKEN_CHECKPOINT_STRIDE` strings.
    """

    element_type: int
    length: int
    offset: int
    checkpoints: tuple[int, ...] = field(default=(), repr=False, compare=False)

    @property
    def type_name(self) -> str:
        """The element type's name: "string", "int32", "array"..."""
        return VALUE_TYPE_NAMES.get(self.element_type, str(self.element_type))

    def __len__(self) -> int:
        return self.length
