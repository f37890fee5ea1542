package cli

import (
	"flag"

	"sessaudit/cmd/internal/laravelenv"
)

// laravelEnvUsage is the help of --laravel-env.
const laravelEnvUsage = "read the database connection from the Laravel application's .env `FILE` " +
	"(DB_CONNECTION mysql or mariadb, DB_HOST, DB_PORT, DB_DATABASE, DB_USERNAME, DB_PASSWORD, DB_SOCKET); --dsn wins"

func registerLaravelEnv(fs *flag.FlagSet, path *string) {
	fs.StringVar(path, "laravel-env", "", laravelEnvUsage)
}

// resolveDSN returns the DSN to connect with: dsn (from --dsn or
// SESSAUDIT_DSN) when set, else the one the .env file at laravelEnv names.
// Neither its errors nor the DSN's description contain the password.
func resolveDSN(dsn, laravelEnv string) (string, error) {
	switch {
	case dsn != "":
		return dsn, nil
	case laravelEnv != "":
		cfg, err := laravelenv.Read(laravelEnv)
		if err != nil {
			return "", err
		}
		return cfg.DSN(), nil
	}
	return "", usageError("--dsn, SESSAUDIT_DSN or --laravel-env is required")
}
