// Package dag holds the build graph as plain values: vertices, the closed set
// of operation kinds, their canonical encoding, and a concurrent memoised walk.
//
// The frontend lowers a Dockerfile to vertices; the builder walks them. A
// Vertex's Inputs[0] is the filesystem it builds on (its parent step) for
// Copy, Run and Mkdir; further inputs are the other filesystems it reads
// (COPY --from, RUN --mount from=). A Source vertex has no inputs.
//
// Key types: Vertex (with its Pos in the Dockerfile), Op and its closed set
// of kinds (Source, Copy, Run with RunMount, Mkdir), and Func, what Walk
// calls per vertex.
package dag
