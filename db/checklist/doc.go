// Package checklist is the database part of the verification checklist of
// the multi-instance audit as rules: which columns and indexes its four
// migrations add, where, with which types, and which of them the audit
// cannot do without. It judges the facts package db reads from
// information_schema (a db.Schema) and reads nothing itself: Check is a pure
// function, shared by "sessaudit schema" and the audit's refusal of a table
// it cannot use.
package checklist
