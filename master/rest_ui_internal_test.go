package master

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTailLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\n", 3, "a\n"},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 10, "a\nb\nc\n"},
		{"a\nb\nc\n\n\n", 1, "c\n"},
		{"only", 1, "only\n"},
	} {
		if got := string(tailLines([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("tailLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestDecodeStopRequest(t *testing.T) {
	for _, tc := range []struct {
		body    string
		stop    bool
		want    StopRequest
		wantErr string
	}{
		{"", false, StopRequest{}, ""},
		{" \n", true, StopRequest{}, ""},
		{"{}", false, StopRequest{}, ""},
		{`{"dir": "file:///sp"}`, false, StopRequest{Dir: "file:///sp"}, ""},
		{`{"dir": "/sp", "drain": true}` + "\n", true, StopRequest{Dir: "/sp", Drain: true}, ""},
		{`{"drain": true}`, false, StopRequest{}, "drain applies to stop only"},
		{`{"dri": true}`, true, StopRequest{}, `unknown field "dri"`},
		{`{"dir": 3}`, true, StopRequest{}, "request body"},
		{`{"dir": "/a"} {"dir": "/b"}`, false, StopRequest{}, "data after the JSON object"},
		{`{"dir": "/a"}}`, false, StopRequest{}, "data after the JSON object"},
		{`[`, false, StopRequest{}, "request body"},
		{`null`, true, StopRequest{}, ""},
	} {
		got, err := decodeStopRequest([]byte(tc.body), tc.stop)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "master: ") {
				t.Errorf("decodeStopRequest(%q, %v) = %+v, %v; want an error with %q", tc.body, tc.stop, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("decodeStopRequest(%q, %v) = %+v, %v; want %+v", tc.body, tc.stop, got, err, tc.want)
		}
	}
}

// FuzzStopRequestBody feeds the REST savepoint and stop bodies (from any
// HTTP client): decoding fails with an error or yields a request that
// encodes and decodes to itself, never panics, and never lets drain
// through on a savepoint.
func FuzzStopRequestBody(f *testing.F) {
	for _, s := range []string{"", "{}", `{"dir":"file:///sp","drain":true}`, `{"dir": 3}`, `{"a":1}`, `{"dir":"x"}{}`, "null", `"\u0000"`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, stop bool) {
		req, err := decodeStopRequest(body, stop)
		if err != nil {
			if req != (StopRequest{}) {
				t.Fatalf("error %v with a non-empty request %+v", err, req)
			}
			return
		}
		if req.Drain && !stop {
			t.Fatalf("drain accepted on a savepoint: %q", body)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeStopRequest(again, stop)
		if err != nil || back != req {
			t.Fatalf("%+v encodes to %s, which decodes to %+v, %v", req, again, back, err)
		}
	})
}
