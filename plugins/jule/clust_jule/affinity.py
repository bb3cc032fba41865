"""Graph-degree-linkage cluster affinity (appendix eq. 12) with sparse products.

Write U(x, i) = 1ᵀ W_{C_x,C_i} W_{C_i,C_x} 1 = Σ_{b∈C_i} in_b(C_x)·out_b(C_x), where
in_b(C_x) = Σ_{a∈C_x} W[a, b] and out_b(C_x) = Σ_{a∈C_x} W[b, a]. Eq. 12 reads

    A(C_i, C_j) = A(C_j → C_i) + A(C_i → C_j) = U(i, j)/|C_i|² + U(j, i)/|C_j|².

With P the N×n_c one-hot assignment, Uᵀ = Pᵀ((WᵀP) ∘ (WP)): one sparse product
with at most N·K_s stored entries, never a dense n_c×n_c matrix.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse


def one_hot(labels: np.ndarray, n_clusters: int) -> scipy.sparse.csr_matrix:
    """The N×n_c sparse assignment matrix P."""
    n = len(labels)
    return scipy.sparse.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, n_clusters))


def unnormalised_affinity(weights: scipy.sparse.csr_matrix, labels: np.ndarray,
                          n_clusters: int) -> scipy.sparse.csr_matrix:
    """U[x, i] = U(x, i) above, as a sparse n_c×n_c matrix (diagonal kept; callers ignore it)."""
    p = one_hot(labels, n_clusters)
    incoming = (weights.T @ p).tocsr()   # [m, j] = in-degree of m from C_j
    outgoing = (weights @ p).tocsr()     # [m, j] = out-degree of m to C_j
    m = (p.T @ incoming.multiply(outgoing)).tocsr()  # M[i, j] = U(j, i)
    return m.T.tocsr()


def cluster_affinity(unnormalised: scipy.sparse.csr_matrix, sizes: np.ndarray) -> scipy.sparse.csr_matrix:
    """Eq. 12: the symmetric A[i, j] = U(i, j)/|C_i|² + U(j, i)/|C_j|², diagonal removed."""
    inv2 = scipy.sparse.diags(1.0 / np.asarray(sizes, dtype=np.float64) ** 2)
    directed = inv2 @ unnormalised
    sym = (directed + directed.T).tocsr()
    sym.setdiag(0)
    sym.eliminate_zeros()
    return sym
