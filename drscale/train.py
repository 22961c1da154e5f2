"""The paper's training loop: shared random negatives, a fixed step budget, AdamW, linear decay.

Per step, B annotated pairs (q_i, p_i+) and W passages drawn uniformly from the corpus
(excluding the batch's positives) and shared by every query give the loss

    L = -1/B sum_i log( exp s(q_i,p_i+) / (exp s(q_i,p_i+) + sum_j exp s(q_i,p_j-)) ),

with s the raw inner product (no normalisation, no temperature, no in-batch negatives), as in
the authors' release. A fixed number of steps for every model size, as in the paper.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from tqdm import tqdm

from drscale.allocator import keep_freed_memory
from drscale.dev_eval import SELECTIONS, DevSet, evaluation_steps
from drscale.dropout import generator_dropout
from drscale.tokens import TokenizedData


PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}
"""Encoder precision: float32, or bfloat16 autocast (weights, optimiser and loss stay float32).
bfloat16 needs no loss scaling; it pays off on GPUs and on CPUs with AVX-512 BF16 or AMX,
and is slower than float32 on other CPUs (see benchmarks/bench_train_options.py)."""


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of one training run; frozen because it is part of a run's identity."""

    steps: int
    batch_size: int
    negatives: int
    learning_rate: float
    weight_decay: float = 1e-3
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    query_max_length: int = 32
    passage_max_length: int = 180
    seed: int = 521
    precision: str = "float32"  # or "bfloat16": autocast of the encoder, a speed option
    compile: bool = False  # torch.compile the encoder (dynamic shapes), a speed option
    fast_dropout: bool = True  # CPU dropout masks from a seeded numpy generator (drscale.dropout)
    epochs: float | None = None  # if set, train max(steps, ceil(epochs * D / batch_size)) steps: read every pair
    eval_points: int = 0  # dev CE measurements after the start, log-spaced over the run (0: none)
    selection: str = "last"  # "best_dev": keep the checkpoint with the lowest dev CE; "last": the final one
    dev_pairs: int = 256  # dev pairs of each dev measurement
    dev_pool_size: int = 512  # unlabelled passages the dev negatives are drawn from
    projection_scale: float = 1.0  # scales the random projection at initialisation (a small one starts at chance)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "negatives", "query_max_length", "passage_max_length", "dev_pairs", "dev_pool_size"):
            value = getattr(self, name)
            if not is_integer(value) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer; got {value!r}")
        for name in ("warmup_steps", "eval_points", "seed"):
            value = getattr(self, name)
            if not is_integer(value) or value < 0:
                raise ValueError(f"TrainConfig.{name} must be a non-negative integer; got {value!r}")
        plain_numbers(self)
        for name, low in (("learning_rate", "positive"), ("projection_scale", "positive"), ("weight_decay", "non-negative")):
            value = getattr(self, name)
            if not is_finite_number(value) or not (value > 0 if low == "positive" else value >= 0):
                raise ValueError(f"TrainConfig.{name} must be a {low} finite number; got {value!r}")
        if not (is_finite_number(self.max_grad_norm) or self.max_grad_norm == float("inf")) or not self.max_grad_norm > 0:
            # a norm <= 0 would not clip: torch scales the gradient by a negative factor (gradient ascent)
            raise ValueError(f"TrainConfig.max_grad_norm must be a positive number (inf: no clipping); got {self.max_grad_norm!r}")
        if self.warmup_steps >= self.steps:
            raise ValueError(f"TrainConfig.warmup_steps must be in [0, steps={self.steps}); got {self.warmup_steps}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {sorted(PRECISIONS)}; got {self.precision!r}")
        for name in ("compile", "fast_dropout"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrainConfig.{name} must be True or False; got {getattr(self, name)!r}")
        if self.epochs is not None and not (is_finite_number(self.epochs) and self.epochs > 0):
            raise ValueError(f"TrainConfig.epochs must be a positive number or None; got {self.epochs!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"TrainConfig.selection must be one of {SELECTIONS}; got {self.selection!r}")
        if self.selection == "best_dev" and self.eval_points == 0:
            raise ValueError("TrainConfig.selection='best_dev' needs eval_points > 0 (dev measurements to select by)")

    def steps_for(self, data_size: int) -> int:
        """Steps of a run on `data_size` pairs: `steps`, or more when `epochs` asks to read the data."""
        if self.epochs is None:
            return self.steps
        return max(self.steps, -(-int(np.ceil(self.epochs * data_size)) // self.batch_size))

    def for_data_size(self, data_size: int) -> TrainConfig:
        """This config with the step budget of `data_size` pairs written out (warm-up kept)."""
        return replace(self, steps=self.steps_for(data_size), epochs=None)

    def to_dict(self) -> dict:
        return asdict(self)


def is_integer(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def plain_numbers(config: object) -> None:
    """Replace numpy scalars by Python numbers in a frozen dataclass, so a value from
    `np.logspace` and the same value typed in hash to the same run id."""
    for name, value in vars(config).items():
        if isinstance(value, np.integer):
            object.__setattr__(config, name, int(value))
        elif isinstance(value, np.floating):
            object.__setattr__(config, name, float(value))


def is_finite_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and bool(np.isfinite(value))


PAPER_PRESET = TrainConfig(
    steps=10_000,
    batch_size=128,
    negatives=256,
    learning_rate=5e-6,
    weight_decay=1e-3,
    warmup_steps=0,
    max_grad_norm=1.0,
    query_max_length=32,
    passage_max_length=180,
    seed=521,
    eval_points=20,
    selection="best_dev",
    dev_pairs=1000,
    dev_pool_size=10_000,
)
"""The released defaults with the paper's 10,000 steps, for BERT miniatures on a GPU, and the
paper's checkpoint selection by contrastive entropy measured during training, on dev
(1,000 dev pairs, a 10,000-passage pool, 20 measurements) rather than on the test set."""

CPU_PRESET = TrainConfig(
    steps=256,
    batch_size=32,
    negatives=64,
    learning_rate=2e-3,
    weight_decay=1e-3,
    warmup_steps=20,
    max_grad_norm=1.0,
    query_max_length=32,
    passage_max_length=64,
    seed=521,
    epochs=1.0,
    eval_points=12,
    selection="best_dev",
)
"""Small BERTs on a 2-core CPU: at least 256 steps and at least one epoch of the run's pairs,
best-on-dev over 12 log-spaced dev measurements (256 dev pairs, 256 negatives from a
512-passage pool), 32 pairs and 64 shared negatives a step, 64-token passages (docstrings say
what a function does up front). A 20-step warm-up: without it L4_H128 collapsed to chance
(dev CE 5.55 from step 13 on) at both 1e-3 and 2e-3. One learning rate, 2e-3, for every size:
`drscale.regime` holds the comparison of regimes that chose these settings on dev, and the
rate each size chose on its own (the `cpu+lr` preset)."""

PRESETS = {"paper": PAPER_PRESET, "cpu": CPU_PRESET}


def preset_config(preset: str = "cpu", **overrides: int | float | None) -> TrainConfig:
    """A named preset with some fields replaced; `None` keeps the preset's value.

    Notebook parameters map onto this directly, and a misspelt field is an error rather than
    a silently ignored value.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown training preset {preset!r}; choose one of {sorted(PRESETS)}")
    return with_overrides(PRESETS[preset], **overrides)


def with_overrides(config: TrainConfig, **overrides: int | float | str | None) -> TrainConfig:
    """`config` with some fields replaced; `None` keeps its value, a misspelt field is an error."""
    fields = set(config.to_dict())
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown training setting(s) {unknown}; known: {sorted(fields)}")
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; `step` says when, so the run can be recorded as failed."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"training loss became {loss} at step {step}")
        self.step = step
        self.loss = loss


@dataclass
class TrainResult:
    """What a run leaves besides the model: the loss curve, the dev learning curve, time and device.

    `step_seconds[i]` is the wall time of step i (batch, forward, backward, update): the first
    steps carry one-off costs, so steady-state throughput is read from the later ones.
    `curve` holds one entry per dev measurement: step, dev CE, the mean training loss since
    the previous one, and the wall time so far. `best_step` is the step of the model handed
    back (the last step unless `selection="best_dev"`); `dev_eval_s` the time spent on dev.
    """

    losses: list[float] = field(repr=False)
    wall_time_s: float
    device: str
    step_seconds: list[float] = field(default_factory=list, repr=False)
    curve: list[dict[str, float]] = field(default_factory=list, repr=False)
    best_step: int | None = None
    best_dev_ce: float | None = None
    dev_eval_s: float = 0.0

    def curve_summary(self, points: int = 10) -> list[float]:
        """Mean loss over `points` equal slices of training, for compact run records."""
        return [float(np.mean(chunk)) for chunk in np.array_split(np.asarray(self.losses), points) if len(chunk)]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for, else CUDA when present, else the CPU; a device that is not a
    torch device, or not on this machine, is refused here rather than at the first tensor."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = device_named(device)
    if chosen.type == "cuda" and not (torch.cuda.is_available() and (chosen.index or 0) < torch.cuda.device_count()):
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                         f"(torch.cuda.is_available() is {torch.cuda.is_available()}); use 'cpu' or None")
    return chosen


def device_named(device: str | torch.device) -> torch.device:
    """The torch device `device` names, whether or not this machine has it (a sweep run on a
    cluster names the workers' device); a name torch does not know is refused."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device: use 'cpu', 'cuda', 'cuda:N' or None "
                         f"(CUDA where present, else the CPU)") from None


@contextlib.contextmanager
def fixed_threads(threads: int):
    """Run the block with `threads` torch threads, then restore the previous count.

    CPU kernels sum in an order that depends on the thread count, so the same run at 1 and
    2 threads differs in the last digits: a run's thread count is part of its configuration.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def sample_shared_negatives(
    rng: np.random.Generator, corpus_size: int, count: int, exclude: np.ndarray
) -> np.ndarray:
    """`count` distinct corpus rows drawn uniformly, none of them in `exclude` (the batch's
    positives). Rejection sampling keeps this O(count) even for a corpus of millions."""
    if count > corpus_size - len(np.unique(exclude)):
        raise ValueError(f"cannot draw {count} negatives from a corpus of {corpus_size} passages minus the batch")
    excluded = set(exclude.tolist())
    chosen: list[int] = []
    taken: set[int] = set()
    while len(chosen) < count:
        for row in rng.integers(0, corpus_size, size=2 * (count - len(chosen)) + 8).tolist():
            if row not in excluded and row not in taken:
                taken.add(row)
                chosen.append(row)
                if len(chosen) == count:
                    break
    return np.asarray(chosen, dtype=np.int64)


def batch_order(n_pairs: int, batch_size: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """(steps, batch_size) pair indices: epochs of seeded shuffles, read in consecutive batches."""
    if batch_size > n_pairs:
        raise ValueError(f"batch_size ({batch_size}) is larger than the {n_pairs} training pairs")
    needed = steps * batch_size
    epochs = -(-needed // n_pairs)
    return np.concatenate([rng.permutation(n_pairs) for _ in range(epochs)])[:needed].reshape(steps, batch_size)


def contrastive_loss(queries: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Mean -log softmax of each query's positive against the shared negatives (inner product)."""
    positive_scores = (queries * positives).sum(dim=1, keepdim=True)
    logits = torch.cat([positive_scores, queries @ negatives.T], dim=1)
    return torch.nn.functional.cross_entropy(logits, torch.zeros(len(queries), dtype=torch.long, device=logits.device))


def train(
    model: torch.nn.Module,
    tokens: TokenizedData,
    pair_rows: np.ndarray,
    config: TrainConfig,
    device: str | torch.device | None = None,
    progress: bool = True,
    dev: DevSet | None = None,
) -> TrainResult:
    """Train `model` in place on `pair_rows` ((D, 2) query and passage rows of `tokens`).

    The step budget is `config.steps_for(D)`. With `config.eval_points`, `dev` is measured
    at the start and at log-spaced steps; with `selection="best_dev"` the model ends holding
    the weights of its best dev measurement (ties keep the earlier one). Raises
    TrainingDiverged at the first non-finite loss.
    """
    if config.negatives + config.batch_size > len(tokens.passages):
        raise ValueError(
            f"negatives ({config.negatives}) plus batch_size ({config.batch_size}) exceed the corpus of "
            f"{len(tokens.passages)} passages"
        )
    if config.eval_points and dev is None:
        raise ValueError("TrainConfig.eval_points > 0 needs a dev set (drscale.dev_eval.DevSet)")
    config = config.for_data_size(len(pair_rows))
    device = pick_device(device)
    if device.type == "cpu":
        keep_freed_memory()  # activations reuse freed heap instead of faulting in fresh pages every step
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    order = batch_order(len(pair_rows), config.batch_size, config.steps, rng)
    model.to(device).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, fused=True
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_then_linear_decay(config))
    encoder = torch.compile(model, dynamic=True) if config.compile else model
    autocast = torch.autocast(device.type, dtype=PRECISIONS[config.precision], enabled=config.precision != "float32")
    watch = _DevWatch(model, tokens, dev, device, config) if config.eval_points else None
    losses: list[float] = []
    step_seconds: list[float] = []
    start = time.perf_counter()
    bar = tqdm(range(config.steps), desc="train", disable=not progress, leave=False, mininterval=1.0)
    with _dropout(model, config, device):
        if watch:
            watch.measure(0, losses, start)
        previous = time.perf_counter()
        for step in bar:
            query_rows, positive_rows = pair_rows[order[step]].T
            negative_rows = sample_shared_negatives(rng, len(tokens.passages), config.negatives, positive_rows)
            # each distinct passage is encoded once, even when two queries share a positive
            passage_rows, passage_index = np.unique(np.concatenate([positive_rows, negative_rows]), return_inverse=True)
            with autocast:
                queries = _embed(encoder, tokens.query_batch(query_rows), device)
                passages = _embed(encoder, tokens.passage_batch(passage_rows), device)
            passages = passages[torch.from_numpy(passage_index).to(device)]
            loss = contrastive_loss(queries.float(), passages[: config.batch_size].float(), passages[config.batch_size :].float())
            value = loss.item()
            if not np.isfinite(value):
                raise TrainingDiverged(step, value)
            losses.append(value)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            now = time.perf_counter()
            step_seconds.append(now - previous)
            if watch:
                watch.measure(step + 1, losses, start)
            previous = time.perf_counter()
            if step % 10 == 0:
                bar.set_postfix(loss=f"{value:.3f}", **({"dev": f"{watch.best_ce:.3f}"} if watch else {}))
    bar.close()
    model.eval()
    result = TrainResult(losses=losses, wall_time_s=0.0, device=str(device), step_seconds=step_seconds, best_step=config.steps)
    if watch:
        watch.restore_selected()
        result.curve, result.best_step, result.best_dev_ce, result.dev_eval_s = (
            watch.curve, watch.selected_step, watch.selected_ce, watch.seconds
        )
    result.wall_time_s = time.perf_counter() - start
    return result


class _DevWatch:
    """Dev measurements at the scheduled steps, the learning curve, and the best weights so far."""

    def __init__(self, model: torch.nn.Module, tokens: TokenizedData, dev: DevSet, device: torch.device,
                 config: TrainConfig) -> None:
        self.model, self.tokens, self.dev, self.device = model, tokens, dev, device
        self.schedule = set(evaluation_steps(config.steps, config.eval_points))
        self.keep_best = config.selection == "best_dev"
        self.curve: list[dict[str, float]] = []
        self.best_ce = float("inf")
        self.best_step = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.seconds = 0.0
        self._losses_seen = 0

    def measure(self, step: int, losses: list[float], start: float) -> None:
        if step not in self.schedule:
            return
        began = time.perf_counter()
        dev_ce = self.dev.evaluate(self.model, self.tokens, self.device)
        recent = losses[self._losses_seen :]
        self._losses_seen = len(losses)
        self.curve.append({
            "step": step,
            "dev_ce": dev_ce,
            "train_loss": float(np.mean(recent)) if recent else None,  # None at step 0: no step yet
            "wall_s": began - start,
        })
        if dev_ce < self.best_ce:
            self.best_ce, self.best_step = dev_ce, step
            if self.keep_best:
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.seconds += time.perf_counter() - began

    def restore_selected(self) -> None:
        if self.keep_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    @property
    def selected_step(self) -> int:
        return self.best_step if self.keep_best else self.curve[-1]["step"]

    @property
    def selected_ce(self) -> float:
        return self.best_ce if self.keep_best else self.curve[-1]["dev_ce"]


def _dropout(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """numpy-drawn dropout masks for CPU training with `fast_dropout`; torch's own otherwise
    (CUDA draws masks fast, and a compiled encoder fuses its own)."""
    if config.fast_dropout and device.type == "cpu" and not config.compile:
        return generator_dropout(model, config.seed)
    return contextlib.nullcontext()


def _embed(model: torch.nn.Module, features: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
    return model({k: v.to(device) for k, v in features.items()})["sentence_embedding"]


def _warmup_then_linear_decay(config: TrainConfig):
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        return max(0.0, (config.steps - step) / (config.steps - config.warmup_steps))

    return factor
