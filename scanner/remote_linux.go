package scanner

// Remote reports whether path lies on a network or FUSE filesystem (NFS,
// SMB/CIFS, 9p, Ceph, Lustre, FUSE and the like), or on one whose type it
// does not know, as told by statfs: the same judgement that sizes the
// walk's workers.
func Remote(path string) (bool, error) {
	k, err := statfsKind(path)
	return k.remote, err
}
