// Package grafana holds no code: its directory has sessaudit's Grafana
// dashboard (sessaudit.json) and the provisioning file that loads it, and
// its test checks that every query of the dashboard, and every expression
// of the alert rules in deploy/prometheus, names series and labels that
// sessaudit exports.
package grafana
