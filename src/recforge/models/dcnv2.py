"""DCN-V2, Wang et al. WWW 2021 ("Improved Deep & Cross Network and Practical Lessons for
Web-scale Learning to Rank Systems").

Cross layer (Eq. 1): ``x_{l+1} = x0 ⊙ (W_l x_l + b_l) + x_l`` with a full ``K × K`` matrix
``W_l`` (v1's ``x0 x_l^T w_l`` is the rank-one case). Low-rank mixture of experts
(Sec. 5, Eq. 3-4):
``x_{l+1} = Σ_i G_i(x_l) E_i(x_l) + x_l``, ``E_i(x_l) = x0 ⊙ (U_i g(C_i g(V_i^T x_l)) + b_l)``
with ``U_i (K × r)``, ``C_i (r × r)``, ``V_i (K × r)``, ``g = tanh`` as in the paper's code
listing, and a softmax over linear gates ``G_i(x_l)``.

Structures (Sec. 3, Fig. 1): ``"stacked"`` feeds the cross network's output to the deep
network, ``x_final = h_Ld(x_L)``; ``"parallel"`` runs both on ``x0`` and concatenates
``[x_L; h_Ld]``. The logit is a linear layer on the result (Eq. 5 with the sigmoid left to
the loss). ``x0`` stacks the embedded categorical fields, each history field pooled over
the behaviours, and the dense columns (as DCN v1, :func:`recforge.models.dcn.stack_inputs`).

Defaults as BARS/FuxiCTR run it: embedding 10, parallel, 3 cross layers, full rank
(low rank 32 with 4 experts when ``cross_type = "mixture"``), deep 400-400-400.

Dimension letters: B rows, K width of x0, E experts, r low rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from recforge.core.batches import FeatureBatch
from recforge.features.fields import FeatureSchema
from recforge.models.dcn import stack_inputs
from recforge.models.dnn import check_common, n_row_fields
from recforge.models.ranker import FeatureEmbedding, Ranker, RankerOutputs, feed_forward


def _xavier(*shape: int) -> nn.Parameter:
    """A stack of matrices, each Xavier-normal over its last two dimensions."""
    weight = torch.empty(shape)
    for matrix in weight.view(-1, *shape[-2:]):
        nn.init.xavier_normal_(matrix)
    return nn.Parameter(weight)


class FullRankCross(nn.Module):
    """``L`` full-rank cross layers (Eq. 1) over ``x0`` ``(B, K)``: returns ``x_L``."""

    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        self.weights = _xavier(layers, width, width)  # W_l, (L, K, K)
        self.biases = nn.Parameter(torch.zeros(layers, width))  # b_l, (L, K)

    def forward(self, x0: Tensor) -> Tensor:
        x = x0  # (B, K)
        for weight, bias in zip(self.weights, self.biases, strict=True):
            x = x0 * (x @ weight.T + bias) + x  # (B, K) Eq. 1
        return x

    def norms(self) -> Tensor:
        """``Σ_l ‖W_l‖_F``, a scalar."""
        return self.weights.flatten(1).norm(dim=1).sum()


class MixtureCross(nn.Module):
    """``L`` low-rank mixture-of-experts cross layers (Eq. 3-4): returns ``x_L`` ``(B, K)``."""

    def __init__(self, width: int, layers: int, rank: int, experts: int) -> None:
        super().__init__()
        self.v = _xavier(layers, experts, width, rank)  # V_i, (L, E, K, r)
        self.c = _xavier(layers, experts, rank, rank)  # C_i, (L, E, r, r)
        self.u = _xavier(layers, experts, rank, width)  # U_i^T, (L, E, r, K)
        self.biases = nn.Parameter(torch.zeros(layers, width))  # b_l, (L, K)
        self.gates = _xavier(layers, width, experts)  # linear G_i, (L, K, E)

    def forward(self, x0: Tensor) -> Tensor:
        x = x0  # (B, K)
        for layer in range(self.v.shape[0]):
            low = torch.tanh(torch.einsum("bk,ekr->ber", x, self.v[layer]))  # g(V^T x), (B, E, r)
            low = torch.tanh(torch.einsum("ber,ers->bes", low, self.c[layer]))  # (B, E, r)
            back = torch.einsum("ber,erk->bek", low, self.u[layer])  # U g(...), (B, E, K)
            experts = x0.unsqueeze(1) * (back + self.biases[layer])  # E_i(x_l), (B, E, K)
            gate = torch.softmax(x @ self.gates[layer], dim=-1)  # G_i(x_l), (B, E)
            x = torch.einsum("be,bek->bk", gate, experts) + x  # (B, K) Eq. 3
        return x

    def norms(self) -> Tensor:
        """``Σ_l (‖U_l‖_F + ‖V_l‖_F + ‖C_l‖_F)``, each over the layer's experts: a scalar."""
        return torch.stack(
            [matrix.flatten(1).norm(dim=1).sum() for matrix in (self.u, self.v, self.c)]
        ).sum()


