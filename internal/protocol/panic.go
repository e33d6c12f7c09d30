package protocol

import (
	"fmt"
	"runtime/debug"
)

// PanicError is a failure caused by a panic in user code: in a task (a
// task failure) or in code the master or a driver runs (a committer, a
// split enumerator: a job failure). Stack is the panicking goroutine's
// stack, with the user's frames.
type PanicError struct {
	// Task names the task attempt that panicked; Code, when Task is
	// empty, names the user code that did ("committer of vertex 3").
	Task  string
	Code  string
	Value any
	Stack string
}

// Error implements error: the panic value and the stack.
func (e *PanicError) Error() string {
	if e.Task == "" {
		return fmt.Sprintf("panic in %s: %v\n%s", e.Code, e.Value, e.Stack)
	}
	return fmt.Sprintf("panic in task %s: %v\n%s", e.Task, e.Value, e.Stack)
}

// CatchPanic, deferred directly by a function that calls user code, turns
// a panic into a *PanicError naming code and stores it in *err:
//
//	defer protocol.CatchPanic(&err, "committer of vertex 3")
func CatchPanic(err *error, code string) {
	if r := recover(); r != nil {
		*err = &PanicError{Code: code, Value: r, Stack: string(debug.Stack())}
	}
}
