// Package metrics writes the Prometheus text-format file of one sessaudit
// run, for node_exporter's textfile collector: when the run started and
// ended, whether it succeeded, and what the audit counted (Run), or what
// reclaim, restore or purge did with the session directories (Op). The
// file is replaced atomically, so the collector reads the previous run or
// this one, never a part.
//
// Each file is built in a registry of its own; nothing is registered
// globally.
package metrics
