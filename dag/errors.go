package dag

import "errors"

// fatalError marks an error that retrying cannot fix.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }
func (e fatalError) Unwrap() error { return e.err }
func (e fatalError) Fatal() bool   { return true }

// Fatal marks err as one that retrying cannot fix (bad input data, bad
// configuration): a task failing with it fails the job at once instead of
// being restarted. Errors may also opt in by having a `Fatal() bool` method.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return fatalError{err}
}

// IsFatal reports whether any error in err's chain says it is fatal.
func IsFatal(err error) bool {
	var f interface{ Fatal() bool }
	for err != nil {
		if errors.As(err, &f) && f.Fatal() {
			return true
		}
		// errors.As found a non-fatal Fatal() implementer; look deeper.
		u := errors.Unwrap(err)
		if u == nil {
			return false
		}
		err = u
	}
	return false
}
