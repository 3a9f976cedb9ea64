package outbound_test

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

func Example() {
	s, err := outbound.New("https://hooks.example.com/latch", []byte(os.Getenv("LATCH_HOOK_SECRET")), http.DefaultClient,
		outbound.WithName("on_request hook"), outbound.WithSetting("hooks.on_request of flow prod"))
	if err != nil {
		fmt.Println(err)
		return
	}
	answer, err := s.Post(context.Background(), []byte(`{"hook":"on_request"}`), "req_1:on_request:1", "handle request req_1")
	switch {
	case latch.IsPermanent(err):
		fmt.Println("refused; do not retry:", latch.ErrorMessageOf(err))
	case err != nil:
		fmt.Println("failed for now; retry later:", latch.ErrorMessageOf(err))
	default:
		fmt.Printf("done: %s\n", answer)
	}
}
