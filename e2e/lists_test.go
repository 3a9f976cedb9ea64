package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// A list read page by page through the running server: the client follows
// next until the last page, a flow and status filter together is served,
// and a made-up cursor is 400 bad_cursor (every call checked against
// docs/openapi.yaml after the suite).
func TestListPagesThroughTheServer(t *testing.T) {
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	var made []string
	for i := range 5 {
		body := httpapi.CreateBody{Flow: "deploy", UserEmail: fmt.Sprintf("user%d@example.com", i), Fields: map[string]any{"reason": "release 7"}}
		var r latch.Request
		if resp := post(t, srv, "/v1/requests", body, nil, &r); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("create %d: %d", i, resp.StatusCode)
		}
		made = append([]string{r.ID}, made...) // newest first
	}
	c := srv.client()
	page, err := c.ListRequestsPage(context.Background(), latch.RequestFilter{Flow: "deploy", Status: latch.StatusPending, Limit: 2}, "")
	if err != nil || len(page.Requests) != 2 || page.Next == "" {
		t.Fatalf("first page: %d requests, next %q, %v; want 2 and a next", len(page.Requests), page.Next, err)
	}
	all, err := c.AllRequests(context.Background(), latch.RequestFilter{Flow: "deploy", Status: latch.StatusPending, Limit: 2})
	if err != nil {
		t.Fatalf("AllRequests: %v", err)
	}
	var got []string
	for _, r := range all {
		got = append(got, r.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(made) {
		t.Errorf("every page = %v, want %v", got, made)
	}
	_, err = c.ListRequestsPage(context.Background(), latch.RequestFilter{Status: latch.StatusActive}, page.Next)
	var le *latch.Error
	if !errors.As(err, &le) || le.Code != httpapi.CodeBadCursor {
		t.Errorf("another list's cursor: %v, want bad_cursor", err)
	}
}
