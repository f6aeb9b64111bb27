// Package clustertest holds the end-to-end test of a pastmon cluster: real
// etcd, web nodes and sensors as separate processes in Linux network
// namespaces, with real HTTP traffic between them. It has no code of its own
// besides the test; the test needs root and skips without it.
package clustertest
