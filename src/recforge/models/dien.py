"""DIEN: Deep Interest Evolution Network (Zhou et al., AAAI 2019).

Three stages over the behaviour sequence ``e_1..e_T`` (each behaviour's history fields
embedded and concatenated, oldest first):

1. **Interest extractor** (Sec. 4.2, eq. 1-4): a GRU over the behaviours gives interest
   states ``h_t`` (``nn.GRU``). Its **auxiliary loss** (eq. 5) makes ``h_t`` predict the
   next behaviour: ``−[log σ(⟨h_t, e_{t+1}⟩) + log(1 − σ(⟨h_t, ê_{t+1}⟩))]`` with ``ê_{t+1}``
   a behaviour the user did not take (``batch.history_negative`` at position ``t+1``), over
   the real positions ``t < length − 1``, averaged over them; the training objective is
   ``L_target + α·L_aux`` (eq. 6). The inner products need ``R = E``.
2. **Attention** of the candidate ``e_a`` on the interest states (eq. 7):
   ``a_t = softmax_t(h_t W e_a)`` over the real positions (``attention = "bilinear"``);
   ``"mlp"`` scores with DIN's activation unit instead, then softmax, as the authors' code.
3. **Interest evolution** (Sec. 4.3, eq. 8): an AUGRU, a GRU whose update gate is scaled by
   the attention, ``ũ_t = a_t·u_t``, ``h'_t = (1 − ũ_t)∘h'_{t−1} + ũ_t∘h̃'_t``; its state
   after the last real behaviour is the final interest. With ``a_t = 0`` at padding the
   state is carried unchanged to the end of the sequence, so the last state *is* the state
   at ``length − 1``, and an empty history gives the zero state.

The final MLP is DIN's: ``[every categorical field, dense columns, h'_T]``.

Dimension letters: B rows, F categorical fields, D embedding size, N dense columns,
L history length, H history fields, E = H·D width of a behaviour, R GRU state size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as functional
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.features.fields import FeatureSchema
from recforge.models.attention_units import ActivationUnit, activation, read_history
from recforge.models.din import check_widths, require_history
from recforge.models.ranker import FeatureEmbedding, Ranker, RankerOutputs, feed_forward


@dataclass(frozen=True)
class DIENConfig:
    """Args:
    embedding_dim: ``D`` of every field (18 in the paper's code).
    hidden_size: ``R`` of both GRUs; None: ``E``, the behaviour width (the paper's code:
        36 = item + category). The auxiliary loss and ``"mlp"`` attention need ``R = E``.
    attention: ``"bilinear"`` (eq. 7) or ``"mlp"`` (DIN's activation unit, softmaxed).
    attention_widths: hidden widths of the activation unit for ``"mlp"``.
    mlp_widths: hidden widths of the final MLP (200, 80).
    dice: Dice activations in the MLPs; PReLU when off.
    aux_weight: ``α`` of eq. 6 (0 turns the auxiliary loss off).
    dropout: dropout after each hidden layer of the final MLP.
    init_std: std of the embeddings' normal initialisation.
    """

    embedding_dim: int = 18
    hidden_size: int | None = None
    attention: Literal["bilinear", "mlp"] = "bilinear"
    attention_widths: tuple[int, ...] = (80, 40)
    mlp_widths: tuple[int, ...] = (200, 80)
    dice: bool = True
    aux_weight: float = 1.0
    dropout: float = 0.0
    init_std: float = 0.01

    def __post_init__(self) -> None:
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {self.embedding_dim}")
        if self.hidden_size is not None and self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1 or None, got {self.hidden_size}")
        if self.attention not in ("bilinear", "mlp"):
            raise ValueError(f"attention must be 'bilinear' or 'mlp', got {self.attention!r}")
        check_widths("attention_widths", tuple(self.attention_widths))
        check_widths("mlp_widths", tuple(self.mlp_widths))
        if self.aux_weight < 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")


class AUGRU(nn.Module):
    """GRU with attentional update gate (DIEN, eq. 8), gates as in eq. 1-3.

    The input projections of all steps are one matrix product; the recurrence loops over
    the ``L`` steps, each vectorised over the batch.

    Args:
        input_size: width of the inputs (the extractor's ``R``).
        hidden_size: ``R``, the state size.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        # rows: update u, reset r, candidate h̃ (W_u, W_r, W_h with b_u, b_r, b_h)
        self.input_map = nn.Linear(input_size, 3 * hidden_size)
        self.hidden_map = nn.Linear(hidden_size, 3 * hidden_size, bias=False)  # U_u, U_r, U_h
        bound = hidden_size**-0.5  # nn.GRU's initialisation
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, inputs: Tensor, attention: Tensor) -> Tensor:
        """The state after the last step ``(B, R)``; starts from zeros.

        Args:
            inputs: ``(B, L, R_in)``.
            attention: ``(B, L)`` ``a_t``; 0 keeps the state unchanged at that step.
        """
        # unbind, not slicing per step: a slice's backward writes a whole (B, L, 3R) zero
        # tensor each step, which made the backward pass ~5x slower at L = 50
        projected = self.input_map(inputs).unbind(1)  # L × (B, 3R)
        weights = attention.unsqueeze(-1).unbind(1)  # L × (B, 1)
        state = inputs.new_zeros(inputs.shape[0], self.hidden_size)  # (B, R)
        for from_input, weight in zip(projected, weights, strict=True):
            input_u, input_r, input_h = from_input.chunk(3, dim=-1)  # 3 × (B, R)
            state_u, state_r, state_h = self.hidden_map(state).chunk(3, dim=-1)  # 3 × (B, R)
            update = torch.sigmoid(input_u + state_u)  # u_t (eq. 1)
            reset = torch.sigmoid(input_r + state_r)  # r_t (eq. 2)
            candidate = torch.tanh(input_h + reset * state_h)  # h̃_t (eq. 3)
            gate = weight * update  # ũ_t = a_t·u_t (eq. 8)
            state = state + gate * (candidate - state)  # (1 − ũ)∘h + ũ∘h̃, exact at ũ = 0
        return state


class DIEN(Ranker):
    """Deep Interest Evolution Network: GRU interest extractor with its auxiliary loss,
    candidate attention, AUGRU interest evolution, then DIN's MLP.

    >>> from recforge.features.fields import Field
    >>> schema = FeatureSchema(
    ...     fields=(Field("user_id", "sparse", 5), Field("item_id", "sparse", 9)),
    ...     history=("item_id",), history_length=4)
    >>> model = DIEN(DIENConfig(embedding_dim=4, mlp_widths=(8,)), schema)
    >>> batch = FeatureBatch(
    ...     sparse=torch.tensor([[2, 3], [4, 5]]), dense=torch.zeros(2, 0),
    ...     label=torch.tensor([1.0, 0.0]), group=torch.tensor([2, 4]),
    ...     history={"item_id": torch.tensor([[6, 7, 0, 0], [0, 0, 0, 0]])},
    ...     history_length=torch.tensor([2, 0]),
    ...     history_negative={"item_id": torch.tensor([[8, 2, 0, 0], [0, 0, 0, 0]])})
    >>> outputs = model.training_outputs(batch)
    >>> outputs.logits.shape, outputs.auxiliary_loss.shape
    (torch.Size([2]), torch.Size([]))
    """

    config_class = DIENConfig
    config: DIENConfig
    #: refuses a schema without history fields (a harness running every ranker skips it)
    requires_history: ClassVar[bool] = True

    def __init__(self, config: DIENConfig, schema: FeatureSchema) -> None:
        super().__init__(config, schema)
        require_history(schema, "DIEN")
        width = len(schema.history) * config.embedding_dim  # E
        hidden = config.hidden_size or width  # R
        if hidden != width and (config.aux_weight > 0 or config.attention == "mlp"):
            raise ValueError(
                f"hidden_size {hidden} must equal the behaviour width {width} (history fields "
                f"× embedding_dim) for the auxiliary loss's and the 'mlp' attention's "
                "products; set hidden_size = None, or aux_weight = 0 with 'bilinear'"
            )
        self.embedding = FeatureEmbedding(schema, config.embedding_dim, config.init_std)
        self.extractor = nn.GRU(width, hidden, batch_first=True)
        self.bilinear: nn.Linear | None = None
        self.attention_unit: ActivationUnit | None = None
        if config.attention == "bilinear":
            self.bilinear = nn.Linear(width, hidden, bias=False)  # W of eq. 7, applied to e_a
        else:
            self.attention_unit = ActivationUnit(width, config.attention_widths, config.dice)
        self.evolution = AUGRU(hidden, hidden)
        width_in = self.embedding.n_fields * config.embedding_dim + schema.n_dense + hidden
        self.mlp = feed_forward(
            width_in, config.mlp_widths, config.dropout, activation=activation(config.dice)
        )
        self.output = nn.Linear(config.mlp_widths[-1], 1)

    def _attention(self, states: Tensor, candidate: Tensor, mask: Tensor) -> Tensor:
        """``a_t`` ``(B, L)``: softmax over each row's real positions, 0 at padding (and
        everywhere for an empty history)."""
        if self.bilinear is not None:
            scores = (states * self.bilinear(candidate).unsqueeze(1)).sum(-1)  # (B, L)
        else:
            assert self.attention_unit is not None
            scores = self.attention_unit(states, candidate, mask)  # (B, L)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        return torch.softmax(scores, dim=1) * mask  # (B, L)

    def _auxiliary_loss(
        self, states: Tensor, positives: Tensor, negatives: Tensor, mask: Tensor
    ) -> Tensor:
        """``α·L_aux`` (eq. 5-6), averaged over the positions with a next behaviour."""
        current = states[:, :-1]  # (B, L-1, R) h_t
        valid = mask[:, 1:]  # (B, L-1) e_{t+1} is real: t < length - 1
        positive = (current * positives[:, 1:]).sum(-1)  # (B, L-1) ⟨h_t, e_{t+1}⟩
        negative = (current * negatives[:, 1:]).sum(-1)  # (B, L-1) ⟨h_t, ê_{t+1}⟩
        # −log σ(x) = softplus(−x), −log(1 − σ(x)) = softplus(x)
        losses = functional.softplus(-positive) + functional.softplus(negative)  # (B, L-1)
        losses = losses.masked_fill(~valid, 0.0)
        return self.config.aux_weight * losses.sum() / valid.sum().clamp(min=1)

    def _evolve(self, batch: FeatureBatch, auxiliary: bool) -> tuple[Tensor, Tensor | None]:
        """The final interest ``h'_T`` ``(B, R)`` (zeros for an empty history), and
        ``α·L_aux`` when ``auxiliary`` (else None)."""
        behaviours, mask, negatives = read_history(self.embedding, batch, negative=auxiliary)
        if mask.shape[1] == 0:  # no row has a behaviour: zero interest, nothing to predict
            interest = behaviours.new_zeros(mask.shape[0], self.evolution.hidden_size)
            return interest, behaviours.new_zeros(()) if auxiliary else None
        states, _ = self.extractor(behaviours)  # (B, L, R); causal, so padding is inert
        attention = self._attention(states, self.embedding.candidate(batch), mask)  # (B, L)
        interest = self.evolution(states, attention)  # (B, R) = h'_{length-1}
        if not auxiliary:
            return interest, None
        assert negatives is not None
        return interest, self._auxiliary_loss(states, behaviours, negatives, mask)

    def _outputs(self, batch: FeatureBatch, auxiliary: bool) -> RankerOutputs:
        auxiliary = auxiliary and self.config.aux_weight > 0 and bool(batch.history_negative)
        interest, auxiliary_loss = self._evolve(batch, auxiliary)  # (B, R), ()
        fields = self.embedding.fields(batch).flatten(1)  # (B, F·D)
        joint = torch.cat([fields, batch.dense, interest], dim=-1)  # (B, F·D+N+R)
        logits = self.output(self.mlp(joint)).squeeze(-1)  # (B,)
        return RankerOutputs(logits, auxiliary_loss)

    def training_outputs(self, batch: FeatureBatch) -> RankerOutputs:
        """Logits, and ``α·L_aux`` in training mode when the batch has
        ``history_negative`` (None otherwise)."""
        return self._outputs(batch, auxiliary=self.training)

    def forward(self, batch: FeatureBatch) -> Tensor:
        return self._outputs(batch, auxiliary=False).logits

    def interest(self, batch: FeatureBatch) -> Tensor:
        """The final interest state ``h'_T`` ``(B, R)`` (zeros for an empty history)."""
        return self._evolve(batch, auxiliary=False)[0]


__all__ = ["AUGRU", "DIEN", "DIENConfig"]
