"""The paper's training loop: shared random negatives, a fixed step budget, AdamW, linear decay.

Per step, B annotated pairs (q_i, p_i+) and W passages drawn uniformly from the corpus
(excluding the batch's positives) and shared by every query give the loss

    L = -1/B sum_i log( exp s(q_i,p_i+) / (exp s(q_i,p_i+) + sum_j exp s(q_i,p_j-)) ),

with s the raw inner product (no normalisation, no temperature, no in-batch negatives), as in
the authors' release. A fixed number of steps for every model size, as in the paper.

On a GPU the host never waits for a step it does not have to: batches go to the device from
pinned memory without blocking, and the loss is read back once every `LOSS_READ_EVERY` steps,
so the host assembles and launches the next steps while the device works on this one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from drscale.common.device import pick_device
from drscale.common.progress import progress_bar
from drscale.common.values import is_integer
from drscale.measure.dev import DevSet, evaluation_steps
from drscale.model.tokens import TokenizedData
from drscale.train._cpu.dropout import generator_dropout
from drscale.train.config import PRECISIONS, TrainConfig


LOSS_READ_EVERY = 10
"""Steps between reads of the loss. Reading a CUDA loss waits for its step to finish, which
stops the host from preparing the next batch while the device computes (13-25% of an H512
step on an H200). A non-finite loss is still reported with its own step; the few steps after
it, up to the read, run on and are discarded with the run. On CPU a read costs nothing and
the losses, the model and the run's results are the same for every interval."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; `step` says when, so the run can be recorded as failed.
    The model then holds the weights of up to `LOSS_READ_EVERY` steps later, not usable ones."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"training loss became {loss} at step {step}")
        self.step = step
        self.loss = loss


@dataclass
class TrainResult:
    """What a run leaves besides the model: the loss curve, the dev learning curve, time and device.

    `step_seconds[i]` is the wall time of step i (batch, forward, backward, update): the first
    steps carry one-off costs, so steady-state throughput is read from the later ones. On a
    GPU a step's time is the host's until the loss is read (see `LOSS_READ_EVERY`), which then
    waits for the device: throughput is a sum over steps that ends at a read.
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


def step_rows(pair_rows: np.ndarray, batch: np.ndarray, rng: np.random.Generator, corpus_size: int,
              negatives: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows one step reads: the queries of `batch` (indices into `pair_rows`); the distinct
    passages among its positives and `negatives` shared negatives drawn with `rng` (none a
    batch positive), so each is encoded once even when two queries share a positive; and where
    each positive, then each negative, sits among those passages."""
    query_rows, positive_rows = pair_rows[batch].T
    negative_rows = sample_shared_negatives(rng, corpus_size, negatives, positive_rows)
    passage_rows, passage_index = np.unique(np.concatenate([positive_rows, negative_rows]), return_inverse=True)
    return query_rows, passage_rows, passage_index


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
    desc: str = "train",
    loss_read_every: int = LOSS_READ_EVERY,
) -> TrainResult:
    """Train `model` in place on `pair_rows` ((D, 2) query and passage rows of `tokens`).

    The step budget is `config.steps_for(D)`. With `config.eval_points`, `dev` is measured
    at the start and at log-spaced steps; with `selection="best_dev"` the model ends holding
    the weights of its best dev measurement (ties keep the earlier one). Raises
    TrainingDiverged at the first non-finite loss. With `progress`, a bar named `desc` counts
    the steps (`drscale.common.progress`). The loss is read every `loss_read_every` steps, at
    each dev measurement and at the end; 1 reads it every step (and waits for every step on a GPU).
    """
    if config.negatives + config.batch_size > len(tokens.passages):
        raise ValueError(
            f"negatives ({config.negatives}) plus batch_size ({config.batch_size}) exceed the corpus of "
            f"{len(tokens.passages)} passages"
        )
    if config.eval_points and dev is None:
        raise ValueError("TrainConfig.eval_points > 0 needs a dev set (drscale.measure.dev.DevSet)")
    if not is_integer(loss_read_every) or loss_read_every < 1:
        raise ValueError(f"loss_read_every must be a positive integer; got {loss_read_every!r}")
    config = config.for_data_size(len(pair_rows))
    device = pick_device(device)
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
    losses = _LossLog()
    step_seconds: list[float] = []
    start = time.perf_counter()
    bar = progress_bar(range(config.steps), desc=desc, enabled=progress, leave=False)
    with _dropout(model, config, device):
        if watch:
            watch.measure(0, losses.values, start)
        previous = time.perf_counter()
        for step in bar:
            query_rows, passage_rows, passage_index = step_rows(pair_rows, order[step], rng, len(tokens.passages),
                                                                config.negatives)
            with autocast:
                queries = _embed(encoder, tokens.query_batch(query_rows), device)
                passages = _embed(encoder, tokens.passage_batch(passage_rows), device)
            passages = passages[to_device(torch.from_numpy(passage_index), device)]
            loss = contrastive_loss(queries.float(), passages[: config.batch_size].float(), passages[config.batch_size :].float())
            losses.add(loss)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            read = done % loss_read_every == 0 or done == config.steps or (watch and watch.due(done))
            if read:
                losses.read()
            now = time.perf_counter()
            step_seconds.append(now - previous)
            if watch:
                watch.measure(done, losses.values, start)
            if read:
                bar.set_postfix(loss=f"{losses.values[-1]:.3f}", **({"dev": f"{watch.best_ce:.3f}"} if watch else {}))
            previous = time.perf_counter()
    bar.close()
    model.eval()
    result = TrainResult(losses=losses.values, wall_time_s=0.0, device=str(device), step_seconds=step_seconds, best_step=config.steps)
    if watch:
        watch.restore_selected()
        result.curve, result.best_step, result.best_dev_ce, result.dev_eval_s = (
            watch.curve, watch.selected_step, watch.selected_ce, watch.seconds
        )
    result.wall_time_s = time.perf_counter() - start
    return result


class _LossLog:
    """Losses left on the device until read, then checked: the first non-finite one stops the
    run with its step."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self._unread: list[torch.Tensor] = []

    def add(self, loss: torch.Tensor) -> None:
        self._unread.append(loss.detach())

    def read(self) -> None:
        """One device-to-host copy for every loss since the last read."""
        if not self._unread:
            return
        block = torch.stack(self._unread).tolist()
        self._unread.clear()
        for value in block:
            if not np.isfinite(value):
                raise TrainingDiverged(len(self.values), value)
            self.values.append(value)


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

    def due(self, step: int) -> bool:
        return step in self.schedule

    def measure(self, step: int, losses: list[float], start: float) -> None:
        if not self.due(step):
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
    return model({k: to_device(v, device) for k, v in features.items()})["sentence_embedding"]


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` on `device`; to a GPU through pinned memory without blocking, so the host goes
    on while it travels (a copy from ordinary memory would wait for the device's queue)."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _warmup_then_linear_decay(config: TrainConfig):
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        return max(0.0, (config.steps - step) / (config.steps - config.warmup_steps))

    return factor
