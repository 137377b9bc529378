"""umap's aligned-layout kernels over stacked arrays (see ``aligned_layout``): the epoch and
the neighbourhood similarities.

Imported on first use only: importing it imports numba and umap.
"""

import numba
import numpy as np
from umap.layouts import clip, rdist
from umap.sparse import arr_intersect, arr_union
from umap.utils import tau_rand_int


@numba.njit(cache=True)
def neighborhood_similarities(graphs_indptr, graphs_indices, relations):
    """umap's ``aligned_umap.build_neighborhood_similarities`` (BSD-3), value for value: the
    Jaccard overlap of a sample's neighbours in one model and its related sample's in a model
    ``offset`` away. umap tests membership with ``in1d``, a ``parallel=True`` function that
    builds a set of all ``n`` relations on every call (models x window x n calls, each a
    parallel region): seconds on a busy 2-core machine, at times ten. Here the membership is
    one mask per (model, offset), and nothing runs in parallel."""
    result = np.zeros(relations.shape, dtype=np.float32)
    center_index = (relations.shape[1] - 1) // 2
    for i in range(relations.shape[0]):
        base_graph_indptr = graphs_indptr[i]
        base_graph_indices = graphs_indices[i]
        for j in range(relations.shape[1]):
            if i + j - center_index < 0 or i + j - center_index >= len(graphs_indptr):
                continue
            comparison_graph_indptr = graphs_indptr[i + j - center_index]
            comparison_graph_indices = graphs_indices[i + j - center_index]
            rel = relations[i, j]
            n_cmp = comparison_graph_indptr.shape[0] - 1
            member = np.zeros(max(n_cmp, 0), dtype=np.bool_)
            for v in rel:
                if 0 <= v < n_cmp:
                    member[v] = True
            for k in range(relations.shape[2]):
                comparison_index = rel[k]
                if comparison_index < 0:
                    continue
                raw = base_graph_indices[base_graph_indptr[k] : base_graph_indptr[k + 1]].copy()
                base_indices = rel[raw[raw < relations.shape[2]]]
                base_indices = base_indices[base_indices >= 0]
                comparison_indices = comparison_graph_indices[
                    comparison_graph_indptr[comparison_index] : comparison_graph_indptr[
                        comparison_index + 1
                    ]
                ]
                keep = np.empty(comparison_indices.shape[0], dtype=np.bool_)
                for t in range(comparison_indices.shape[0]):
                    keep[t] = member[comparison_indices[t]]
                comparison_indices = comparison_indices[keep]
                intersection_size = arr_intersect(base_indices, comparison_indices).shape[0]
                union_size = arr_union(base_indices, comparison_indices).shape[0]
                if union_size > 0:
                    result[i, j, k] = intersection_size / union_size
                else:
                    result[i, j, k] = 1.0
    return result


@numba.njit(fastmath=True, cache=True)
def epoch(
    emb, heads, tails, n_edges, eps, a, b, reg, relations, coef, rng_state, gamma,
    move_other, alpha, eps_neg, next_neg, next_sample, n,
):  # fmt: skip
    n_emb = emb.shape[0]
    dim = emb.shape[2]
    window = (relations.shape[1] - 1) // 2
    max_edges = 0
    for m in range(n_emb):
        if n_edges[m] >= max_edges:
            max_edges = n_edges[m]
    order = np.arange(n_emb).astype(np.int32)
    np.random.seed(abs(rng_state[0]))
    np.random.shuffle(order)
    for i in range(max_edges):
        for m in order:
            if i < n_edges[m] and next_sample[m, i] <= n:
                j = heads[m, i]
                k = tails[m, i]
                current = emb[m, j]
                other = emb[m, k]
                dist_squared = rdist(current, other)
                if dist_squared > 0.0:
                    grad_coeff = -2.0 * a * b * pow(dist_squared, b - 1.0)
                    grad_coeff /= a * pow(dist_squared, b) + 1.0
                else:
                    grad_coeff = 0.0
                for d in range(dim):
                    grad_d = clip(grad_coeff * (current[d] - other[d]))
                    for offset in range(-window, window):
                        nm = m + offset
                        if n_emb > nm >= 0 != offset:
                            ident = relations[m, offset + window, j]
                            if ident >= 0:
                                grad_d -= clip(
                                    coef[offset + window]
                                    * reg[m, offset + window, j]
                                    * (current[d] - emb[nm, ident, d])
                                )
                    current[d] += clip(grad_d) * alpha
                    if move_other:
                        other_grad_d = clip(grad_coeff * (other[d] - current[d]))
                        for offset in range(-window, window):
                            nm = m + offset
                            if n_emb > nm >= 0 != offset:
                                ident = relations[m, offset + window, k]
                                if ident >= 0:
                                    other_grad_d -= clip(
                                        coef[offset + window]
                                        * reg[m, offset + window, k]
                                        * (other[d] - emb[nm, ident, d])
                                    )
                        other[d] += clip(other_grad_d) * alpha
                next_sample[m, i] += eps[m, i]
                n_neg = int((n - next_neg[m, i]) / eps_neg[m, i]) if eps_neg[m, i] > 0 else 0
                for _ in range(n_neg):
                    k = tau_rand_int(rng_state) % emb.shape[1]
                    other = emb[m, k]
                    dist_squared = rdist(current, other)
                    if dist_squared > 0.0:
                        grad_coeff = 2.0 * gamma * b
                        grad_coeff /= (0.001 + dist_squared) * (a * pow(dist_squared, b) + 1)
                    elif j == k:
                        continue
                    else:
                        grad_coeff = 0.0
                    for d in range(dim):
                        if grad_coeff > 0.0:
                            grad_d = clip(grad_coeff * (current[d] - other[d]))
                        else:
                            grad_d = 0.0
                        for offset in range(-window, window):
                            nm = m + offset
                            if n_emb > nm >= 0 != offset:
                                ident = relations[m, offset + window, j]
                                if ident >= 0:
                                    grad_d -= clip(
                                        coef[offset + window]
                                        * reg[m, offset + window, j]
                                        * (current[d] - emb[nm, ident, d])
                                    )
                        current[d] += clip(grad_d) * alpha
                next_neg[m, i] += n_neg * eps_neg[m, i]
