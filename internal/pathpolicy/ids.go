package pathpolicy

import "fmt"

// MaxJobIDLen is the longest job id accepted.
const MaxJobIDLen = 200

// JobID checks that id is safe as a single file-name component: 1 to
// MaxJobIDLen characters from [A-Za-z0-9._-], not starting with '.' or
// '-' (so never "." or ".." and never a hidden file or an option).
func JobID(id string) error {
	if id == "" {
		return fmt.Errorf("pathpolicy: empty job id")
	}
	if len(id) > MaxJobIDLen {
		return fmt.Errorf("pathpolicy: job id %.40q... is %d bytes long (max %d)", id, len(id), MaxJobIDLen)
	}
	if id[0] == '.' || id[0] == '-' {
		return fmt.Errorf("pathpolicy: job id %q must not start with %q", id, rune(id[0]))
	}
	for i, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("pathpolicy: job id %q: character %q at byte %d not allowed (use letters, digits, . _ -)", id, c, i)
		}
	}
	return nil
}

// SHA256Hex checks that s is a lower-case hex SHA-256 digest (64
// characters), as used for job binary file names.
func SHA256Hex(s string) error {
	if len(s) != 64 {
		return fmt.Errorf("pathpolicy: binary hash %.80q has %d characters, want 64 lower-case hex digits", s, len(s))
	}
	for i, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("pathpolicy: binary hash %q: character %q at byte %d is not a lower-case hex digit", s, c, i)
		}
	}
	return nil
}
