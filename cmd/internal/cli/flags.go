package cli

import (
	"fmt"
	"strconv"
	"strings"

	"sessaudit/scanner"
)

// workspaceList is a repeatable --workspace flag; commas also separate ids.
type workspaceList []uint64

func (l *workspaceList) String() string {
	parts := make([]string, len(*l))
	for i, id := range *l {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ",")
}

func (l *workspaceList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		id, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
		if err != nil {
			return fmt.Errorf("workspace id %q is not a non-negative integer", part)
		}
		*l = append(*l, id)
	}
	return nil
}

// scope returns the workspaces the flag selects: all when it was not given.
func (l workspaceList) scope() scanner.Scope {
	if len(l) == 0 {
		return scanner.AllWorkspaces()
	}
	return scanner.OnlyWorkspaces(l...)
}

// formatFlag is --format: text or json.
type formatFlag string

func (f *formatFlag) String() string { return string(*f) }

func (f *formatFlag) Set(v string) error {
	switch v {
	case "text", "json":
		*f = formatFlag(v)
		return nil
	}
	return fmt.Errorf("want text or json")
}
