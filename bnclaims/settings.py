"""Settings: the one object that holds a session's configuration, resolved from command-line options.

Profiles (the training budget is in examples seen, the talk's 480,000 = 10 epochs over 48,000 images):
  default  mnist5k (bundled, offline), the talk's budget: 150 passes over its 3,200 training images,
           3,750 SGD steps at batch 128; seeds chosen by power (see DEFAULT_SEEDS).   The default.
  short    mnist5k, 32,000 examples (10 passes, 250 steps at batch 128), seeds 0-4: fast iteration.
  controls the default profile, and the six advantages' checks and the talk's table again with LayerNorm
           and with GroupNorm in BN's place (docs/normalizers.md).
  paper    full MNIST with the talk's split, the talk's budget (10 epochs), seeds 0-9.
  conv     a conv net (two 3x3 conv blocks of 32 and 64 channels) on Fashion-MNIST, the talk's budget,
           the default's seeds: the six advantages' own checks and the talk's table (docs/conv.md).
--claims-dataset and --claims-seeds override a profile's dataset and seeds; the budget stays the
profile's, in examples, so on another dataset a run makes as many passes as that budget takes.

Engines (--claims-engine; see bnclaims.spec.ENGINES):
  compiled  Keras layers on JAX, each run one compiled XLA program (bnclaims.engines.compiled).   The default.
  fit       Keras `fit` on TensorFlow, as the talk trains: the reference (bnclaims.engines.fit).
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cache import CACHE_ENV_VAR, CACHE_MODES
from .spec import DEFAULT_ENGINE, ENGINES
from .tuning import TUNING_SEED_BASE


class SettingsError(ValueError):
    """An option value the suite cannot use; the message is one line that says how to fix it."""


# The talk trained each model for 10 epochs over 48,000 images.
TALK_EXAMPLES = 480_000
TALK_EPOCHS = 10
# The talk's batch size, at which a budget's steps are stated.
TALK_BATCH = 128

# Seeds of the default profile, from the power analysis of the talk's budget (python -m bnclaims.power on
# the ledger of a 10-seed default run; README "Seeds"): the exact tests reach their level from 5 seeds,
# and at 7 most checks reach power 0.8. Those that need more (A6's batch and ghost checks, TABLE-1,
# A1-tuned, TABLE-2) say so in their evidence's design note.
DEFAULT_SEEDS = 7


# Looks of the sequential design (bnclaims.stats.SequentialDesign): a paired check still undecided at the
# profile's seeds adds as many seeds again, up to this many blocks in all, its level spent equally over
# the looks. The default profile's 3 blocks of 7 seeds cap a check at 21 seeds.
DEFAULT_LOOKS = 3


@dataclass(frozen=True)
class Profile:
    dataset: str
    seeds: tuple[int, ...]
    examples: int                 # training examples each run sees: its budget
    description: str
    looks: int = DEFAULT_LOOKS    # blocks of seeds an undecided paired check may use
    # A profile that runs another's checks at that profile's budget and seeds, and more checks besides:
    # the other's declared findings speak for its checks here too.
    findings_from: str = ""
    # The network its runs train (bnclaims.spec.ARCHITECTURES) and its hidden widths or channels (empty:
    # RunSpec's own, the talk's 256, 128, 64).
    architecture: str = "mlp"
    hidden: tuple[int, ...] = ()
    # The claim ids whose checks it runs (empty: every check); the plugin skips the others with
    # claims_reason.
    claims: tuple[str, ...] = ()
    claims_reason: str = ""


PROFILES = {
    "default": Profile("mnist5k", tuple(range(DEFAULT_SEEDS)), TALK_EXAMPLES,
                       f"the talk's budget (480,000 examples: 150 passes over the bundled 3,200 MNIST training "
                       f"images), {DEFAULT_SEEDS} seeds, up to {DEFAULT_SEEDS * DEFAULT_LOOKS} where a check is "
                       f"undecided"),
    "short": Profile("mnist5k", tuple(range(5)), 32_000,
                     "a fifteenth of the talk's budget (10 passes over the bundled MNIST digits), 5 seeds, up to 10 "
                     "where a check is undecided", looks=2),
    # The default profile with the normalizer controls (bnclaims.catalogue.with_normalizer_controls;
    # docs/normalizers.md): its BN and plain runs are the default's, served from the same cache.
    "controls": Profile("mnist5k", tuple(range(DEFAULT_SEEDS)), TALK_EXAMPLES,
                        "the default profile, and each advantage's checks and the talk's table again with "
                        "LayerNorm and with GroupNorm in BN's place", findings_from="default"),
    "paper": Profile("mnist", tuple(range(10)), TALK_EXAMPLES,
                     "full MNIST with the talk's split and budget (10 epochs), 10 seeds, up to 30 where a check is "
                     "undecided"),
    # Does the talk hold where BN is used? A conv net on 28x28 images (docs/conv.md). Only the checks that
    # carry over run: each advantage's own (the claim ids A1..A6 that decide its verdict) and the talk's
    # table, and the implementation checks of the layers (T1, T3: Keras against the formulas, no training);
    # the others probe the MLP's Dense units (R1, P1, P3), count its Dense layout (T2), or are its
    # further readings (tuned twins, controls).
    "conv": Profile("fashion_mnist", tuple(range(DEFAULT_SEEDS)), TALK_EXAMPLES,
                    f"a conv net (3x3 conv blocks of 32 and 64 channels) on Fashion-MNIST at the talk's budget (10 "
                    f"passes over 48,000 images), {DEFAULT_SEEDS} seeds, up to {DEFAULT_SEEDS * DEFAULT_LOOKS} where a "
                    f"check is undecided: the six advantages' own checks and the talk's table",
                    architecture="conv", hidden=(32, 64),
                    claims=("A1", "A2", "A3", "A4", "A5", "A6", "TABLE-1", "TABLE-2", "TABLE-3", "TABLE-4", "T1",
                            "T3"),
                    claims_reason="only the checks that carry over to a conv net run in it: the six advantages' "
                                  "own checks (A1..A6), the talk's table (TABLE-1..4) and the layers' "
                                  "implementation checks (T1, T3)"),
}
DEFAULT_PROFILE = "default"


def passes_for(examples: int, train_size: int) -> int:
    """Passes over a training split of this size that see `examples` examples (at least one)."""
    return max(1, round(examples / train_size))


def budget_of(examples: int, train_size: int, batch_size: int = TALK_BATCH) -> dict:
    """A budget as the ledger states it: examples seen, passes, and SGD steps at a batch size (Keras
    ends each pass with a smaller batch when the size does not divide the split)."""
    passes = passes_for(examples, train_size)
    return {"examples_seen": passes * train_size, "passes": passes,
            "steps": passes * -(-train_size // batch_size), "batch_size": batch_size}


def parse_seeds(text: str) -> tuple[int, ...]:
    """'5' -> seeds 0..4; '3-7' -> 3..7 inclusive; '0,4,9' -> those seeds."""
    text = str(text).strip()
    try:
        if re.fullmatch(r"\d+", text):
            count = int(text)
            seeds = tuple(range(count))
        elif match := re.fullmatch(r"(\d+)\s*-\s*(\d+)", text):
            first, last = int(match.group(1)), int(match.group(2))
            if last < first:
                raise ValueError("range end before its start")
            seeds = tuple(range(first, last + 1))
        else:
            seeds = tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise SettingsError(
            f"--claims-seeds {text!r} is not a count (5), a range (0-9) or a list (0,3,7): {error}"
        ) from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise SettingsError(
            f"--claims-seeds {text!r} must name at least 2 distinct non-negative seeds (paired statistics need them)"
        )
    return seeds


def parse_looks(text: str | int) -> int:
    """--claims-looks: blocks of seeds in the sequential design, a whole number from 1 (a fixed design)."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = 0
    if not 1 <= value <= 10:
        raise SettingsError(f"--claims-looks {text!r} is not a number of seed blocks from 1 (the profile's seeds "
                            f"only) to 10")
    return value


