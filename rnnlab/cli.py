"""The `rnnlab` command: corpora (list, fetch, cite), repro, predict, register, compare, remote, generate."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rnnlab import catalog, fetch, layout, registries
from rnnlab.errors import RnnlabError


def _settings() -> fetch.Settings:
    from rnnlab import params

    if params.PARAMS_FILE.exists():
        return fetch.Settings.from_params(params.load().download)
    mirror = os.environ.get(fetch.MIRROR_ENV)
    return fetch.Settings(mirror_dir=Path(mirror) if mirror else None)


def _mirror_has(mirror: Path, path: str) -> bool:
    """A file, a directory (`spam/data/`) or a glob (`spam/data/*/*.json`): up to its first wildcard."""
    fixed = re.split(r"[*?\[]", path, maxsplit=1)[0]
    if fixed != path:
        return (mirror / fixed.rsplit("/", 1)[0]).is_dir() if "/" in fixed else mirror.is_dir()
    return (mirror / path).is_file() or (path.endswith("/") and (mirror / path).is_dir())


def _reachable(src: catalog.Source, entry: catalog.Entry, s: fetch.Settings) -> bool:
    if src.kind == "mirror":
        paths = src.mirror if isinstance(src.mirror, dict) else {"": src.mirror}
        return s.mirror_dir is not None and all(_mirror_has(s.mirror_dir, p) for p in paths.values())
    if src.kind == "url":
        url = src.url if isinstance(src.url, str) else next(iter(src.url.values()))
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5):
                return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable now"
            return False
    return registries.available(src.registry, src.package, src.version, python_version=src.python_version)


def corpora_list(args) -> None:
    s = _settings()
    entries = list(catalog.load().values())
    checks = [(e, src) for e in entries for src in e.sources]
    with ThreadPoolExecutor(8) as pool:
        ok = dict(zip(((e.name, src.describe()) for e, src in checks),
                      pool.map(lambda es: _reachable(es[1], es[0], s), checks)))
    print(f"{'name':30} {'kind':9} {'size':36} license / sources (+ reachable now, - not)")
    for e in entries:
        standin = f" [stand-in for {e.standin_for}]" if e.standin_for else ""
        print(f"{e.name:30} {e.kind:9} {e.size[:36]:36} {e.license[:70]}{standin}")
        for src in e.sources:
            mark = "+" if ok[(e.name, src.describe())] else "-"
            print(f"{'':77} {mark} {src.describe()}")


def corpora_fetch(args) -> None:
    names = list(catalog.load()) if args.all else args.names
    if not names:
        raise RnnlabError("name one or more corpora, or --all")
    s = _settings()
    failed = []
    for name in names:
        dest = Path(args.dest) / name if args.dest else layout.raw(name)
        try:
            record = fetch.fetch(name, dest, s)
            print(f"{name}: {record['corpus']} from {record['source']} -> {dest}")
        except RnnlabError as e:
            failed.append(name)
            print(f"error: {e}", file=sys.stderr)
    if failed:
        raise RnnlabError(f"{len(failed)} of {len(names)} could not be fetched: {', '.join(failed)}")


def corpora_cite(args) -> None:
    for name in args.names:
        e = catalog.entry(name)
        print(f"{e.title}\n  {e.citation}\n  License: {e.license}")


MAX_INPUT_BYTES = 64 << 20  # a whole input (file or stdin): far more text than a prediction call needs


def _texts(args) -> list[str]:
    if args.file:
        from rnnlab.corpora import read_text

        path = Path(args.file)
        if not path.exists():
            raise RnnlabError(f"{path}: no such file")
        if not path.is_file():
            raise RnnlabError(f"{path}: not a regular file (a device, pipe or directory); give a text file")
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise RnnlabError(f"{path}: {path.stat().st_size:,} bytes, over the {MAX_INPUT_BYTES:,}-byte input limit; "
                              "split it into smaller files")
        texts = read_text(path)[0].splitlines()
    elif args.texts:
        texts = args.texts
    else:
        # read no more than the limit allows: 4 GB on stdin must not be held in memory to be refused
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise RnnlabError(f"stdin: more than {MAX_INPUT_BYTES:,} bytes of input; split it into smaller parts")
        texts = _decoded(data, "stdin").splitlines()
    if not texts:
        raise RnnlabError("nothing to classify: give texts, --file PATH, or lines on stdin")
    for i, text in enumerate(texts, 1):
        where = f"{args.file}: line {i}" if args.file else f"text {i}" if args.texts else f"stdin: line {i}"
        _check_text(text, where, args.max_chars)
    return texts


def _decoded(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise RnnlabError(f"{where}: not utf-8 at byte {e.start} (line {line})") from None


def _check_text(text: str, where: str, max_chars: int) -> None:
    """Refuse what cannot be a meant input: nothing, bytes that are not UTF-8, a whole file in one text."""
    if not text.strip():
        raise RnnlabError(f"{where}: empty text, nothing to classify")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # argv bytes that were not UTF-8 arrive as lone surrogates
        raise RnnlabError(f"{where}: not utf-8 at character {e.start}") from None
    if len(text) > max_chars:
        raise RnnlabError(f"{where}: {len(text):,} characters, over the --max-chars limit of {max_chars:,} "
                          "(a model reads only its first max_len tokens)")


def _registry_settings() -> tuple[str, str]:
    from rnnlab import params

    if params.PARAMS_FILE.exists():
        cfg = params.load().registry
        return cfg.prefix, cfg.alias
    return "rnnlab", "champion"


def _served(args):
    """A local model directory (--model-dir) or the registered champion of the task."""
    if args.model_dir:
        from rnnlab import serving

        return serving.load(Path(args.model_dir)), str(args.model_dir)
    from rnnlab import registry

    prefix, alias = _registry_settings()
    return registry.load(args.task, prefix, args.alias or alias), f"{prefix}-{args.task}@{args.alias or alias}"


def predict(args) -> None:
    from rnnlab import registry

    if not args.model_dir:
        registry.task(args.task)  # an unknown task is one line before anything loads
    texts = _texts(args)
    try:
        predictor, source = _served(args)
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        # a model directory's JSON files (vocabulary, characters) that are not what they should be
        where = args.model_dir or f"the registered {args.task} model"
        raise RnnlabError(f"{where}: a file in it is not what a model directory holds ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from None
    print(f"model: {source}", file=sys.stderr)
    if hasattr(predictor, "generate"):
        for prompt in texts:
            prompt = prompt.replace("\\n", "\n")
            print(prompt + predictor.generate(prompt, args.length, args.temperature, args.seed))
        return
    for text, row in zip(texts, predictor.predict(texts)):
        print(json.dumps({"text": text[:80], **row}, ensure_ascii=False))


def register(args) -> None:
    from rnnlab import registry

    prefix, alias = _registry_settings()
    for name in args.tasks or list(registry.tasks()):
        registry.register_champion(name, prefix, alias)


def remote(args) -> None:
    from rnnlab import remote as dvc_remote

    if args.action == "check":
        print(dvc_remote.check(args.remote))
        return
    status = dvc_remote.transfer(args.action, args.remote, args.targets)
    if status:
        sys.exit(status)


def compare(args) -> None:
    from rnnlab import compare as page

    tables = page.build(Path(args.out), args.mlflow_url)
    rows = sum(len(t) for t in tables.values())
    linked = sum(1 for t in tables.values() for r in t if r.run_id)
    print(f"{args.out}: {rows} variants in {len(tables)} tasks, {linked} linked to their MLflow run")


def repro(args) -> None:
    import signal

    from rnnlab import noop, parallel

    # `kill` stops the stages and records what finished, as Ctrl-C does (a background job ignores SIGINT)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    start = time.monotonic()
    counts: dict[str, int] = {}

    def progress(outcome) -> None:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        print(f"-- {outcome.stage}: {outcome.status} ({outcome.seconds:.1f} s; {sum(counts.values())} stages done)",
              flush=True)

    whole = not args.targets and not args.force
    if whole and noop.up_to_date():
        print(noop.UP_TO_DATE)
        return
    noop.forget()
    outcomes = parallel.reproduce(".", args.targets or None, force=args.force, jobs=args.jobs, address=args.address,
                                  on_outcome=progress)
    if whole:
        noop.record()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    print(f"{len(outcomes)} stages in {time.monotonic() - start:.0f} s: {summary or 'nothing to do'}")


def pipeline(args) -> None:
    from rnnlab import dvcyaml

    if args.check:
        current = dvcyaml.DVC_YAML.read_text(encoding="utf-8") if dvcyaml.DVC_YAML.is_file() else None
        if current != dvcyaml.render():
            raise RnnlabError(f"{dvcyaml.DVC_YAML}: stale against params.yaml and stages/**/stages.yaml "
                              "(run `rnnlab pipeline`)")
        print(f"{dvcyaml.DVC_YAML}: current")
        return
    changed = dvcyaml.write()
    print(f"{dvcyaml.DVC_YAML}: {'rewritten' if changed else 'already current'}")


def generate(args) -> None:
    from rnnlab import charlm

    model, config, vocab = charlm.load(Path(args.model_dir))
    prompt = args.prompt.replace("\\n", "\n")
    print(prompt + charlm.generate(model, vocab, prompt, args.length, args.temperature, seed=args.seed,
                                   window=config["window"]))


def offline_plots(args) -> None:
    from rnnlab import offlineplots

    print(f"dvc plots show: Vega inline from {offlineplots.build()}")


def _version() -> str:
    from importlib.metadata import version

    return f"rnnlab {version('rnnlab')}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnnlab", description=__doc__)
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("corpora", help="the corpus catalog").add_subparsers(dest="action", required=True)
    c.add_parser("list", help="every entry with size, license and which sources answer now").set_defaults(fn=corpora_list)
    f = c.add_parser("fetch", help="fetch entries (default into data/raw/<name>)")
    f.add_argument("names", nargs="*")
    f.add_argument("--all", action="store_true")
    f.add_argument("--dest", help="put each entry under DEST/<name> instead")
    f.set_defaults(fn=corpora_fetch)
    ci = c.add_parser("cite", help="citation and license")
    ci.add_argument("names", nargs="+")
    ci.set_defaults(fn=corpora_cite)
    pr = sub.add_parser("predict", help="labels with probabilities (poetry: a continuation) from the task's "
                                        "registered champion in MLflow, or from --model-dir")
    pr.add_argument("task", help="a task registered by the pipeline (e.g. sms, sentiment, letters, news, poetry); "
                                 "with --model-dir, only a label")
    pr.add_argument("texts", nargs="*", help="texts or poetry prompts (default: one per line on stdin)")
    pr.add_argument("--file", help="a UTF-8 file with one text per line")
    pr.add_argument("--max-chars", type=int, default=100_000, help="refuse longer texts (default 100,000 characters)")
    pr.add_argument("--model-dir", help="a local model directory instead of the registry, e.g. models/sms/lstm-glove-packed")
    pr.add_argument("--alias", help="registry alias (default: registry.alias in params.yaml, else champion)")
    pr.add_argument("--length", type=int, default=400, help="poetry: characters to generate")
    pr.add_argument("--temperature", type=float, default=0.5, help="poetry: sampling temperature")
    pr.add_argument("--seed", type=int, default=0, help="poetry: sampling seed")
    pr.set_defaults(fn=predict)
    rg = sub.add_parser("register", help="register each task's best model in MLflow if it beats the champion "
                                         "(what the register@TASK stages do)")
    rg.add_argument("tasks", nargs="*", help="default: every task")
    rg.set_defaults(fn=register)
    rm = sub.add_parser("remote", help="check the DVC remote, then push or pull with the run-cache")
    rm.add_argument("action", choices=["check", "push", "pull"])
    rm.add_argument("targets", nargs="*", help="push/pull: stages or paths (default: everything)")
    rm.add_argument("-r", "--remote", help="remote name (default: the project's default remote)")
    rm.set_defaults(fn=remote)
    cp = sub.add_parser("compare", help="one HTML page: every task's variants, plots, links to their MLflow runs")
    cp.add_argument("--out", default="results/compare.html")
    cp.add_argument("--mlflow-url", help="the MLflow UI the links open (default: a tracking server's URI, "
                                         "else http://127.0.0.1:5000 as `mlflow ui` serves)")
    cp.set_defaults(fn=compare)
    rp = sub.add_parser("repro", help="`dvc repro` with independent stages at once (DVC still decides what is stale "
                                      "and writes dvc.lock); stages are packed by params.yaml's threads and memory_gb")
    rp.add_argument("targets", nargs="*", help="dvc.yaml stages (default: the whole pipeline)")
    rp.add_argument("-j", "--jobs", type=int, default=None,
                    help="compute threads to fill (default: the cores this process may use)")
    rp.add_argument("-f", "--force", action="store_true", help="rerun stages whose inputs did not change")
    rp.add_argument("--address", help="run the commands on this Dask scheduler's workers (tcp://host:port), which "
                                      "must share this workspace; --jobs then defaults to the cluster's threads")
    rp.set_defaults(fn=repro)
    pl = sub.add_parser("pipeline", help="render dvc.yaml from params.yaml's tasks and the stage templates "
                                         "(after adding or removing a task)")
    pl.add_argument("--check", action="store_true", help="only say whether dvc.yaml is current (exit 2 if not)")
    pl.set_defaults(fn=pipeline)
    g = sub.add_parser("generate", help="continue a prompt with a trained character model")
    g.add_argument("model_dir", help="e.g. models/poetry/lstm")
    g.add_argument("--prompt", default="Ognuno sta solo sul cuor della terra\n", help="\\n for a line break")
    g.add_argument("--length", type=int, default=400)
    g.add_argument("--temperature", type=float, default=0.5)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(fn=generate)
    sub.add_parser("offline-plots", help="make `dvc plots show` work offline: Vega inline in DVC's HTML template "
                   "(make install runs it; needs npm)").set_defaults(fn=offline_plots)
    return p


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra:  # texts after an option (`predict sms --model-dir D "text"`): argparse leaves them over
        if getattr(args, "texts", None) is None or any(e.startswith("-") for e in extra):
            p.error(f"unrecognized arguments: {' '.join(extra)}")
        args.texts = [*args.texts, *extra]
    # torch notes a crafted weights file's pickle protocol before refusing it: the refusal is the message
    warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
    try:
        args.fn(args)
    except RnnlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C, or `kill` of `rnnlab repro`: its stages are stopped, finished ones kept
        print(f"stopped: rnnlab {getattr(args, 'command', '')}".rstrip() + " was interrupted; what finished is kept "
              "(for repro: in DVC's cache and dvc.lock; run it again to go on)", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
