// Package reconcile holds the rules that join the share and the accounts
// table: it maps stored paths onto the share, gives every session directory
// and every row exactly one outcome, decides what may be written, and renders
// the report.
//
// It uses the types of packages scanner and db and declares the small
// interfaces it needs of them.
package reconcile
