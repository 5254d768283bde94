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


def test_digits_zero_gives_numbers_of_one_shape_one_token():
    text = "Call 08452810075 or 07090201529, text WIN to 87121 for £1.50"
    assert tokenize(text) == ["call", "08452810075", "or", "07090201529", ",", "text", "win", "to", "87121", "for",
                              "£", "1", ".", "50"]
    assert tokenize(text, digits="zero") == ["call", "00000000000", "or", "00000000000", ",", "text", "win", "to",
                                             "00000", "for", "£", "0", ".", "00"]
    v = Vocabulary.build(["ring 08452810075 now"], digits="zero")
    assert v.encode("ring 07090201529") == [v.stoi["ring"], v.stoi["00000000000"]]  # an unseen number, a known shape


def test_the_digits_setting_travels_with_the_saved_vocabulary(tmp_path):
    """A model served later tokenizes as its vocabulary was built; files of the default keep their bytes."""
    import json

    Vocabulary.build(["call 0800 now"], digits="zero").save(tmp_path / "zero.json")
    zero = Vocabulary.load(tmp_path / "zero.json")
    assert zero.encode("call 0900") == [zero.stoi["call"], zero.stoi["0000"]]
    Vocabulary.build(["call 0800 now"]).save(tmp_path / "keep.json")
    assert set(json.loads((tmp_path / "keep.json").read_text())) == {"lowercase", "itos"}
    keep = Vocabulary.load(tmp_path / "keep.json")
    assert keep.encode("call 0900") == [keep.stoi["call"], keep.unk_id]


def test_a_vocabulary_file_with_an_unknown_digits_setting_is_one_line(tmp_path):
    import json

    import pytest

    from rnnlab.errors import RnnlabError

    (tmp_path / "v.json").write_text(json.dumps({"lowercase": True, "digits": "roman", "itos": ["<pad>", "<unk>"]}))
    with pytest.raises(RnnlabError, match=r"v.json: not a vocabulary file \(TypeError: .*digits one of"):
        Vocabulary.load(tmp_path / "v.json")


def test_digit_shapes_leave_fewer_real_test_messages_tokens_unknown(sms_table):
    """On the real SMS corpus: a vocabulary of the first 4,000 messages reads far fewer of the other
    messages' numbers as unknown when digits are shapes (phone numbers and short codes recur as shapes)."""
    train, test = sms_table["text"][:4000], sms_table["text"][4000:]

    def unknown_numbers(digits: str) -> int:
        v = Vocabulary.build(train, digits=digits)
        return sum(v.stoi.get(t) is None for text in test for t in v.tokens(text) if t[:1].isdigit())

    kept, shaped = unknown_numbers("keep"), unknown_numbers("zero")
    assert kept > 150 and shaped < kept / 3, (kept, shaped)  # 187 and 46


def test_an_unknown_digits_setting_is_refused_when_building():
    import pytest

    with pytest.raises(ValueError, match="digits must be one of"):
        Vocabulary.build(["call 0800"], digits="zeros")
