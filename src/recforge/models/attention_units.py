"""Pieces DIN and DIEN share: the Dice activation, DIN's local activation unit, and the
reading of a batch's behaviour sequence.

Dice (Zhou et al., KDD 2018, Sec. 5.2) is PReLU whose rectification point follows the data:
``f(s) = p(s)·s + (1 − p(s))·α·s`` with ``p(s) = sigmoid((s − E[s]) / sqrt(Var[s] + ε))``;
``E[s]`` and ``Var[s]`` are the mini-batch's per-unit mean and variance in training and
moving averages of them in evaluation, so a row's score never depends on its batch there.

The local activation unit (Sec. 4.3, Fig. 2) scores each behaviour ``e_j`` against the
candidate ``v_a`` with a small MLP. Fig. 2 feeds it the two embeddings and their "out
product"; the variant used here, as in the authors' released code, feeds
``[e_j, v_a, e_j − v_a, e_j ⊙ v_a]`` (difference and element-wise product: the interaction
at ``O(E)`` width instead of the ``E²`` of an outer product); its hidden layers use Dice or
PReLU as Fig. 2 (the released code uses sigmoids there). The weights are *not*
softmax-normalised (Sec. 4.3: the sum of the weights keeps the intensity of the interest).
The MLP runs on the real behaviours only, so padding never enters it, nor Dice's batch
statistics.

Dimension letters: B rows, L history length (trimmed to the batch's longest history),
E width of a behaviour (history fields × D, the embedding size), P real behaviours in the
batch, W hidden width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as functional
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.models.ranker import FeatureEmbedding, feed_forward


class Dice(nn.Module):
    """Data-adaptive activation (DIN, Sec. 5.2, eq. 5), one learned ``α`` per unit.

    Statistics are taken over every leading dimension of the input (``(P, W)`` or
    ``(B, W)``); evaluation uses the running estimates, updated in training with
    ``momentum`` as in batch normalisation.

    Args:
        width: ``W``, the number of units.
        eps: ``ε`` (the paper's 1e-8).
        momentum: weight of the current batch in the running estimates.
        alpha: initial ``α`` (PReLU's 0.25: Dice reduces to PReLU when ``p`` is a step).

    >>> dice = Dice(3).eval()
    >>> dice(torch.tensor([[2.0, 0.0, -4.0]])).detach()  # running mean 0, var 1: p = sigmoid(s)
    tensor([[ 1.8212,  0.0000, -1.0540]])
    """

    running_mean: Tensor  # (W,)
    running_var: Tensor  # (W,)

    def __init__(
        self, width: int, eps: float = 1e-8, momentum: float = 0.1, alpha: float = 0.25
    ) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.alpha = nn.Parameter(torch.full((width,), alpha))
        self.register_buffer("running_mean", torch.zeros(width))
        self.register_buffer("running_var", torch.ones(width))

    def forward(self, values: Tensor) -> Tensor:
        flat = values.reshape(-1, values.shape[-1])  # (P, W)
        if self.training and flat.shape[0] < 2:
            # one value per unit: it is its own mean, p = 1/2 (batch_norm refuses this case)
            normalised = torch.zeros_like(flat)
        else:
            # (s - E[s]) / sqrt(Var[s] + ε) with batch statistics in training (updating the
            # running estimates), the running estimates in evaluation
            normalised = functional.batch_norm(
                flat,
                self.running_mean,
                self.running_var,
                training=self.training,
                momentum=self.momentum,
                eps=self.eps,
            )  # (P, W)
        probability = torch.sigmoid(normalised).reshape(values.shape)
        return values * (self.alpha + probability * (1.0 - self.alpha))  # p·s + (1 − p)·α·s


def activation(dice: bool) -> Callable[[int], nn.Module]:
    """The hidden activation of DIN/DIEN's MLPs: Dice, or PReLU (per unit) without it."""
    if dice:
        return Dice
    return lambda width: nn.PReLU(width)


class ActivationUnit(nn.Module):
    """DIN's local activation unit: a weight for each behaviour given the candidate.

    The first layer reads ``[e_j, v_a, e_j − v_a, e_j ⊙ v_a]`` through one weight matrix
    ``[W_e, W_v, W_d, W_p]``; it is evaluated as ``e_j·(W_e + W_d) + e_j ⊙ v_a·W_p`` per
    behaviour plus ``v_a·(W_v − W_d) + b`` once per row, the same function at about half the
    cost of building the ``(P, 4E)`` input.

    Args:
        width: ``E``, the width of a behaviour and of the candidate.
        hidden: widths of the MLP (the paper's code: 80, 40); at least one.
        dice: Dice (else PReLU) after each hidden layer.
    """

    def __init__(self, width: int, hidden: Sequence[int], dice: bool) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("the activation unit needs at least one hidden width")
        self.width = width
        self.first = nn.Linear(4 * width, hidden[0])
        self.first_activation = activation(dice)(hidden[0])
        self.rest = feed_forward(hidden[0], hidden[1:], activation=activation(dice))
        self.output = nn.Linear(hidden[-1], 1)

    def forward(self, behaviours: Tensor, candidate: Tensor, mask: Tensor) -> Tensor:
        """Unnormalised weights ``(B, L)``, 0 at padding.

        Args:
            behaviours: ``(B, L, E)``.
            candidate: ``(B, E)``.
            mask: ``(B, L)`` bool, True at real behaviours.
        """
        rows = mask.nonzero()[:, 0]  # (P,) the row of each real behaviour
        keys = behaviours[mask]  # (P, E)
        query = candidate[rows]  # (P, E)
        key_w, query_w, difference_w, product_w = self.first.weight.split(self.width, dim=1)
        per_row = functional.linear(candidate, query_w - difference_w, self.first.bias)  # (B, W)
        first = (
            functional.linear(keys, key_w + difference_w)
            + functional.linear(keys * query, product_w)
            + per_row[rows]
        )  # (P, W)
        hidden = self.rest(self.first_activation(first))  # (P, W)
        scores = self.output(hidden).squeeze(-1)  # (P,)
        return behaviours.new_zeros(mask.shape).masked_scatter(mask, scores)  # (B, L)


def read_history(
    embedding: FeatureEmbedding, batch: FeatureBatch, negative: bool = False
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Check a batch's behaviour sequence and embed it, trimmed to the longest history.

    Trimming drops columns that are padding in every row, so a batch padded beyond its
    longest history costs nothing and scores the same.

    Args:
        embedding: the model's embedding (its schema names the history fields).
        batch: rows with ``history`` and ``history_length``.
        negative: also embed ``batch.history_negative`` (DIEN's auxiliary loss).

    Returns:
        ``behaviours`` ``(B, L, E)`` (zeros at padding), ``mask`` ``(B, L)`` bool, and the
        embedded negatives ``(B, L, E)`` (None when not asked for).

    Raises:
        ValueError: a history field or ``history_length`` is missing, a shape disagrees, or
            a length is outside ``[0, L]``; the message names the field.
    """
    names = embedding.schema.history
    if not names:
        raise ValueError("the feature schema names no history fields (schema.history)")
    for kind, given in (("history", batch.history), ("history_negative", batch.history_negative)):
        missing = [name for name in names if name not in given]
        if missing and (kind == "history" or negative):
            raise ValueError(f"batch has no {kind}{missing}; the model reads {list(names)}")
    if batch.history_length is None:
        raise ValueError("batch has history but no history_length")
    shape = batch.history[names[0]].shape
    sources = {f"history[{name!r}]": batch.history[name] for name in names}
    if negative:
        sources.update(
            {f"history_negative[{name!r}]": batch.history_negative[name] for name in names}
        )
    for label, tensor in sources.items():
        if tensor.shape != shape or tensor.dim() != 2:
            raise ValueError(f"{label} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")
    lengths = batch.history_length  # (B,)
    if len(lengths) and (int(lengths.min()) < 0 or int(lengths.max()) > shape[1]):
        raise ValueError(
            f"history_length must be in [0, {shape[1]}] (the history columns), got values "
            f"in [{int(lengths.min())}, {int(lengths.max())}]"
        )
    longest = int(lengths.max()) if len(lengths) else 0
    mask = embedding.history_mask(batch)[:, :longest]  # (B, L)
    behaviours = embedding.history(batch)[:, :longest]  # (B, L, E)
    negatives = embedding.history(batch, negative=True)[:, :longest] if negative else None
    return behaviours, mask, negatives


__all__ = ["ActivationUnit", "Dice", "activation", "read_history"]
