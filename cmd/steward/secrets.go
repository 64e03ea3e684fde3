package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// maxSecretFile bounds a token or password file.
const maxSecretFile = 64 << 10

// readSecretFile reads a token from a file (surrounding whitespace trimmed).
// Errors name the file and the flag, never the contents.
func readSecretFile(path, flag string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	if len(raw) > maxSecretFile {
		return "", fmt.Errorf("%s %s: larger than %d bytes; want just the token", flag, path, maxSecretFile)
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" || strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("%s %s: want one line holding the token", flag, path)
	}
	return tok, nil
}

// warnArgvSecret warns that a secret was given on the command line, where every
// user of the machine can read it (ps, /proc/<pid>/cmdline).
func warnArgvSecret(w io.Writer, flag, instead string) {
	fmt.Fprintf(w, "steward: warning: %s puts a secret on the command line, where every user of this machine can read it (ps); use %s instead\n", flag, instead)
}

// urlHasSecret reports whether a (comma-separated list of) URL carries a
// password or token in its userinfo.
func urlHasSecret(raw string) bool {
	for _, p := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			if strings.Contains(p, "@") {
				return true
			}
			continue
		}
		if u.User != nil {
			return true
		}
	}
	return false
}
