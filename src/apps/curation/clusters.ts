/**
 * Cluster membership lists from an assignment, and their ordering by distance to the centroid (the
 * reference's `create_clusters_from_cluster_assignment` and `sort_cluster_by_distance`): closest-first
 * lists are what the 'c' strategies of resampling and of the final sampling take their prefixes from.
 */

/** Members of each of the k clusters, in increasing item index. */
export function clustersFromAssignment(assignment: Int32Array, k: number): Int32Array[] {
  const counts = new Int32Array(k);
  for (const a of assignment) {
    if (!(a >= 0 && a < k)) throw new Error(`clustersFromAssignment: cluster id ${a} outside [0, ${k})`);
    counts[a]!++;
  }
  const out = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(k);
  for (let i = 0; i < assignment.length; i++) {
    const a = assignment[i]!;
    out[a]![fill[a]!++] = i;
  }
  return out;
}

/**
 * Each cluster's members sorted by increasing distance to its centroid; equal distances keep increasing
 * index (the reference sorts the indices first, then argsorts the distances). Distances are exact float64.
 */
export function sortClustersByDistance(x: Float32Array, D: number, centroids: Float32Array, clusters: readonly Int32Array[]): Int32Array[] {
  return clusters.map((members, c) => {
    const dist = new Float64Array(members.length);
    for (let m = 0; m < members.length; m++) {
      let s = 0;
      for (let j = 0, xo = members[m]! * D, co = c * D; j < D; j++) {
        const diff = x[xo + j]! - centroids[co + j]!;
        s += diff * diff;
      }
      dist[m] = s;
    }
    const order = Array.from(members.keys()).sort((a, b) => dist[a]! - dist[b]! || members[a]! - members[b]!);
    return Int32Array.from(order, (o) => members[o]!);
  });
}
