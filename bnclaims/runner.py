"""Train runs with either engine from any process.

Keras fixes its backend when it is first imported, so a process runs one engine's backend: the
engine whose backend this process runs (or could still load) trains here; the other trains in a
subprocess (`python -m bnclaims.runner`), which gets the specs and hands back RunResults as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import backend
from .data import Dataset, load_dataset, split_for_run
from .results import RunResult
from .spec import ENGINES, RunContext, RunSpec, run_key

ROOT = Path(__file__).resolve().parents[1]


class EngineError(RuntimeError):
    """An engine's subprocess failed; the message is its last line of error output."""


def runs_here(engine: str) -> bool:
    """Whether this process can train `engine` itself (it runs, or can still load, its backend)."""
    return backend.loaded_name() in (None, ENGINES[engine])


def context(engine: str, dataset: Dataset, seed_block: int | None = None) -> RunContext:
    """The context `engine` trains in here. seed_block: the compiled engine's seed block (RunContext);
    None, the device's default (backend.default_seed_block). The fit engine trains a seed at a time."""
    name = ENGINES[engine]
    if engine == "fit" and seed_block not in (None, 1):
        raise ValueError(f"the fit engine trains one seed at a time; it has no seed block of {seed_block}")
    where = backend.platform(name)
    if engine == "fit":
        return RunContext(engine, name, where, dataset.fingerprint)
    block = backend.default_seed_block(where) if seed_block is None else seed_block
    return RunContext(engine, name, where, dataset.fingerprint, seed_block=block)


def train(specs: list[RunSpec], dataset: Dataset, engine: str, threads: int | None = None,
          ctx: RunContext | None = None, isolated: bool = False) -> list[RunResult]:
    """Train specs (all on `dataset`) with `engine`, here or in a subprocess; results in spec order.
    isolated: in a subprocess of its own even when this process could train them."""
    if not specs:
        return []
    here = runs_here(engine) and not isolated
    if here:   # before anything else starts the framework: its threads are sized when it loads
        backend.load(threads, name=ENGINES[engine])
    ctx = ctx or context(engine, dataset)
    if here:
        return _train_here(specs, dataset, engine, ctx)
    return _train_elsewhere(specs, dataset, engine, threads, ctx)


def program_group(engine: str, spec: RunSpec, dataset: Dataset):
    """What the runs that share the engine's costly set-up with `spec` have alike: the compiled
    engine's program signature (bnclaims.engines.compiled.Signature); None for an engine that sets up each run
    anew."""
    if engine != "compiled":
        return None
    from .engines.compiled import Signature

    return Signature.of(spec, dataset)


def _train_here(specs, dataset, engine, ctx) -> list[RunResult]:
    """Each spec on its own split of the dataset (see bnclaims.data.split_for_run); the run key's data
    fingerprint is the dataset's, and the spec's split and seed name the split drawn from it."""
    if engine == "compiled":
        from .engines.compiled import train_runs

        return train_runs(specs, dataset, ctx)
    from .engines.fit import train as fit

    return [fit(spec, split_for_run(dataset, spec.split, spec.seed), ctx) for spec in specs]


def _train_elsewhere(specs, dataset, engine, threads, ctx) -> list[RunResult]:
    request = {"engine": engine, "dataset": dataset.name, "threads": threads, "context": ctx.__dict__,
               "specs": [spec.to_dict() for spec in specs]}
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    environment.pop("KERAS_BACKEND", None)
    with tempfile.TemporaryDirectory(prefix="bnclaims-runner-") as folder:
        request_path, answer_path = Path(folder) / "request.json", Path(folder) / "answer.json"
        request_path.write_text(json.dumps(request))
        done = subprocess.run([sys.executable, "-m", "bnclaims.runner", str(request_path), str(answer_path)],
                              capture_output=True, text=True, env=environment)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
            raise EngineError(f"the {engine} engine's subprocess failed: {last}")
        answer = json.loads(answer_path.read_text())
    results = [RunResult.from_json_dict(data) for data in answer]
    for spec, result in zip(specs, results):
        if result.key != run_key(spec, ctx):
            raise EngineError(f"the {engine} engine's subprocess trained {spec.label()} seed={spec.seed} "
                              f"under another key: its data or libraries differ from this process's")
    return results


def main(argv: list[str]) -> int:
    request_path, answer_path = argv
    request = json.loads(Path(request_path).read_text())
    engine = request["engine"]
    backend.load(request["threads"], name=ENGINES[engine])
    dataset = load_dataset(request["dataset"])
    ctx = RunContext(**request["context"])
    here = context(engine, dataset, ctx.seed_block)
    if here != ctx:
        raise SystemExit(f"this subprocess would train under {here}, not the requested {ctx}")
    specs = [RunSpec.from_dict(data) for data in request["specs"]]
    results = _train_here(specs, dataset, engine, ctx)
    Path(answer_path).write_text(json.dumps([r.to_json_dict() for r in results], allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
