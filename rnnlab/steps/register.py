"""Stage `register@<task>`: the task's best model into the MLflow registry when it beats the champion.

The output, results/champions/<task>.json, is what the pipeline's numbers chose (the same on every
machine); which version the registry holds depends on the team's store and is printed.
"""

from __future__ import annotations

from rnnlab import atomic, layout, params as P, registry


def run(task: str) -> None:
    cfg = P.load().registry
    outcome = registry.promote(task, cfg.prefix, cfg.alias)
    name, alias = outcome["registered_model"], outcome["alias"]
    if outcome["action"] == "registered":
        was = f" (was version {outcome['replaced']})" if outcome["replaced"] else ""
        print(f"{task}: {outcome['best_variant']} ({outcome['metric']} {outcome['score']:.4f}) registered as "
              f"{name} version {outcome['version']}, now @{alias}{was}")
    else:
        print(f"{task}: {name}@{alias} stays version {outcome['version']} ({outcome['champion_variant']}, "
              f"{outcome['metric']} {outcome['champion_score']:.4f}); this pipeline's best is "
              f"{outcome['best_variant']} at {outcome['score']:.4f}")
    atomic.write_json(layout.RESULTS / "champions" / f"{task}.json", registry.selection(registry.task(task), cfg.prefix))