def parse_budget(text: str | int) -> int:
    """--claims-budget: training examples per run, a positive whole number ('480000' or '480,000')."""
    try:
        value = int(str(text).replace(",", "").replace("_", "").strip())
    except ValueError:
        value = 0
    if value < 1:
        raise SettingsError(f"--claims-budget {text!r} is not a positive number of training examples "
                            f"(the talk's is {TALK_EXAMPLES:,})")
    return value


def writable_folder(path: Path | str, option: str) -> Path:
    """The folder an option names, shown to take files (it, or where it is missing the nearest folder
    above it that exists, is written to and cleaned up; nothing is made); SettingsError (one line) where
    it is a file or cannot be written. Checked before anything trains: a report folder found unwritable
    after a 25-minute session would lose every verdict."""
    folder = Path(path).expanduser().resolve()
    existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"is under {existing}, a file"
        raise SettingsError(f"{option} {str(path)!r} {where}, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise SettingsError(f"{option} {str(path)!r} cannot be used as a folder: "
                            f"{error.strerror or error}") from None
    return folder


# Where a session's runs may train besides this machine: a Dask distributed scheduler (bnclaims.cluster).
CLUSTER_ENV_VAR = "BNCLAIMS_CLUSTER"
# Seeds trained together in one vectorized program (bnclaims.engines.compiled): at most this many.
MAX_SEED_BLOCK = 64


