"""Stage `<task>_report`: results/letters.md — every input kind x encoder beside the deck's numbers."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

from rnnlab import atomic, goals, layout, metricsfile, reports, significance
from rnnlab import params as P
from rnnlab.entry import run_stage

# Deck 000, "Letter Dataset" (20.1.2025), test support 4,881 letter paragraphs: (author accuracy,
# author macro F1, language accuracy). Accuracies read off the slides' reports (weighted-average
# recall = accuracy; two decimals there, four for TF-IDF). The TF-IDF slide names no encoder;
# word2vec and SBERT results are not on the slides.
DECK = {
    ("tfidf", None): (0.9201, None, 0.9957),
    ("glove", "rnn"): (0.85, 0.74, 1.00), ("glove", "lstm"): (0.85, 0.74, 1.00), ("glove", "bilstm"): (0.86, 0.75, 1.00),
    ("finetuned", "rnn"): (0.55, 0.31, 0.80), ("finetuned", "lstm"): (0.93, 0.86, 1.00),
    ("finetuned", "bilstm"): (0.93, 0.86, 1.00),
}
DEPENDS_ON = ("report.md",)  # the page's prose, with $placeholders for the numbers
TEMPLATE = Path(__file__).with_name("report.md")
KIND = {"tfidf": "TF-IDF (5,000 words)", "chars": "TF-IDF character n-grams", "word2vec": "mean word2vec (trained here)", "glove": "mean GloVe 6B-50d",
        "sbert": "SBERT all-MiniLM-L6-v2", "finetuned": "fine-tuned embedding (GloVe init)"}

def _load(task: str, kind: str, variant: str) -> tuple[dict, dict]:
    name = f"{kind}-{variant}"
    m = metricsfile.read(layout.metrics(task, name))
    t = metricsfile.trained(task, name)
    return m, t


def _f(v, digits=4) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _head_table(report: dict, labels: list[str]) -> list[str]:
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label in [*labels, "macro_avg", "weighted_avg"]:
        r = report[label.replace(" ", "_")] if label.replace(" ", "_") in report else report[label]
        lines.append(f"| {label} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1_score']:.3f} | {r['support']} |")
    lines.append(f"| accuracy | | | {report['accuracy']:.4f} | |")
    return lines


def _results_table(task: str, rows, best: str) -> list[str]:
    p = _p_vs_best(task, rows, best)
    lines = ["| input | encoder | books: author macro F1 | letters: author acc | language acc | all: author acc "
             f"| p vs {best}² | all: author macro F1 | best / run epochs | train s | deck: author acc "
             "| deck: author macro F1 | deck: language acc |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, variant, m, t in rows:
        deck = DECK.get((kind, variant)) or DECK.get((kind, None))
        mark = "¹" if (kind, variant) not in DECK and deck else ""
        d = [f"{_f(x, 4 if kind == 'tfidf' else 2)}{mark if x is not None else ''}" for x in deck] if deck else ["—"] * 3
        books, letters = m["by_source"].get("gutenberg", {}), m["by_source"].get("letters", {})
        lines.append(f"| {KIND[kind]} | {variant} | {_f(books.get('author_macro_f1'))} | "
                     f"{_f(letters.get('author_accuracy'))} | {m['lang_accuracy']:.4f} | {m['author_accuracy']:.4f} | "
                     f"{p[f'{kind}-{variant}']} | "
                     f"{m['author_macro_f1']:.4f} | {t['best_epoch']} / {t['epochs_run']} | {t['train_seconds']:.1f} | "
                     f"{' | '.join(d)} |")
    return lines


def _p_vs_best(task: str, rows, best: str) -> dict[str, str]:
    """McNemar's exact p of each run's author predictions against the best run's, on the same test
    paragraphs (the evaluate stage's author_confusion.csv pairs, in test order)."""
    files = {f"{k}-{v}": layout.plots(task, f"{k}-{v}") / "author_confusion.csv" for k, v, *_ in rows}
    p = significance.versus(files, best)
    return {run: "—" if run == best else significance.p_text(p[run][2]) for run in files}


def _seeds_section(task: str, cfg, seed: int, n_letters: int) -> str:
    """The seed_runs over every seed (stage `<task>_seeds`): mean ± sample std, and each seed's numbers."""
    if not cfg.seed_runs or not cfg.extra_seeds:
        return ""
    seeds = [seed, *cfg.extra_seeds]
    lines = [f"## Headline runs over seeds {', '.join(map(str, seeds))}", "",
             f"Mean ± sample standard deviation over {len(seeds)} seeds (stage `{task}_seeds`; the table above is "
             f"seed {seed}'s). With {n_letters} test letters, one letter is {100 / max(n_letters, 1):.1f} points of "
             "letter accuracy.", "",
             "| input | encoder | books: author macro F1 | letters: author acc | language acc | each seed: books / letters |",
             "|---|---|---|---|---|---|"]
    for run in cfg.seed_runs:
        sweep = reports.seed_sweep(task, run, seeds)
        feature, variant = run.split("-", 1)
        each = ", ".join(f"{s}: {sweep['per_seed'][str(s)]['books_author_macro_f1']:.4f} / "
                         f"{sweep['per_seed'][str(s)]['letters_author_accuracy']:.3f}" for s in seeds)
        lines.append(f"| {KIND[feature]} | {variant} | {_spread(sweep, 'books_author_macro_f1')} | "
                     f"{_spread(sweep, 'letters_author_accuracy', 3)} | {_spread(sweep, 'lang_accuracy')} | {each} |")
    return "\n".join(lines)


def _spread(sweep: dict, key: str, digits: int = 4) -> str:
    return f"{sweep[key + '_mean']:.{digits}f} ± {sweep[key + '_std']:.{digits}f}"


LETTERS_HEAD = {"none": "the books' author head",
                "add": "the books' author head plus a second one that only real letters train (how letters differ from books)",
                "own": "an author head of their own that only real letters train (the books' head never sees them)"}


def _ngrams_text(chars) -> str:
    where = "across word bounds" if chars.analyzer == "char" else "within words"
    return f"{chars.ngrams[0]}- to {chars.ngrams[1]}-character sequences {where}"


def _letters_head_text(st, ft, fit: dict | None) -> str:
    """How real letters get their author: the static runs' way, then the fine-tuned runs' where it differs.
    fit: a chars run's letters_head_fit (train.json), when that head was fitted before the network."""
    lr = f", at learning rate {st.letters_lr}" if st.letters_head != "none" and st.letters_lr else ""
    if fit and lr:
        lr = f"; on dense inputs it trains with the network{lr}"
    text = f"static runs score real letters with {LETTERS_HEAD[st.letters_head]}{lr}"
    if fit:
        cv = ", ".join(f"{float(k):g}: {v:.3f}" for k, v in sorted(fit["cv_accuracy"].items(), key=lambda kv: -float(kv[0])))
        text += (f"; on the sparse n-gram rows it is fitted before the network instead: an L2-regularised logistic "
                 f"regression on the n-grams of the {fit['letters']} training letters, L2 strength {fit['l2']:g}, "
                 f"the strongest with the best {fit['folds']}-fold cross-validated accuracy on those letters ({cv}). "
                 "A convex fit has one optimum, so the letters column of the chars runs is the same for every "
                 "encoder and seed: its uncertainty is that of the test letters sample, not of training")
    elif st.letters_head != "none":
        text += ("; on the sparse n-gram rows that head reads the n-grams themselves, not the projection" +
                 (" (so there the letters column is a linear model of the letters' n-grams, the same for every encoder "
                  "that trains as many epochs)" if st.letters_head == "own" else ""))
    if ft.letters_head != st.letters_head:
        text += f"; the fine-tuned runs score them with {LETTERS_HEAD[ft.letters_head]}"
    return text


def _head_fit(rows) -> dict | None:
    """The letters head fit of the first run that has one (every chars run fits the same)."""
    return next((t.get("letters_head_fit") for *_, t in rows if t.get("letters_head_fit")), None)


def _split_text(split, prep: dict) -> tuple[str, str]:
    """How the books were split, and what that lets leak, for the page."""
    cap = (f"; at most {split.max_per_book} paragraphs per book" if split.max_per_book else "; every paragraph is used")
    if split.blocks:
        return (f"each book, in reading order, is cut into {split.blocks} runs of consecutive paragraphs, and whole "
                f"runs go to test ({split.test:.0%}) and validation ({split.val:.0%}), drawn per book{cap}",
                "Held-out runs are contiguous stretches of each book, so a test paragraph's neighbours (its scene, "
                "its characters' names) are mostly not in training; the first and last paragraph of a run still "
                "border training text.")
    return (f"paragraph level, {split.val:.0%} validation and {split.test:.0%} test of every book, drawn at "
            f"random{cap}",
            "Paragraphs of the same book and scene are in train and test, so character names and a book's "
            "vocabulary help the author head.")


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "letters")
    balance = json.loads((layout.METRICS / task / "balance.json").read_text(encoding="utf-8"))
    corpus = json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))
    rows = [(k, v, *_load(task, k, v)) for k, v in itertools.product(cfg.features, cfg.models)]
    prep, test = balance["prepare"], balance["test"]
    others = sorted(set(test["author"]) - set(cfg.authors))
    best_k, best_v, best_m, best_t = max(rows, key=lambda r: (r[2]["author_accuracy"], r[2]["author_macro_f1"],
                                                              r[2]["lang_accuracy"]))
    st, ft = cfg.static, cfg.finetuned
    split_text, leak_text = _split_text(cfg.split, prep)
    text = reports.render(TEMPLATE, task=task, n_langs=len(corpus["langs"]), langs=", ".join(corpus["langs"]),
        static_hidden=st.hidden, static_dropout=st.dropout, static_batch=st.batch, static_lr=st.lr,
        static_max_epochs=st.max_epochs, static_patience=st.patience, ft_max_len=ft.max_len,
        ft_oov_scale=ft.oov_scale, ft_batch=ft.batch, ft_lr=ft.lr, ft_max_epochs=ft.max_epochs, ft_input=ft.input,
        books=cfg.corpora.books, letters=cfg.corpora.letters, letters_read=prep["read"]["letters"],
        min_words=prep["min_words"], dropped_boilerplate=prep["dropped_boilerplate"],
        split_text=split_text, leak_text=leak_text, class_weight=st.class_weight, letters_weight=st.letters_weight,
        letters_head=_letters_head_text(st, ft, _head_fit(rows)), project=st.project, chars_max=cfg.chars.max_features,
        chars_ngrams=_ngrams_text(cfg.chars),
        seed=params.seed, goals=goals.section(task, cfg, params.seed),
        dup_within=prep["dropped_duplicates_within_books"],
        dup_across=sum(prep["dropped_cross_split_duplicates"].values()),
        train_rows=balance["train"]["rows"], val_rows=balance["val"]["rows"], test_rows=test["rows"],
        test_books=test["source"].get("gutenberg", 0), test_letters=test["source"].get("letters", 0),
        test_langs=", ".join(f"{k} {v}" for k, v in test["lang"].items()),
        others=" and ".join(others) or "other authors", author_rows=test["author_head_rows"],
        results_table="\n".join(_results_table(task, rows, f"{best_k}-{best_v}")),
        seeds_section=_seeds_section(task, cfg, params.seed, test["source"].get("letters", 0)), best_kind=KIND[best_k], best_variant=best_v,
        best=f"{best_k}-{best_v}", best_author_accuracy=f"{best_m['author_accuracy']:.4f}",
        best_lang_accuracy=f"{best_m['lang_accuracy']:.4f}", best_epoch=best_t["best_epoch"],
        best_epochs_run=best_t["epochs_run"],
        author_table="\n".join(_head_table(best_m["author"], corpus["authors"])),
        lang_table="\n".join(_head_table(best_m["lang"], corpus["langs"])),
        per_source="; ".join(f"{s}: {r['rows']} paragraphs, author accuracy {_f(r['author_accuracy'])}, language "
                             f"accuracy {_f(r['lang_accuracy'])}" for s, r in best_m["by_source"].items()))
    atomic.write_text(layout.RESULTS / f"{task}.md", text)
    reports.write_summary(task)
    print(text)


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
