// Package dbtest gives tests a MySQL database to run against: a scratch
// database on the server named by SESSAUDIT_TEST_MYSQL_DSN when it is set, or
// an embedded go-mysql-server otherwise, so that the same suite runs against
// both and nothing is silently skipped.
//
// It links go-mysql-server and must only be imported by tests and by demo
// commands, never by the production binary.
package dbtest
