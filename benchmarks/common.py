"""Shared helpers for the benchmark scripts: options, timing, machine info, the result table.

Machines here are noisy (other jobs share the two cores), so every figure is a median over
repeats, and every ratio compares two things timed in the same process, interleaved: a burst
of other load slows both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from rnnlab.allocator import keep_freed_memory

ROOT = Path(__file__).resolve().parents[1]


def parser(description: str, repeats: int, quick_repeats: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help=f"few repeats ({quick_repeats}) for a fast look")
    p.add_argument("--repeats", type=int, default=None, help=f"timed repeats per figure (default {repeats})")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows and machine info here")
    p.set_defaults(default_repeats=repeats, quick_repeats=quick_repeats)
    return p


def setup(args: argparse.Namespace) -> argparse.Namespace:
    """Apply --threads and resolve --repeats; the allocator set as the pipeline's stages set it."""
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    if args.repeats is None:
        args.repeats = args.quick_repeats if args.quick else args.default_repeats
    return args


def time_once(fn: Callable[[], object], number: int = 1) -> float:
    """Seconds per call of fn, over `number` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, number: int = 1,
                warmup: int = 2) -> dict[str, float]:
    """Median seconds per call for each fn; each round times every fn once, in turn.

    Interleaving spreads slow periods of a noisy machine over all contenders instead of
    letting them land on whichever was being timed at the time.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(time_once(fn, number))
    return {name: statistics.median(s) for name, s in samples.items()}


def median_time(fn: Callable[[], object], repeats: int, number: int = 1, warmup: int = 2) -> float:
    return interleaved({"fn": fn}, repeats, number, warmup)["fn"]


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "date": datetime.date.today().isoformat(),
            "load_avg": round(os.getloadavg()[0], 2)}


def row(benchmark: str, measured: float, baseline: float | None, unit: str, target: float | None = None,
        higher_is_better: bool = True, note: str = "") -> dict:
    """One table row; ratio = measured / baseline, ok = ratio meets the target (None: no target)."""
    ratio = measured / baseline if baseline else None
    ok = None
    if target is not None and ratio is not None:
        ok = ratio >= target if higher_is_better else ratio <= target
    return {"benchmark": benchmark, "measured": measured, "baseline": baseline, "unit": unit, "ratio": ratio,
            "target": target, "higher_is_better": higher_is_better, "ok": ok, "note": note}


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale * 10:
            return f"{v / scale:.1f}{suffix} {unit}".strip()
    return f"{v:.3g} {unit}".strip()


def table(rows: list[dict], title: str = "") -> str:
    """A plain aligned table: benchmark | measured | baseline | ratio | target | ok."""
    head = ["benchmark", "measured", "baseline", "ratio", "target", "ok"]
    lines = [[r["benchmark"], _num(r["measured"], r["unit"]), _num(r["baseline"], r["unit"]),
              "-" if r["ratio"] is None else f"{r['ratio']:.2f}",
              "-" if r["target"] is None else (">= " if r["higher_is_better"] else "<= ") + f"{r['target']:.2f}",
              "-" if r["ok"] is None else ("yes" if r["ok"] else "NO")] for r in rows]
    notes = [f"  {r['benchmark']}: {r['note']}" for r in rows if r["note"]]
    return "\n".join([plain_table(head, lines, title)] + (["notes:", *notes] if notes else []))


def plain_table(head: list[str], lines: list[list], title: str = "") -> str:
    """Any other aligned table (first column left, the rest right)."""
    lines = [[str(c) for c in line] for line in lines]
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    fmt = lambda cells: " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join(([title] if title else []) + [fmt(head), "-+-".join("-" * w for w in widths), *map(fmt, lines)])


def machine_line(info: dict) -> str:
    return (f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, {info['threads']} threads, "
            f"python {info['python']}, load average {info['load_avg']} at start, {info['date']}")


def report(rows: list[dict], args: argparse.Namespace, title: str, info: dict, extra: dict | None = None) -> None:
    """Print the table (and machine line); write JSON if --json was given."""
    print(table(rows, title))
    print(machine_line(info))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"title": title, "machine": info, "repeats": args.repeats,
                                         "rows": rows, **(extra or {})}, indent=2) + "\n")
        print(f"wrote {args.json}")
