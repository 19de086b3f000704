// Package discovery finds the Qdrant peers of a cluster and checks that
// what Kubernetes shows and what Qdrant's consensus says agree.
//
// A Source lists candidate addresses: Ready pods selected by label through
// the Kubernetes API (Kubernetes), or URLs given by the user (Static).
// Discover then asks every candidate GET / and GET /cluster directly —
// never through a Service — maps each pod to the peer id it reports for
// itself, checks that every peer sees the same peer set with consensus
// working, and runs the node-count check: Ready pods, peers in consensus
// and reachable peers must agree, else a *NodeCountError names the missing
// and extra peers and pods. A backup or restore against a cluster that is
// half there would otherwise succeed on the wrong data.
package discovery
