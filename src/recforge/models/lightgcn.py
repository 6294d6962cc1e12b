"""LightGCN (He et al., SIGIR 2020): collaborative filtering by pure neighbourhood averaging.

Users and items are nodes of the training interaction graph. Layer ``k + 1`` is the
symmetric-normalised sum of layer ``k`` over neighbours (Eq. 3; matrix form Eq. 7–8):
``E^(k+1) = D^-1/2 A D^-1/2 E^(k)`` with ``A = [[0, R], [Rᵀ, 0]]``; no weights, no
non-linearity, no self-loop. The final vector averages the layers (Eq. 4, ``α_k = 1/(K+1)``)
and the score is the inner product (Eq. 5), returned as a logit. Training is BPR
(``TrainConfig(loss="bpr")``). The paper's L2 term ``λ‖E^(0)‖²`` is left to the optimiser's
``weight_decay`` (an L2 gradient on every ego embedding at each step rather than on the
batch's rows only, as the authors' code does); tune it on validation like any λ.

The graph: :func:`recforge.training.loop.fit` calls :meth:`LightGCN.set_graph` with the
training matrix before training (``uses_graph = True``). The interactions are stored as
buffers (``edge_user``, ``edge_item``), and the normalised adjacency is rebuilt from them
deterministically, so a checkpoint restores the exact propagation. Before a graph is set,
the graph has no edges and the model scores ``E^(0)`` averaged with zero layers.

Propagation runs on every ``forward`` in training mode (the gradients flow through it);
in eval mode the propagated vectors are computed once and cached until the next
``train()``, ``load_state_dict`` or ``set_graph``.

Dimension letters: B pairs or users in a batch, U users, I items, N = U + I nodes,
D embedding size, L layers.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from recforge.models.base import PropagatingRecommender


@dataclass(frozen=True)
class LightGCNConfig:
    """Args:
    factors: embedding size D (64 in the paper).
    layers: propagation layers K (3 in the paper).
    init_std: std of the normal initialisation of the ego embeddings.
    """

    factors: int = 64
    layers: int = 3
    init_std: float = 0.1

    def __post_init__(self) -> None:
        if self.factors < 1:
            raise ValueError(f"factors must be >= 1, got {self.factors}")
        if self.layers < 0:
            raise ValueError(f"layers must be >= 0, got {self.layers}")


def normalized_adjacency(
    edge_user: np.ndarray, edge_item: np.ndarray, n_users: int, n_items: int
) -> sp.coo_matrix:
    """``D^-1/2 A D^-1/2`` of the bipartite graph, ``(N, N)`` float32; nodes without edges
    have degree 0 and an empty row (no division by zero).

    >>> adjacency = normalized_adjacency(np.array([0, 0, 1]), np.array([0, 1, 1]), 2, 2)
    >>> np.round(adjacency.toarray().astype(float), 3).tolist()[0]  # user 0: degree 2; items 1, 2
    [0.0, 0.0, 0.707, 0.5]
    """
    n_nodes = n_users + n_items
    rows = np.concatenate([edge_user, edge_item + n_users])
    cols = np.concatenate([edge_item + n_users, edge_user])
    degree = np.bincount(rows, minlength=n_nodes).astype(np.float64)  # (N,)
    inverse_root = np.zeros(n_nodes)
    inverse_root[degree > 0] = degree[degree > 0] ** -0.5
    values = (inverse_root[rows] * inverse_root[cols]).astype(np.float32)
    return sp.coo_matrix((values, (rows, cols)), shape=(n_nodes, n_nodes))


def to_csr(coo: Tensor) -> Tensor:
    """A sparse COO tensor as CSR, duplicates summed (the fast layout for ``sparse.mm``)."""
    with warnings.catch_warnings():  # CSR is "beta" but its matmul is what we need
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
        return coo.coalesce().to_sparse_csr()


class SparseMatmul(torch.autograd.Function):
    """``A @ X`` for a constant sparse ``A`` whose transpose ``Aᵀ`` is built once: the
    gradient ``Aᵀ G`` then needs no transpose of the sparse matrix on every step (5x faster
    per batch here). For a symmetric ``A`` (LightGCN's adjacency) pass it twice.

    >>> a = torch.tensor([[0.0, 2.0], [0.0, 0.0], [1.0, 0.0]]).to_sparse_csr()  # (3, 2)
    >>> x = torch.ones(2, 1, requires_grad=True)
    >>> SparseMatmul.apply(a, a.to_dense().T.to_sparse_csr(), x).sum().backward()
    >>> x.grad.flatten().tolist()  # column sums of A
    [1.0, 2.0]
    """

    @staticmethod
    def forward(ctx: Any, matrix: Tensor, transpose: Tensor, dense: Tensor) -> Tensor:
        ctx.transpose = transpose
        return torch.sparse.mm(matrix, dense)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor]:
        return None, None, torch.sparse.mm(ctx.transpose, grad)


class LightGCN(PropagatingRecommender):
    """Light graph convolution over the user-item graph.

    >>> train = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
    >>> model = LightGCN(LightGCNConfig(factors=4, layers=2), n_users=2, n_items=3)
    >>> model.set_graph(train)
    >>> model.eval().score_all(torch.tensor([0, 1])).shape
    torch.Size([2, 3])
    """

    config_class = LightGCNConfig
    #: the training loop hands the training matrix to :meth:`set_graph`
    uses_graph = True

    edge_user: Tensor  # (E,) int64 user of each training interaction
    edge_item: Tensor  # (E,) int64 its item

    def __init__(self, config: LightGCNConfig, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.config = config
        self.user_embedding = nn.Embedding(n_users, config.factors)
        self.item_embedding = nn.Embedding(n_items, config.factors)
        nn.init.normal_(self.user_embedding.weight, std=config.init_std)
        nn.init.normal_(self.item_embedding.weight, std=config.init_std)
        self.register_buffer("edge_user", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("edge_item", torch.zeros(0, dtype=torch.int64))
        self._adjacency: Tensor | None = None  # sparse (N, N), built on first use

    def set_graph(self, train: sp.spmatrix) -> None:
        """Use the non-zeros of ``train`` (users x items) as the graph's edges.

        Raises:
            ValueError: ``train`` has another shape than ``(n_users, n_items)``.
        """
        self._set_edges(*self.training_edges(train))

    def _set_edges(self, users: Tensor, items: Tensor) -> None:
        device = self.user_embedding.weight.device
        self.edge_user = users.to(device=device, dtype=torch.int64)
        self.edge_item = items.to(device=device, dtype=torch.int64)
        self._adjacency = None
        self._forget()

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """Restore the edges first (their number is not known at construction)."""
        if "edge_user" in state_dict and "edge_item" in state_dict:
            self._set_edges(state_dict["edge_user"], state_dict["edge_item"])
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def adjacency(self) -> Tensor:
        """The normalised adjacency ``(N, N)`` as a sparse CSR tensor."""
        device = self.user_embedding.weight.device
        if self._adjacency is None or self._adjacency.device != device:
            matrix = normalized_adjacency(
                self.edge_user.cpu().numpy(),
                self.edge_item.cpu().numpy(),
                self.n_users,
                self.n_items,
            )
            indices = torch.from_numpy(np.vstack([matrix.row, matrix.col]).astype(np.int64))
            coo = torch.sparse_coo_tensor(
                indices, torch.from_numpy(matrix.data), matrix.shape, check_invariants=True
            )
            self._adjacency = to_csr(coo).to(device)
        return self._adjacency

    def item_layer0(self) -> Tensor:
        """The items' layer-0 vectors ``(I, D)``: their ego embeddings."""
        return self.item_embedding.weight

    def _propagate(self) -> tuple[Tensor, Tensor]:
        """Final user ``(U, D)`` and item ``(I, D)`` vectors: the mean of layers 0..K;
        their inner product is the score (Eq. 5)."""
        ego = torch.cat([self.user_embedding.weight, self.item_layer0()])  # (N, D)
        total, layer = ego, ego
        if self.config.layers:
            adjacency = self.adjacency()
            for _ in range(self.config.layers):
                layer = SparseMatmul.apply(adjacency, adjacency, layer)  # (N, D), Eq. 7
                total = total + layer
        final = total / (self.config.layers + 1)  # Eq. 4 with α_k = 1 / (K + 1)
        users, items = final.split([self.n_users, self.n_items])
        return users, items
