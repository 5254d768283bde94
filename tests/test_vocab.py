from rnnlab.vocab import PAD, UNK, Vocabulary, tokenize


def test_tokenize_keeps_words_numbers_apostrophes_and_punctuation():
    assert tokenize("Free entry in 2 a wkly comp! Don't miss: 08452810075") == [
        "free", "entry", "in", "2", "a", "wkly", "comp", "!", "don't", "miss", ":", "08452810075"]
    assert tokenize("Ok LAR", lowercase=False) == ["Ok", "LAR"]


def test_vocabulary_orders_by_frequency_and_reserves_padding_and_unknown():
    v = Vocabulary.build(["b a a", "c a b", "d"], min_freq=1)
    assert v.itos[:2] == [PAD, UNK]
    assert v.itos[2:] == ["a", "b", "c", "d"]  # a:3, b:2, then ties alphabetically
    assert v.pad_id == 0 and v.unk_id == 1


def test_min_freq_and_max_size_limit_the_vocabulary():
    texts = ["a a a b b c", "a b c d"]
    assert Vocabulary.build(texts, min_freq=2).itos[2:] == ["a", "b", "c"]
    assert Vocabulary.build(texts, max_size=2).itos[2:] == ["a", "b"]


def test_encode_maps_unknown_truncates_and_never_returns_empty():
    v = Vocabulary.build(["hello world"])
    assert v.encode("hello there world") == [v.stoi["hello"], v.unk_id, v.stoi["world"]]
    assert v.encode("hello world hello", max_len=2) == [v.stoi["hello"], v.stoi["world"]]
    assert v.encode("") == [v.unk_id]


def test_save_and_load_round_trip(tmp_path):
    v = Vocabulary.build(["the cat sat", "the dog"], lowercase=False)
    v.save(tmp_path / "vocab.json")
    w = Vocabulary.load(tmp_path / "vocab.json")
    assert w.itos == v.itos and w.lowercase is False


def test_vocabulary_from_real_training_texts(sms_table):
    v = Vocabulary.build(sms_table["text"][:1000], min_freq=2)
    assert 1000 < len(v) < 3000
    assert v.itos[2] in {".", "i", "to", "you"}  # the most frequent tokens of SMS text
