package notefile

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// ErrBadPath is returned (wrapped) for a note path the journal refuses.
var ErrBadPath = errors.New("bad note path")

// ValidNotePath checks a note path relative to the notes directory, as given by
// an item's Note or a NoteEvent's Path. It must be a relative, slash-separated
// path that stays inside the directory (no "..", not absolute, no empty or "."
// elements, no backslashes), whose elements are not hidden (no leading "."; that
// keeps the journal out of .git, .obsidian and its own temporary files), and
// which names a Markdown file (".md"). Errors wrap ErrBadPath.
func ValidNotePath(p string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrBadPath, p, why) }
	switch {
	case p == "":
		return bad("empty")
	case strings.HasPrefix(p, "/"):
		return bad("absolute paths are not allowed")
	case strings.ContainsAny(p, "\\\x00"):
		return bad("backslashes and NUL are not allowed")
	case !strings.HasSuffix(p, ".md"):
		return bad("a note is a .md file")
	case !fs.ValidPath(p):
		return bad(`it must stay inside the notes directory (no "..", "." or empty elements)`)
	}
	for _, el := range strings.Split(p, "/") {
		if strings.HasPrefix(el, ".") {
			return bad("hidden (dot) elements are not allowed")
		}
	}
	return nil
}
