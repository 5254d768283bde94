"""spaCy's stored word vectors (a pipeline's vocab/ folder) read without spaCy, and without running code.

spaCy keys each word by the 64-bit MurmurHash64A (seed 1) of its UTF-8 bytes (spacy.strings.hash_string);
`key2row` (msgpack) maps keys to rows of `vectors` (a .npy matrix), many keys to one row where the
table was pruned (en_core_web_md: 684,830 keys, 20,000 rows: a rare word shares its nearest kept
neighbour's vector); `strings.json` lists the words. A few words are keyed by spaCy's fixed symbol IDs
instead of a hash (78 in en_core_web_md: tag and dependency names such as det, prep, root, number); the
IDs live in spaCy's source, so those words read as unknown. numpy reads the matrix without pickles,
msgpack the table without extension hooks: nothing in the files can execute.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rnnlab.errors import RnnlabError

_MASK, _M, _R = 2**64 - 1, 0xC6A4A7935BD1E995, 47


def murmurhash64a(data: bytes, seed: int = 1) -> int:
    """Austin Appleby's MurmurHash64A, as spaCy's murmurhash package computes it (little-endian)."""
    h = (seed ^ (len(data) * _M)) & _MASK
    blocks = len(data) // 8
    for i in range(blocks):
        k = (int.from_bytes(data[8 * i: 8 * i + 8], "little") * _M) & _MASK
        k = ((k ^ (k >> _R)) * _M) & _MASK
        h = ((h ^ k) * _M) & _MASK
    if len(data) % 8:  # the C switch's fall-through: the tail bytes as one little-endian number
        h = ((h ^ int.from_bytes(data[8 * blocks:], "little")) * _M) & _MASK
    h = ((h ^ (h >> _R)) * _M) & _MASK
    return h ^ (h >> _R)


def key(word: str) -> int:
    """The key spaCy stores a word's vector under."""
    return murmurhash64a(word.encode("utf-8"))


def read(folder: Path) -> tuple[dict[str, int], np.ndarray]:
    """(word -> row, matrix): every word of strings.json that has a vector."""
    import msgpack

    folder = Path(folder)
    try:
        matrix = np.load(folder / "vectors", allow_pickle=False)
    except ValueError as e:  # not a .npy file, or one that holds pickled objects
        raise RnnlabError(f"{folder / 'vectors'}: not a numeric .npy matrix ({e})") from None
    try:
        rows = msgpack.unpackb((folder / "key2row").read_bytes(), strict_map_key=False, use_list=False)
    except (ValueError, msgpack.UnpackException) as e:
        rows = e
    if not isinstance(rows, dict) or matrix.ndim != 2:
        raise RnnlabError(f"{folder / 'key2row'}: not a msgpack table of keys to rows of a 2-d matrix")
    words = json.loads((folder / "strings.json").read_text(encoding="utf-8"))
    index = {}
    for word in words:
        row = rows.get(key(word))
        if row is not None:
            index[word] = row
    if rows and not index:  # a wrong hash (or another spaCy's) would find no word at all
        raise RnnlabError(f"{folder}: none of the {len(words):,} strings hashes to a key of key2row")
    return index, matrix
