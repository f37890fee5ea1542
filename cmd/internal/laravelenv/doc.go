// Package laravelenv reads the database connection of a Laravel
// application from its .env file, so that sessaudit connects where the
// application does without a second copy of the credentials.
//
// The password never appears in an error of this package: a .env file
// that cannot be parsed is reported without the parser's message, which
// quotes the offending text.
//
// The file is read as Laravel reads it (phpdotenv 5's grammar, parse.go):
// only ${NAME} is expanded, in unquoted and double-quoted values, so a
// password such as Abc$2024 reads as written; and a variable set in the
// process environment wins over the file's line, as in Laravel, where the
// environment of a Kubernetes pod holds DB_* and the .env perhaps nothing.
// FromEnvironment reads the environment alone, for an application that
// has no .env file.
package laravelenv
