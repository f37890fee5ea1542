// Package kubernetes holds no code: its directory has sessaudit's
// Kubernetes manifests (a CronJob of an Indexed Job, one pod per shard, and
// the read-only EFS volume it mounts), and its test checks their wiring:
// the shard each pod audits, the read-only mount, the DSN from a Secret.
package kubernetes