def parse_cluster(text: str | None) -> str | None:
    """--claims-cluster: a scheduler address as Dask takes it (tcp://host:8786, host:8786, tls://...);
    None or empty: no cluster."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if any(c.isspace() for c in text) or not text.split("://", 1)[-1]:
        raise SettingsError(f"--claims-cluster {text!r} is not a Dask scheduler address (tcp://host:8786)")
    return text


def parse_seed_block(text: str | int | None, engine: str) -> int | None:
    """--claims-seed-block: seeds per vectorized program, 1 to MAX_SEED_BLOCK; None: the device's own."""
    if text is None:
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SEED_BLOCK:
        raise SettingsError(f"--claims-seed-block {text!r} is not a number of seeds from 1 to {MAX_SEED_BLOCK}")
    if value > 1 and engine != "compiled":
        raise SettingsError(f"--claims-seed-block {value}: only the compiled engine trains seeds in blocks, "
                            f"not the {engine} engine")
    return value


def format_seeds(seeds: tuple[int, ...]) -> str:
    if seeds == tuple(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


# Every run trains with one intra-op thread, whatever the session's layout. XLA and TensorFlow split a
# reduction over their threads, so the thread count changes a run's last bits (on the talk's model, a
# test accuracy of 0.864 against 0.865) while a run's key does not name it: with the count pinned, the
# same spec gives the same numbers under -n 1, -n auto or no xdist at all, and the cache serves every
# session the numbers any session would have trained. Cores are used by running runs side by side
# (pytest -n auto: one worker per core).
RUN_THREADS = 1


def worker_threads(cores: int | None = None, workers: int | None = None) -> int:
    """Framework threads (TensorFlow's or XLA's) for a process that trains runs: RUN_THREADS, whatever
    the cores and workers (kept as a function so that callers state what they ask)."""
    return RUN_THREADS


@dataclass(frozen=True)
class Settings:
    profile: str
    dataset: str
    seeds: tuple[int, ...]
    cache_dir: Path
    cache_mode: str
    session_id: str
    report_dir: Path
    threads: int | None
    engine: str = DEFAULT_ENGINE
    examples: int = TALK_EXAMPLES
    looks: int = 1                # blocks of seeds a paired check may use (bnclaims.stats.SequentialDesign)
    strict: bool = False          # a declared finding not observed fails the run (for maintainers)
    cluster: str | None = None    # a Dask scheduler's address: runs the cache lacks train on its workers
    seed_block: int | None = None  # seeds per vectorized program (bnclaims.engines.compiled); None: the device's
    architecture: str = "mlp"     # the profile's network (bnclaims.spec.ARCHITECTURES), its runs' base
    hidden: tuple[int, ...] = ()  # the profile's hidden widths or channels; empty: RunSpec's

    @classmethod
    def resolve(cls, *, profile: str = DEFAULT_PROFILE, dataset: str | None = None, seeds: str | None = None,
                cache_dir: str | None = None, cache_mode: str = "use", session_id: str = "",
                report_dir: str | Path = "reports", root: Path | str = ".",
                threads: int | None = None, engine: str | None = None,
                examples: str | int | None = None, looks: str | int | None = None,
                strict: bool = False, cluster: str | None = None, seed_block: str | int | None = None,
                check_folders: bool = True) -> "Settings":
        """check_folders: show the cache and report folders writable (SettingsError where not); off for a
        session that runs no claims."""
        if profile not in PROFILES:
            raise SettingsError(f"--claims-profile {profile!r} is unknown; choose one of {', '.join(PROFILES)}")
        if cache_mode not in CACHE_MODES:
            raise SettingsError(f"--claims-cache-mode {cache_mode!r} is unknown; choose one of {', '.join(CACHE_MODES)}")
        engine = DEFAULT_ENGINE if engine is None else engine
        if engine not in ENGINES:
            raise SettingsError(f"--claims-engine {engine!r} is unknown; choose one of {', '.join(ENGINES)}")
        chosen = PROFILES[profile]
        from .data import DatasetError, check_dataset_name

        try:
            check_dataset_name(dataset or chosen.dataset)
        except DatasetError as error:
            raise SettingsError(f"--claims-dataset: {error}") from None
        budget = chosen.examples if examples is None else parse_budget(examples)
        chosen_seeds = parse_seeds(seeds) if seeds is not None else chosen.seeds
        chosen_looks = chosen.looks if looks is None else parse_looks(looks)
        cluster = parse_cluster(os.environ.get(CLUSTER_ENV_VAR) if cluster is None else cluster)
        seed_block = parse_seed_block(seed_block, engine)
        highest = max(chosen_seeds) + len(chosen_seeds) * (chosen_looks - 1)
        if highest >= TUNING_SEED_BASE:
            raise SettingsError(
                f"--claims-seeds {format_seeds(chosen_seeds)} with {chosen_looks} looks reaches seed {highest}: test "
                f"seeds stay below {TUNING_SEED_BASE}, where the tuned twins choose their learning rates")
        root = Path(root)
        # Folders last: every value is checked before a folder is probed.
        cache_dir = Path(cache_dir or os.environ.get(CACHE_ENV_VAR) or root / ".claims-cache").expanduser()
        cache_option = "--claims-cache" if cache_dir != root / ".claims-cache" else "the run cache folder"
        report_dir = root / Path(report_dir).expanduser()
        if check_folders:
            report_dir = writable_folder(report_dir, "--claims-report-dir")
            if cache_mode != "bypass":
                cache_dir = writable_folder(root / cache_dir, cache_option)
        cache_dir, report_dir = (root / cache_dir).resolve(), report_dir.resolve()
        return cls(
            profile=profile,
            dataset=dataset or chosen.dataset,
            seeds=chosen_seeds,
            cache_dir=cache_dir,
            cache_mode=cache_mode,
            session_id=session_id,
            report_dir=report_dir,
            threads=threads,
            engine=engine,
            examples=budget,
            looks=chosen_looks,
            strict=bool(strict),
            cluster=cluster,
            seed_block=seed_block,
            architecture=chosen.architecture,
            hidden=chosen.hidden,
        )

    def seeds_at_look(self, look: int) -> tuple[int, ...]:
        """The seeds of look ``look`` (0-based): the session's seeds, then as many again for each later
        look, the next consecutive seeds after the largest one so far."""
        if not 0 <= look < self.looks:
            raise ValueError(f"look {look} outside the design's {self.looks} looks")
        block = len(self.seeds)
        extra = range(max(self.seeds) + 1, max(self.seeds) + 1 + block * look)
        return (*self.seeds, *extra)

    def design(self):
        """The sequential design of the session's paired checks: a look per block of seeds."""
        from .stats import SequentialDesign

        return SequentialDesign.blocks(len(self.seeds), len(self.seeds) * self.looks)

    def options(self) -> list[str]:
        """The command-line options that reproduce this configuration (the engine only when not the
        default, so that commands stay short in the common case)."""
        engine = ["--claims-engine", self.engine] if self.engine != DEFAULT_ENGINE else []
        budget = ["--claims-budget", str(self.examples)] if self.examples != PROFILES[self.profile].examples else []
        looks = ["--claims-looks", str(self.looks)] if self.looks != PROFILES[self.profile].looks else []
        return ["--claims-profile", self.profile, "--claims-dataset", self.dataset,
                "--claims-seeds", format_seeds(self.seeds), *looks, *budget, *engine]

    @property
    def findings_apply(self) -> bool:
        """Whether the catalogue's declared findings speak for this session: a finding was decided on a
        profile, its budget included, and its reason explains the numbers of that budget (a mechanism of
        so many steps, say); under another --claims-budget every check is held to its claim."""
        return self.examples == PROFILES[self.profile].examples

    @property
    def finding_profiles(self) -> tuple[str, ...]:
        """The profiles whose declared findings speak for this session's checks."""
        base = PROFILES[self.profile].findings_from
        return (self.profile, base) if base else (self.profile,)

    def budget(self) -> dict:
        """The session's budget on its dataset: examples seen, passes and steps at the talk's batch size
        (loads the dataset, which is memoized per process); only examples when it cannot be loaded."""
        from .data import DatasetError, load_dataset

        try:
            train_size = len(load_dataset(self.dataset).y_train)
        except DatasetError:
            return {"examples": self.examples}
        return budget_of(self.examples, train_size)

    def rerun_command(self, target: str = "claims/") -> str:
        return shlex.join(["pytest", target, *self.options()])

    def describe(self) -> list[str]:
        return [
            f"claims: profile {self.profile}, dataset {self.dataset}, seeds {format_seeds(self.seeds)} "
            f"(n={len(self.seeds)}, up to {len(self.seeds) * self.looks} for an undecided paired check), "
            f"budget {self.examples:,} examples per run",
            *([f"claims: network {self.architecture}, hidden {','.join(map(str, self.hidden))}"]
              if self.architecture != "mlp" else []),
            f"claims: engine {self.engine} (Keras on {ENGINES[self.engine]}), cache {self.cache_dir} "
            f"(mode {self.cache_mode}), threads per run {self.threads or RUN_THREADS}",
            f"claims: reproduce with: {self.rerun_command()}",
            *([f"claims: runs the cache lacks train on the Dask cluster at {self.cluster}"] if self.cluster else []),
            *([] if self.findings_apply else [
                f"claims: the budget is not the {self.profile} profile's: its declared findings do not apply, "
                f"every check is held to its claim"]),
        ]
