package cli

import (
	"flag"
	"fmt"
	"strings"
)

// envPrefix starts the name of the environment variable of every flag.
const envPrefix = "SESSAUDIT_"

// envNote is what every command's help says about the environment.
const envNote = `Every flag may also be set in the environment as SESSAUDIT_<FLAG>, the flag's name
in capitals with - as _ (--path-prefix: SESSAUDIT_PATH_PREFIX). A flag given on the
command line wins over its environment variable. --yes is the exception: a confirmation
comes from the command line only, and SESSAUDIT_YES is ignored (with a warning).`

// commandLineOnly are the flags no environment variable sets: a
// confirmation left in a shell profile or a pod spec would otherwise make
// every plan a deletion, unseen.
var commandLineOnly = map[string]bool{"yes": true}

// shortForms are flags that are another flag's short form (-n for
// --dry-run): the long form's variable sets it.
var shortForms = map[string]bool{"n": true}

// envName is the environment variable of the flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// bindEnv sets every flag of fset that the command line did not set from
// its environment variable, when that is set and not empty. Call it after
// fset.Parse: what Parse set is the command line's, and wins.
//
// It reads through env, like everything else a command touches, so that
// tests and the demo control it. (A library would add little: peterbourgon/ff
// does this same loop but reads os.Getenv itself.)
func bindEnv(fset *flag.FlagSet, env Env) error {
	given := map[string]bool{}
	fset.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fset.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] || shortForms[f.Name] {
			return
		}
		key := envName(f.Name)
		v := env.getenv(key)
		if v == "" {
			return
		}
		if commandLineOnly[f.Name] {
			fmt.Fprintf(env.Stderr, "sessaudit %s: %s is ignored: give --%s on the command line to confirm\n", fset.Name(), key, f.Name)
			return
		}
		if serr := fset.Set(f.Name, v); serr != nil {
			// As flagError words the command line's errors, naming the
			// variable. Only flags that parse their value can fail here,
			// never a string such as the DSN, so the value may be shown.
			ferr := flagError(fset, fmt.Errorf("invalid value %q for flag -%s: %w", v, f.Name, serr))
			err = usageError("environment variable %s: %s", key, strings.TrimPrefix(ferr.Error(), "--"+f.Name+" "))
		}
	})
	return err
}
