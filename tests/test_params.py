import pytest
import yaml

from rnnlab import params as P
from rnnlab.errors import RnnlabError


def write(tmp_path, change):
    data = yaml.safe_load(open(P.PARAMS_FILE if P.PARAMS_FILE.exists() else "params.yaml"))
    change(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_project_params_are_valid(in_project):
    p = P.load()
    sms = P.task(p, "sms")
    assert sms.train.hidden == 64 and sms.train.batch_size == 512 and sms.max_len == 50
    assert set(sms.models) >= {"rnn", "lstm", "gru", "birnn", "bilstm", "bigru", "lstmx2", "cnn-lstm", "bilstm-attn"}


@pytest.mark.parametrize("change, message", [
    (lambda d: d["tasks"]["sms"]["train"].update(hiden=3), r"params.yaml: tasks.sms.train.hiden: Extra inputs are not permitted"),
    (lambda d: d["tasks"]["sms"]["train"].update(hidden="big"), r"tasks.sms.train.hidden: Input should be a valid integer.*'big'"),
    (lambda d: d["tasks"]["sms"]["train"].update(dropout=1.5), r"tasks.sms.train.dropout: Input should be less than 1 \(got 1.5\)"),
    (lambda d: d["tasks"]["sms"].update(models=["lstm", "transformer"]), r"tasks.sms.models.1: Value error, unknown variant 'transformer': expected \[cnn-\]\[bi\]"),
    (lambda d: d["tasks"]["sms"]["split"].update(test=0), r"params.yaml: tasks.sms.split.test: Input should be greater than 0 \(got 0\)"),
    (lambda d: d["download"].update(source_order=["ftp"]), r"download.source_order.0: Input should be 'mirror'"),
    (lambda d: d.pop("seed") and d.pop("download"), r"params.yaml: download: Field required$"),
    (lambda d: d["tasks"]["sms"].update(corpus="sms_spamm"), r"params.yaml: tasks.sms.corpus: Value error, 'sms_spamm' is not in catalog.yaml"),
    (lambda d: d.update(device="gpu"), r"params.yaml: device: Input should be 'cpu', 'cuda' or 'auto' \(got 'gpu'\)"),
    (lambda d: d["tasks"]["news"].update(encoder="bert-base"), r"params.yaml: tasks.news.encoder: Value error, 'bert-base' is not in catalog.yaml"),
    (lambda d: d["tasks"]["poetry"].pop("pretrain"), r"params.yaml: tasks.poetry: Value error, the pretrained model and `pretrain:`"),
    (lambda d: d["tasks"]["poetry"]["pretrain"].update(layers=0), r"params.yaml: tasks.poetry.pretrain.layers: Input should be greater than 0"),
    (lambda d: d["threads"].update(news_seeds=1), r"params.yaml: threads: Value error, news_seeds: a seeds stage reads its task's train entry"),
    (lambda d: d["memory_gb"].update(seeds=3), r"params.yaml: memory_gb: Value error, seeds: a seeds stage reads its task's train entry"),
    (lambda d: d["tasks"]["poetry"].update(seed_runs=["gpt"]), r"params.yaml: tasks.poetry: Value error, seed_runs: 'gpt' is not one of this task's models"),
    (lambda d: d["tasks"]["sms"].update(goals=[{"run": "gru-glove-packed", "metric": "accuracy", "at_least": 0.9, "at_most": 1.0}]),
     r"params.yaml: tasks.sms.goals.0: Value error, a goal needs exactly one of at_least and at_most"),
    (lambda d: d["tasks"]["sms"].update(baseline={"ngrams": [2, 1]}),
     r"params.yaml: tasks.sms.baseline: Value error, ngrams: \[2, 1\] is \[shortest, longest\]"),
    (lambda d: d["tasks"]["sentiment"].update(tried=[{"change": "x", "seeds": [42]}]),
     r"params.yaml: tasks.sentiment: Value error, goals, tried: this page trains nothing"),
])
def test_bad_params_give_one_line_naming_the_key(in_project, change, message):
    path = write(in_project, change)
    with pytest.raises(RnnlabError, match=message) as err:
        P.load(path)
    assert "\n" not in str(err.value)


def test_broken_yaml_and_missing_file(in_project):
    (in_project / "params.yaml").write_text("sms: [unclosed\n")
    with pytest.raises(RnnlabError, match="params.yaml: not valid YAML"):
        P.load()
    with pytest.raises(RnnlabError, match="nope.yaml: not found"):
        P.load(in_project / "nope.yaml")


def test_every_param_dvc_yaml_names_exists_in_params_yaml():
    """DVC refuses to run a stage whose listed param is missing from params.yaml (defaults do not count)."""
    from conftest import ROOT

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    missing = []
    for name, stage in stages.items():
        for key in (k for k in stage.get("params", []) if isinstance(k, str) and "${" not in k):
            node = params
            for part in key.split("."):
                if not isinstance(node, dict) or part not in node:
                    missing.append(f"{name}: {key}")
                    break
                node = node[part]
    assert not missing, missing


def test_params_read_as_dvc_writes_them(in_project):
    """`dvc exp run -S` rewrites params.yaml as YAML 1.2: the key "no" loses its quotes and must stay "no"."""
    text = (in_project / "params.yaml").read_text(encoding="utf-8")
    assert '{"no": da}' in text
    (in_project / "params.yaml").write_text(text.replace('{"no": da}', "\n      no: da"), encoding="utf-8")
    assert P.task(P.load(), "letters", kind="letters").lang_map == {"no": "da"}
    assert P.read_yaml("a: yes\nb: off\nc: true\nd: False") == {"a": "yes", "b": "off", "c": True, "d": False}
