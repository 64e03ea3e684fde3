// Package deploy holds the deployment files of a Steward split across machines
// (nats/nats-server.conf, systemd units) and the tests that keep them valid: the
// NATS configuration is loaded with nats-server's own parser and served, and
// every machine's user is checked against what its Steward really does.
package deploy
