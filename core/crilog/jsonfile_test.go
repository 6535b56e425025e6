package crilog

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/docker/docker/daemon/logger/jsonfilelog/jsonlog"
)

// dockerLine is a record as Docker's json-file driver writes it (without its newline).
func dockerLine(t testing.TB, stream string, ts time.Time, msg string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := (&jsonlog.JSONLogs{Log: []byte(msg), Stream: stream, Created: ts}).MarshalJSONBuf(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAppendRecord(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	stamp := "2026-01-02T03:04:05.0000006Z"
	cases := []struct {
		name, stream, msg string
		tty               bool
		want              string
	}{
		{"line", "stdout", "hello\n", false, stamp + " stdout F hello\n"},
		{"stderr", "stderr", "oops\n", false, stamp + " stderr F oops\n"},
		{"partial", "stdout", "no newline", false, stamp + " stdout P no newline\n"},
		{"escapes", "stdout", "a\t\"b\" <c> & \\d\u2028\n", false, stamp + " stdout F a\t\"b\" <c> & \\d\u2028\n"},
		{"invalid utf-8", "stdout", "a\xffb\n", false, stamp + " stdout F a\ufffdb\n"},
		{"crlf", "stdout", "dos\r\n", false, stamp + " stdout F dos\r\n"},
		{"tty crlf", "stdout", "term\r\n", true, stamp + " stdout F term\n"},
		{"tty crlf slow", "stdout", "te\trm\r\n", true, stamp + " stdout F te\trm\n"},
		{"just a newline", "stdout", "\n", false, stamp + " stdout F \n"},
		{"inner newline", "stdout", "a\nb\n", false, stamp + " stdout F a\n" + stamp + " stdout F b\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := appendRecord(nil, dockerLine(t, tc.stream, ts, tc.msg), tc.tty)
			if !ok || string(got) != tc.want {
				t.Errorf("appendRecord = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
	// Docker's labels and tag options add attributes.
	line := `{"log":"x\n","stream":"stdout","attrs":{"tag":"t"},"time":"` + stamp + `"}`
	if got, ok := appendRecord(nil, []byte(line), false); !ok || string(got) != stamp+" stdout F x\n" {
		t.Errorf("record with attrs: %q, %v", got, ok)
	}
	// A timestamp in another zone is written in UTC.
	line = `{"log":"x\n","stream":"stdout","time":"2026-01-02T04:04:05.0000006+01:00"}`
	if got, ok := appendRecord(nil, []byte(line), false); !ok || string(got) != stamp+" stdout F x\n" {
		t.Errorf("record in +01:00: %q, %v", got, ok)
	}
	for _, bad := range []string{
		``, `{`, `not json`, `{"log":"x\n","stream":"stdin","time":"` + stamp + `"}`,
		`{"log":"x\n","stream":"stdout"}`, `{"log":"x\n","stream":"stdout","time":"yesterday"}`,
		`{"log":"x\n","stream":"stdout","time":"` + stamp, `{"log":"x\n","stream":"stdout","time":"2026-01-02T03:04:05.Z"}`,
		`{"log":"x`,
	} {
		if got, ok := appendRecord([]byte("kept"), []byte(bad), false); ok || string(got) != "kept" {
			t.Errorf("appendRecord(%q) = %q, %v; want it refused", bad, got, ok)
		}
	}
	if got, ok := appendRecord(nil, []byte(`{"stream":"stdout","time":"`+stamp+`"}`), false); !ok || len(got) != 0 {
		t.Errorf("record without a message: %q, %v", got, ok)
	}
}

// FuzzAppendRecord: for any message Docker may write, the fast path (when it takes
// the line) writes what encoding/json reads, and the CRI line holds the message.
func FuzzAppendRecord(f *testing.F) {
	f.Add("hello\n", false, int64(0))
	f.Add("a\tb\"c\\\n", true, int64(123456789))
	f.Add("x\r\n", true, int64(1))
	f.Add("\xff\u2028", false, int64(999999999))
	f.Fuzz(func(t *testing.T, msg string, tty bool, nsec int64) {
		if msg == "" || strings.Contains(strings.TrimSuffix(msg, "\n"), "\n") {
			return // Docker cuts records at newlines, and writes none empty
		}
		ts := time.Unix(1700000000, nsec%1e9).UTC()
		line := dockerLine(t, "stdout", ts, msg)
		got, ok := appendRecord(nil, line, tty)
		if !ok {
			t.Fatalf("appendRecord refused %q", line)
		}
		slow, ok := slowRecord(nil, line, tty)
		if !ok || !bytes.Equal(got, slow) {
			t.Fatalf("appendRecord(%q) = %q, encoding/json's: %q", line, got, slow)
		}
		if bytes.Count(got, []byte{'\n'}) != 1 || got[len(got)-1] != '\n' {
			t.Fatalf("not one line: %q", got)
		}
		want := strings.ToValidUTF8(msg, "\ufffd")
		if !utf8.ValidString(msg) {
			// Docker replaces each invalid byte.
			var b strings.Builder
			for i := 0; i < len(msg); {
				r, n := utf8.DecodeRuneInString(msg[i:])
				if r == utf8.RuneError && n == 1 {
					b.WriteString("\ufffd")
				} else {
					b.WriteString(msg[i : i+n])
				}
				i += n
			}
			want = b.String()
		}
		tag := "P"
		if w, full := strings.CutSuffix(want, "\n"); full {
			want, tag = w, "F"
			if tty {
				want = strings.TrimSuffix(want, "\r")
			}
		}
		prefix := ts.Format(time.RFC3339Nano) + " stdout " + tag + " "
		if string(got) != prefix+want+"\n" {
			t.Fatalf("appendRecord(%q) = %q, want %q", line, got, prefix+want+"\n")
		}
	})
}

func BenchmarkAppendRecord(b *testing.B) {
	line := dockerLine(b, "stdout", time.Now().UTC(), strings.Repeat("x", 100)+"\n")
	var out []byte
	b.SetBytes(int64(len(line)) + 1)
	for b.Loop() {
		out, _ = appendRecord(out[:0], line, false)
	}
}
