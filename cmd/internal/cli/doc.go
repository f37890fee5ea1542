// Package cli is the sessaudit command line: flags, wiring, output and exit
// codes. It is shared by the sessaudit binary and the demo, so that the demo
// runs exactly the production code path.
package cli
