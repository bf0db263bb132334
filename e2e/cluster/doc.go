// Package cluster tests several botwarden replicas as separate processes
// (the binary, built once) sharing Redis (Debian's redis-server) and NATS
// JetStream (the official server, embedded in the test process), each on
// its own loopback ports behind its own gateway, under the faults a
// replicated deployment meets: Redis killed and restarted, NATS killed and
// restarted, Redis answering late.
package cluster
