package journal

import (
	"errors"
	"path"
)

// syncedPath is where the note at p lives once its item is synced:
// <dir of p>/synced/<file>.
func syncedPath(p string) string {
	return path.Join(path.Dir(p), "synced", path.Base(p))
}

// isEscape reports whether err is os.Root refusing a path that leaves the root
// (through "..", an absolute or an outward symbolic link). Go does not export
// the error, so it is recognised by its text; the symlink tests pin it.
func isEscape(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "path escapes from parent" {
			return true
		}
	}
	return false
}
