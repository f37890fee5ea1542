// Package db reads the whatsapp_accounts rows the audit needs and writes the
// sizes it verified. It owns every SQL statement of the tool and knows nothing
// about filesystems or findings.
package db