@dataclass(frozen=True)
class DCNV2Config:
    """Args:
    embedding_dim: ``D`` of every field.
    cross_layers: cross layers ``L``.
    cross_type: ``"full"`` (Eq. 1) or ``"mixture"`` (low-rank mixture of experts, Eq. 3-4).
    low_rank: ``r`` of each expert.
    experts: number of experts per mixture layer.
    structure: ``"stacked"`` (cross then deep) or ``"parallel"`` (cross beside deep).
    hidden: deep network widths (``()``: cross network only).
    dropout: after each deep layer (before it with ``dropout_first``).
    dropout_first: drop out each deep layer's input instead of its output (RecBole's
        order: the deep network's input ``x0`` is dropped out, the cross network's is not).
    batch_norm: batch normalisation in the deep network.
    history_pooling: how a history field becomes one field, ``"mean"`` or ``"sum"``.
    init_std: std of the embeddings' normal initialisation.
    cross_penalty: ``λ`` of ``λ Σ_l ‖W_l‖_F`` added to the training loss (Frobenius norms,
        not squared: a group lasso that can switch a whole cross matrix off; for the
        mixture, over its ``U``, ``V`` and ``C``). Not in the paper; RecBole's DCN-V2 adds
        it (its ``reg_weight``), and it lifts validation AUC on MovieLens-1M (0 disables).
    """

    embedding_dim: int = 10
    cross_layers: int = 3
    cross_type: Literal["full", "mixture"] = "full"
    low_rank: int = 32
    experts: int = 4
    structure: Literal["stacked", "parallel"] = "parallel"
    hidden: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.0
    batch_norm: bool = False
    dropout_first: bool = False
    history_pooling: Literal["mean", "sum"] = "mean"
    init_std: float = 0.01
    cross_penalty: float = 0.0

    def __post_init__(self) -> None:
        check_common(self.embedding_dim, self.hidden, self.dropout)
        if not self.cross_penalty >= 0:  # also refuses NaN
            raise ValueError(f"cross_penalty must be >= 0, got {self.cross_penalty}")
        for name in ("cross_layers", "low_rank", "experts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.cross_type not in ("full", "mixture"):
            raise ValueError(f"cross_type must be 'full' or 'mixture', got {self.cross_type!r}")
        if self.structure not in ("stacked", "parallel"):
            raise ValueError(f"structure must be 'stacked' or 'parallel', got {self.structure!r}")


class DCNV2(Ranker):
    """DCN-V2: a full-rank or mixture cross network stacked with or beside a deep network."""

    config_class = DCNV2Config

    def __init__(self, config: DCNV2Config, schema: FeatureSchema) -> None:
        super().__init__(config, schema)
        self.embedding = FeatureEmbedding(schema, config.embedding_dim, config.init_std)
        width = n_row_fields(schema) * config.embedding_dim + schema.n_dense  # K
        self.cross: FullRankCross | MixtureCross = (
            FullRankCross(width, config.cross_layers)
            if config.cross_type == "full"
            else MixtureCross(width, config.cross_layers, config.low_rank, config.experts)
        )
        self.deep = feed_forward(
            width, config.hidden, config.dropout, None, config.batch_norm, config.dropout_first
        )
        deep_width = config.hidden[-1] if config.hidden else 0
        if config.structure == "stacked":
            self.output = nn.Linear(deep_width or width, 1)
        else:
            self.output = nn.Linear(width + deep_width, 1)

    def forward(self, batch: FeatureBatch) -> Tensor:
        x0 = stack_inputs(self.embedding, batch, self.config.history_pooling)  # (B, K)
        crossed = self.cross(x0)  # x_L, (B, K)
        if self.config.structure == "stacked":
            final = self.deep(crossed)  # h_Ld(x_L), (B, H_last) (identity without hidden)
        elif self.config.hidden:
            final = torch.cat([crossed, self.deep(x0)], dim=1)  # (B, K + H_last)
        else:
            final = crossed
        return self.output(final).squeeze(-1)  # (B,)

    def training_outputs(self, batch: FeatureBatch) -> RankerOutputs:
        """Logits, and ``λ Σ_l ‖W_l‖_F`` when ``cross_penalty`` is set."""
        logits = self(batch)
        if not self.config.cross_penalty:
            return RankerOutputs(logits)
        return RankerOutputs(logits, self.config.cross_penalty * self.cross.norms())
