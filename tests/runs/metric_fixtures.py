"""Tiny local stand-ins for the data and weights MALLM's metrics need, made on disk in the
formats the real ones ship in: a WordNet-shaped corpus (METEOR), punkt_tab sentence-splitter
parameters (IFEval) and a two-layer BERT with its tokenizer.json and model.safetensors (the
encoder behind BERTScore). No network, nothing from ../shared."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

_WN_HEADER = (
    "  1 A tiny WordNet-shaped corpus for tests. WordNet 3.0 Copyright 2006 by Princeton "
    "University.\n"
)


def make_wordnet(root: Path, synonyms: list[list[str]]) -> Path:
    """`root/corpora/wordnet` in WordNet's database format: each group of words one noun
    synset, data lines at their byte offsets, an index line per word."""
    wn = root / "corpora" / "wordnet"
    wn.mkdir(parents=True)
    (wn / "lexnames").write_text(
        "00\tadj.all\t3\n01\tadj.pert\t3\n02\tadv.all\t4\n03\tnoun.Tops\t1\n"
    )
    lines, index = [], {}
    offset = len(_WN_HEADER.encode())
    for words in synonyms:
        members = " ".join(f"{w} 0" for w in words)
        line = f"{offset:08d} 03 n {len(words):02x} {members} 000 | a test synset  \n"
        lines.append(line)
        for w in words:
            index.setdefault(w, []).append(offset)
        offset += len(line.encode())
    (wn / "data.noun").write_text(_WN_HEADER + "".join(lines))
    (wn / "index.noun").write_text(
        _WN_HEADER
        + "".join(
            f"{w} n {len(o)} 0 {len(o)} 0 {' '.join(f'{x:08d}' for x in o)}  \n"
            for w, o in sorted(index.items())
        )
    )
    for pos in ("adj", "adv", "verb"):
        (wn / f"data.{pos}").write_text(_WN_HEADER)
        (wn / f"index.{pos}").write_text(_WN_HEADER)
    for name in ("adj.exc", "adv.exc", "noun.exc", "verb.exc", "cntlist.rev", "index.sense"):
        (wn / name).write_text("")
    return root


def make_punkt(root: Path, abbreviations: list[str]) -> Path:
    """`root/tokenizers/punkt_tab/english`: Punkt's four parameter files, with the given
    abbreviations (a period after one ends no sentence) and nothing else learned."""
    lang = root / "tokenizers" / "punkt_tab" / "english"
    lang.mkdir(parents=True)
    (lang / "abbrev_types.txt").write_text("".join(f"{a}\n" for a in abbreviations))
    for name in ("collocations.tab", "sent_starters.txt", "ortho_context.tab"):
        (lang / name).write_text("")
    return root


TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat"]
TINY_VOCAB += ["a", "dog", "ran", ".", "##s", "red", "blue", "car"]


def make_tiny_bert(folder: Path, *, hidden: int = 8, heads: int = 2, layers: int = 2) -> Path:
    """A BERT of random weights in the layout all-MiniLM-L6-v2 ships: config.json,
    tokenizer.json (lower-casing WordPiece, [CLS] ... [SEP]) and model.safetensors."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(TINY_VOCAB)}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "intermediate_size": 2 * hidden,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 32,
        "vocab_size": len(TINY_VOCAB),
    }
    (folder / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(7)
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (len(TINY_VOCAB), hidden),
        "embeddings.position_embeddings.weight": (32, hidden),
        "embeddings.token_type_embeddings.weight": (2, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}"
        for name in ("query", "key", "value"):
            shapes[f"{p}.attention.self.{name}.weight"] = (hidden, hidden)
            shapes[f"{p}.attention.self.{name}.bias"] = (hidden,)
        shapes[f"{p}.attention.output.dense.weight"] = (hidden, hidden)
        shapes[f"{p}.attention.output.dense.bias"] = (hidden,)
        shapes[f"{p}.intermediate.dense.weight"] = (2 * hidden, hidden)
        shapes[f"{p}.intermediate.dense.bias"] = (2 * hidden,)
        shapes[f"{p}.output.dense.weight"] = (hidden, 2 * hidden)
        shapes[f"{p}.output.dense.bias"] = (hidden,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{p}.{norm}.weight"] = (hidden,)
            shapes[f"{p}.{norm}.bias"] = (hidden,)
    tensors = {n: rng.normal(0, 0.5, s).astype(np.float32) for n, s in shapes.items()}
    write_safetensors(folder / "model.safetensors", tensors)
    return folder


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout: 8-byte little-endian header size, JSON header, raw bytes."""
    header, body, at = {}, b"", 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [at, at + len(raw)],
        }
        body += raw
        at += len(raw)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + body)
