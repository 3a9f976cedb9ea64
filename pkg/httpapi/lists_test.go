package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// listServer serves the API over a store holding 12 requests: r00..r11,
// one a minute from 09:00, flows prod-db and staging in turn, every third
// one active (the others pending).
func listServer(t *testing.T) *httptest.Server {
	t.Helper()
	var store latch.Store
	srv, _, _ := newAPI(t, func(s *httpapi.Server) { store = s.Store })
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var reqs []latch.Request
	for i := range 12 {
		st := latch.StatusPending
		if i%3 == 0 {
			st = latch.StatusActive
		}
		reqs = append(reqs, latch.Request{ID: fmt.Sprintf("r%02d", i), Flow: []string{"prod-db", "staging"}[i%2],
			Requester: latch.UserRef{Email: "ann@example.com"}, Status: st,
			CreatedAt: t0.Add(time.Duration(i) * time.Minute), UpdatedAt: t0})
	}
	if err := store.Commit(t.Context(), latch.Change{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	return srv
}

// get GETs path and returns the status and the body as generic JSON.
func get(t *testing.T, srv *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-secret-token")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q, want JSON", path, ct)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object: %v", path, b, err)
	}
	return resp.StatusCode, body
}

func ids(t *testing.T, body map[string]any) []string {
	t.Helper()
	list, ok := body["requests"].([]any)
	if !ok {
		t.Fatalf("requests is %T, want an array: %v", body["requests"], body)
	}
	var out []string
	for _, r := range list {
		out = append(out, r.(map[string]any)["id"].(string))
	}
	return out
}

// A list is read page by page: each page but the last carries next, which
// as cursor= gives the following page; the pages together are the list.
func TestListRequestsPagesWithACursor(t *testing.T) {
	srv := listServer(t)
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"status=pending&limit=3", []string{"r11", "r10", "r08", "r07", "r05", "r04", "r02", "r01"}},
		{"flow=prod-db&status=active&limit=1", []string{"r06", "r00"}},
		{"flow=staging&user=ANN@example.com&limit=2", []string{"r11", "r09", "r07", "r05", "r03", "r01"}},
		{"since=2026-03-01T09:03:00Z&until=2026-03-01T09:07:00Z&limit=2", []string{"r06", "r05", "r04", "r03"}},
		{"flow=prod-db&since=2026-03-01T10:03:00%2B01:00&limit=100", []string{"r10", "r08", "r06", "r04"}},
		{"limit=5", []string{"r11", "r10", "r09", "r08", "r07", "r06", "r05", "r04", "r03", "r02", "r01", "r00"}},
		{"flow=nope", nil},
	} {
		t.Run(tt.query, func(t *testing.T) {
			var got []string
			query := tt.query
			for page := 0; ; page++ {
				if page > 12 {
					t.Fatal("more pages than requests")
				}
				status, body := get(t, srv, "/v1/requests?"+query)
				if status != http.StatusOK {
					t.Fatalf("GET ?%s: %d %v", query, status, body)
				}
				got = append(got, ids(t, body)...)
				next, ok := body["next"]
				if !ok {
					break
				}
				cursor, ok := next.(string)
				if !ok || cursor == "" {
					t.Fatalf("next is %#v, want a non-empty string", next)
				}
				query = tt.query + "&cursor=" + url.QueryEscape(cursor)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("pages of ?%s = %v, want %v", tt.query, got, tt.want)
			}
		})
	}

	t.Run("a page that ends the list exactly has no next", func(t *testing.T) {
		status, body := get(t, srv, "/v1/requests?flow=prod-db&status=active&limit=2")
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
		if _, ok := body["next"]; ok || !slices.Equal(ids(t, body), []string{"r06", "r00"}) {
			t.Errorf("got %v, want r06 and r00 and no next", body)
		}
	})
	t.Run("the limit may change between pages", func(t *testing.T) {
		_, body := get(t, srv, "/v1/requests?status=pending&limit=2")
		_, body = get(t, srv, "/v1/requests?status=pending&limit=4&cursor="+url.QueryEscape(body["next"].(string)))
		if got := ids(t, body); !slices.Equal(got, []string{"r08", "r07", "r05", "r04"}) {
			t.Errorf("second page = %v, want r08 r07 r05 r04", got)
		}
	})
}

// A cursor that is not the next of the same list is refused with 400
// bad_cursor: not base64, not a cursor, altered, or from a list with
// other filters.
func TestListRequestsRefusesABadCursor(t *testing.T) {
	srv := listServer(t)
	_, body := get(t, srv, "/v1/requests?status=pending&limit=2")
	good := body["next"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatalf("next %q is not unpadded base64url: %v", good, err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	c["id"] = "r05" // skip ahead
	altered, _ := json.Marshal(c)

	for _, tt := range []struct{ name, query string }{
		{"not base64", "status=pending&cursor=%21%21%21"},
		{"not a cursor", "status=pending&cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"hello":1}`))},
		{"altered", "status=pending&cursor=" + base64.RawURLEncoding.EncodeToString(altered)},
		{"of another list", "status=active&cursor=" + url.QueryEscape(good)},
		{"of the same list with another time range", "status=pending&since=2026-03-01T09:00:00Z&cursor=" + url.QueryEscape(good)},
		{"too long", "status=pending&cursor=" + strings.Repeat("A", 2000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, srv, "/v1/requests?"+tt.query)
			e, _ := body["error"].(map[string]any)
			if status != http.StatusBadRequest || e["code"] != "bad_cursor" || e["message"] == "" {
				t.Errorf("GET ?%s = %d %v, want 400 bad_cursor with a message", tt.query, status, body)
			}
		})
	}
	// The same cursor on its own list still works.
	if status, body := get(t, srv, "/v1/requests?status=pending&limit=2&cursor="+url.QueryEscape(good)); status != http.StatusOK ||
		!slices.Equal(ids(t, body), []string{"r08", "r07"}) {
		t.Errorf("the good cursor: %d %v", status, body)
	}
	for _, q := range []string{"since=yesterday", "until=2026-03-01"} {
		status, body := get(t, srv, "/v1/requests?"+q)
		e, _ := body["error"].(map[string]any)
		if status != http.StatusBadRequest || e["code"] != "bad_request" {
			t.Errorf("GET ?%s = %d %v, want 400 bad_request", q, status, body)
		}
	}
}
