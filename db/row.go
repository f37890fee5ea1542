package db

import "time"

// Row is one row of the accounts table, reduced to what the audit reads.
// Columns the table lacks read as nil.
type Row struct {
	ID          uint64
	WorkspaceID uint64
	SessionID   string
	// StoragePath is session_storage_path; nil when NULL.
	StoragePath *string
	// DeletedAt is the soft-delete time; nil for a live row (and for every row
	// when the table has no deleted_at column).
	DeletedAt *time.Time
	CreatedAt *time.Time
	UpdatedAt *time.Time
	// InstanceIndex is assigned_instance_index; nil when NULL or absent.
	InstanceIndex *int
	// VerifiedAt is session_storage_verified_at, the last time the audit
	// wrote the row's size; nil when NULL (never verified).
	VerifiedAt *time.Time
	// Status is the application's status of the session (qr_scanning,
	// authenticated, connected, disconnected, failed); nil when NULL or
	// empty (MariaDB's value for one not in the ENUM), or when the table has
	// no status column.
	Status *string
	// ProviderType is provider_type: webjs (a session directory written by
	// whatsapp-web.js or Baileys) or meta (the Cloud API, which keeps no
	// session files); nil when NULL or empty, or when the table has no
	// provider_type column.
	ProviderType *string
}

// Live reports whether the row is not soft-deleted.
func (r Row) Live() bool { return r.DeletedAt == nil }

// LastChanged returns the newest of CreatedAt and UpdatedAt, or the zero time
// when the table records neither.
func (r Row) LastChanged() time.Time {
	var t time.Time
	if r.CreatedAt != nil {
		t = *r.CreatedAt
	}
	if r.UpdatedAt != nil && r.UpdatedAt.After(t) {
		t = *r.UpdatedAt
	}
	return t
}

// SizeUpdate is one verified measurement to write. StoragePath is the value
// read with the row: the write only happens while the row still holds it and
// is still live.
type SizeUpdate struct {
	ID          uint64
	StoragePath string
	SizeBytes   int64
}
