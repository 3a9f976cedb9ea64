package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/latchhq/latch/pkg/signing"
	"github.com/spf13/cobra"
)

func newWebhookCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "webhook", Short: "Tools for the webhook strategy"}
	var addr, secretEnv string
	listen := &cobra.Command{
		Use:   "listen",
		Short: "Run a demo webhook target: verify each call's signature, print it, answer 200",
		Long: `Run a demo webhook target for trying Latch out and for testing flows.

Every call is checked with the secret in the environment variable named by
--secret-env; a call with a bad signature is answered 401. Good calls are
printed as one JSON line each and answered 200.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret := os.Getenv(secretEnv)
			if secret == "" {
				return usageError{fmt.Errorf("environment variable %s is empty: set it to the flow's webhook secret", secretEnv)}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
				if err != nil {
					http.Error(w, `{"error":"body too large"}`, http.StatusRequestEntityTooLarge)
					return
				}
				if err := signing.Verify(r.Header, body, []byte(secret), time.Now(), signing.DefaultTolerance); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "refused a call: %v\n", err)
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
					return
				}
				fmt.Fprintf(out, "%s %s\n", time.Now().UTC().Format(time.RFC3339), body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"ok":true}`))
			})}
			fmt.Fprintf(cmd.ErrOrStderr(), "webhook target listening on http://%s\n", ln.Addr())
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			if err := srv.Serve(ln); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	listen.Flags().StringVar(&addr, "addr", "127.0.0.1:9999", "address to listen on")
	listen.Flags().StringVar(&secretEnv, "secret-env", "LATCH_WEBHOOK_SECRET", "environment variable holding the shared secret")
	cmd.AddCommand(listen)
	return cmd
}
