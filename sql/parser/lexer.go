package parser

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Pos is a position in a script: line and column, both from 1. Columns
// count runes.
type Pos struct {
	Line, Col int
}

// String returns "line:col".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is a syntax error at a position.
type Error struct {
	Pos Pos
	Msg string
}

// Error returns "parser: line L:C: message".
func (e *Error) Error() string { return fmt.Sprintf("parser: line %s: %s", e.Pos, e.Msg) }

// tokKind is the kind of a token.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tIdent          // a name or keyword; quoted names have quoted set
	tNumber         // an integer or decimal literal
	tString         // a '…' literal, with '' unescaped
	tOp             // punctuation and operators
)

// token is one lexical token.
type token struct {
	kind   tokKind
	text   string // identifiers as written (quoted ones unquoted), operators, literal values
	quoted bool   // a `quoted` identifier: never a keyword
	pos    Pos
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString:
		return fmt.Sprintf("string '%s'", t.text)
	case tNumber:
		return fmt.Sprintf("number %s", t.text)
	case tIdent:
		if t.quoted {
			return fmt.Sprintf("`%s`", t.text)
		}
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// lex cuts src into tokens, ending with a tEOF token.
func lex(src string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	advance := func(n int) {
		for k := 0; k < n && i < len(src); {
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == '\n' {
				line++
				col = 1
			} else {
				col++
			}
			i += size
			k += size
		}
	}
	for {
		// Skip white space and comments.
		for i < len(src) {
			r, size := utf8.DecodeRuneInString(src[i:])
			switch {
			case unicode.IsSpace(r):
				advance(size)
				continue
			case strings.HasPrefix(src[i:], "--"):
				j := strings.IndexByte(src[i:], '\n')
				if j < 0 {
					j = len(src) - i
				}
				advance(j)
				continue
			case strings.HasPrefix(src[i:], "/*"):
				start := Pos{line, col}
				j := strings.Index(src[i+2:], "*/")
				if j < 0 {
					return nil, &Error{start, "unterminated comment /* … */"}
				}
				advance(j + 4)
				continue
			}
			break
		}
		pos := Pos{line, col}
		if i >= len(src) {
			return append(toks, token{kind: tEOF, pos: pos}), nil
		}
		c := src[i]
		r, size := utf8.DecodeRuneInString(src[i:])
		switch {
		case r == '_' || unicode.IsLetter(r):
			j := i + size
			for j < len(src) {
				r2, s2 := utf8.DecodeRuneInString(src[j:])
				if r2 != '_' && r2 != '$' && !unicode.IsLetter(r2) && !unicode.IsDigit(r2) {
					break
				}
				j += s2
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], pos: pos})
			advance(j - i)
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			dot := false
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' && !dot) {
				if src[j] == '.' {
					dot = true
				}
				j++
			}
			if j < len(src) && (src[j] == '_' || src[j] < utf8.RuneSelf && unicode.IsLetter(rune(src[j]))) {
				return nil, &Error{pos, fmt.Sprintf("malformed number %q", src[i:j+1])}
			}
			toks = append(toks, token{kind: tNumber, text: src[i:j], pos: pos})
			advance(j - i)
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, &Error{pos, "unterminated string literal"}
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			toks = append(toks, token{kind: tString, text: b.String(), pos: pos})
			advance(j + 1 - i)
		case c == '`' || c == '"':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				return nil, &Error{pos, "unterminated quoted identifier"}
			}
			if j == 0 {
				return nil, &Error{pos, "empty quoted identifier"}
			}
			toks = append(toks, token{kind: tIdent, text: src[i+1 : i+1+j], quoted: true, pos: pos})
			advance(j + 2)
		default:
			op := ""
			for _, o := range []string{"<>", "<=", ">=", "!=", "||"} {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if !strings.ContainsRune("(),;.*+-/%=<>", r) {
					return nil, &Error{pos, fmt.Sprintf("unexpected character %q", r)}
				}
				op = string(r)
			}
			toks = append(toks, token{kind: tOp, text: op, pos: pos})
			advance(len(op))
		}
	}
}
