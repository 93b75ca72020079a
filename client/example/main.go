// Command example publishes a message to a Realplexor channel with the Go
// publisher package and prints the ids that are online.
//
// Run it against the example server. From the repository root, start Caddy
// with the module:
//
//	go run ./cmd/caddy run --config Caddyfile.example
//
// park a browser-style poll in a second terminal:
//
//	curl -N 'http://127.0.0.1:8088/?identifier=alpha'
//
// and publish from a third:
//
//	go run ./client/example -id alpha Hello from Go
//
// The poll prints the message ("data": "Hello from Go") and ends; the
// example prints
//
//	published "Hello from Go" to alpha
//	online:
//	  alpha (0 polls)
//
// alpha is still online without a poll for the server's offline_timeout.
// Or open http://127.0.0.1:8088/demo/ and publish into the demo's channels:
//
//	go run ./client/example -ns demo_ -id Alpha Hello demo
//
// Flags:
//
//	-in URL        the IN line, the site with realplexor_publish (default http://127.0.0.1:10010)
//	-id ID         the channel, without the namespace (default alpha)
//	-ns PREFIX     namespace in front of the id and of the listed ids
//	-login LOGIN   publish as LOGIN of the server's users_file; the password
//	               is read from the environment variable REALPLEXOR_PASSWORD
//	-timeout D     how long each request may take (default 5s)
//
// The message is the rest of the command line, sent as a JSON string.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	realplexor "github.com/caddy-realplexor/caddy-realplexor/client"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// errUsage is a command line the flag package already complained about.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("example", flag.ContinueOnError)
	flags.SetOutput(stderr)
	in := flags.String("in", "http://127.0.0.1:10010", "the IN line: base URL of the site with realplexor_publish")
	id := flags.String("id", "alpha", "the channel id, without the namespace")
	ns := flags.String("ns", "", "namespace in front of the id and of the listed ids, such as demo_")
	login := flags.String("login", "", "publisher login of the server's users_file (password in $REALPLEXOR_PASSWORD)")
	timeout := flags.Duration("timeout", 5*time.Second, "how long each request may take")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: example [-in URL] [-id ID] [-ns PREFIX] [-login LOGIN] [-timeout D] MESSAGE...")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	msg := strings.Join(flags.Args(), " ")
	if msg == "" {
		msg = "Hello from Go!"
	}

	opts := []realplexor.Option{realplexor.WithNamespace(*ns)}
	if *login != "" {
		opts = append(opts, realplexor.WithLogin(*login, os.Getenv("REALPLEXOR_PASSWORD")))
	}
	c := realplexor.New(*in, opts...)

	sendCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := c.Send(sendCtx, realplexor.IDs(*id), msg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "published %q to %s%s\n", msg, c.Namespace(), *id)
	if res.Cursor != "" {
		fmt.Fprintf(stdout, "cursor: %s\n", res.Cursor)
	}

	onlineCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	counts, err := c.OnlineWithCounters(onlineCtx)
	if err != nil {
		return err
	}
	if len(counts) == 0 {
		fmt.Fprintln(stdout, "online: none")
		return nil
	}
	fmt.Fprintln(stdout, "online:")
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		polls := "polls"
		if counts[id] == 1 {
			polls = "poll"
		}
		fmt.Fprintf(stdout, "  %s (%d %s)\n", id, counts[id], polls)
	}
	return nil
}
