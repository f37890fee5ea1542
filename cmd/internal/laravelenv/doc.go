// Package laravelenv reads the database connection of a Laravel
// application from its .env file, so that sessaudit connects where the
// application does without a second copy of the credentials.
//
// The password never appears in an error of this package: a .env file
// that cannot be parsed is reported without the parser's message, which
// quotes the offending text.
//
// The file is parsed by godotenv, which reads Laravel's .env syntax with
// one difference: in unquoted and double-quoted values it expands $NAME as
// well as ${NAME}, where Laravel expands only ${NAME}. A password with a $
// followed by capitals belongs in single quotes, as Laravel advises anyway.
package laravelenv
