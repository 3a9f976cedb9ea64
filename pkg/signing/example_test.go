package signing_test

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/latchhq/latch/pkg/signing"
)

// A receiver checks the signature over the raw body before it parses it.
func ExampleVerify() {
	secret := []byte("the secret shared with Latch")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, `{"error":"body too large"}`, http.StatusRequestEntityTooLarge)
			return
		}
		if err := signing.Verify(r.Header, body, secret, time.Now(), signing.DefaultTolerance); err != nil {
			http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
			return
		}
		// Now parse body and act on it.
		w.WriteHeader(http.StatusNoContent)
	})
	_ = handler
}

func ExampleSign() {
	body := []byte(`{"hello":"world"}`)
	req, _ := http.NewRequest(http.MethodPost, "https://receiver.example.com/latch", nil)
	signing.Sign(req, body, []byte("test-secret"), time.Unix(1767225600, 0))
	fmt.Println(req.Header.Get(signing.HeaderTimestamp))
	fmt.Println(req.Header.Get(signing.HeaderSignature))
	// Output:
	// 1767225600
	// sha256=adb73f4965c2de3ba36a1ece69109fa5109777bdc9ca68c576458eb8004a2ed5
}
