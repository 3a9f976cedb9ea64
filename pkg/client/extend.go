package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// Extend asks for more time on the request's active access (POST
// /v1/requests/{id}/extend) and returns the request as the API answered:
// extended at once, or with the extension pending for approvers.
func (c *Client) Extend(ctx context.Context, id string, body httpapi.ExtendBody) (latch.Request, error) {
	var r latch.Request
	return r, c.do(ctx, http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/extend", body, &r)
}
