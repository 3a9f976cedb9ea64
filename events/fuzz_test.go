package events_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/latchhq/latch/events"
)

// FuzzUnmarshal feeds Unmarshal arbitrary bytes. It must never panic, and a
// message it accepts must marshal, read back, and marshal to the same bytes;
// a command must survive Command and FromCommand unchanged, and a create
// Create and FromCreate.
func FuzzUnmarshal(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{``, `{}`, `null`, `[]`, `{"v":1}`, `{"v":2,"type":"x"}`, `{"v":1,"type":"approve"}`,
		`{"v":1,"type":"due","id":"c","at":"2026-11-25T09:30:00+02:00","grant_id":"g"}`,
		`{"v":1,"type":"due","id":"c","at":"9999-12-31T23:30:00-01:00","grant_id":"g"}`,
		`{"v":1,"type":"due","id":"c","at":"2026-11-25T09:30:00Z","grant_id":"g","actor":{"bot":"x"}} `,
		`{"v":1,"type":"due","id":"c","at":"2026-11-25T09:30:00Z","grant_id":"g","Actor":null}`,
		`{"v":1,"type":"create","id":"c","at":"2026-11-25T09:30:00Z","request_id":"r","flow":"f","user_email":"a@b","source":"api"}`,
		`{"v":1,"type":"create","id":"c","at":"2026-11-25T09:30:00Z","request_id":"r","flow":"f","user_email":"a@b","source":"slack",` +
			`"created_by":{"bot":"ci"},"fields":{"n":1e3,"l":[1,"x",null,{"a":[]}],"s":"\u003c\ufffe\ud800"},"context":{}}`,
		`{"v":1,"type":"create","id":"c","at":"2026-11-25T09:30:00Z","request_id":"r","flow":"f","user_email":"a@b","source":"api","fields":{"a":1,"a":2}}`,
		`{"v":1,"type":"create","id":"c","at":"2026-11-25T09:30:00Z","request_id":"r","flow":"f","user_email":"a@b","source":"api","fields":[]}`,
		`{"v":1,"type":"approve","id":"c","at":"2026-11-25T09:30:00Z","request_id":"r","actor":{"email":"a@b"},"fields":null,"created_by":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := events.Unmarshal(data)
		if err != nil {
			return
		}
		b1, err := events.Marshal(m)
		if err != nil {
			t.Fatalf("accepted %q but cannot marshal it: %v", data, err)
		}
		m2, err := events.Unmarshal(b1)
		if err != nil {
			t.Fatalf("cannot read back %s: %v", b1, err)
		}
		b2, err := events.Marshal(m2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("marshal is not stable: %s then %s (%v)", b1, b2, err)
		}
		if m.Type == events.TypeCreate {
			c, err := m.Create()
			if err != nil {
				t.Fatalf("accepted %s but Create fails: %v", b1, err)
			}
			back := events.FromCreate(c, m.At)
			back.ID = m.ID // FromCreate names the message after the request; the input may not
			b3, err := events.Marshal(back)
			if err != nil || !bytes.Equal(b1, b3) {
				t.Fatalf("create round trip changed %s into %s (%v)", b1, b3, err)
			}
			return
		}
		if !m.Type.IsCommand() {
			return
		}
		cmd, err := m.Command()
		if err != nil {
			t.Fatalf("accepted %s but Command fails: %v", b1, err)
		}
		b3, err := events.Marshal(events.FromCommand(cmd))
		if err != nil || !bytes.Equal(b1, b3) {
			t.Fatalf("command round trip changed %s into %s (%v)", b1, b3, err)
		}
	})
}
