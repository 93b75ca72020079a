package realplexor_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	realplexor "github.com/caddy-realplexor/caddy-realplexor/client"
)

// Publishing from a Go back end: one Client, shared, for the IN line.
func Example() {
	c := realplexor.New("http://127.0.0.1:10010", realplexor.WithNamespace("myapp_"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Browsers polling myapp_alpha get {"from":"bob","text":"Hello!"}.
	type chat struct {
		From string `json:"from"`
		Text string `json:"text"`
	}
	if _, err := c.Send(ctx, realplexor.IDs("alpha"), chat{From: "bob", Text: "Hello!"}); err != nil {
		log.Fatal(err)
	}

	// Who listens, and how many polls each id has.
	counts, err := c.OnlineWithCounters(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for id, n := range counts {
		fmt.Printf("%s: %d\n", id, n)
	}
}

// Explicit cursors, limiters and the typed errors.
func ExampleClient_Send() {
	c := realplexor.New("http://127.0.0.1:10010", realplexor.WithLogin("user", "password"))
	ctx := context.Background()

	// user_alpha gets the message with cursor 100, and only the polls that
	// also listen to user_admins see it.
	_, err := c.Send(ctx, []realplexor.IDCursor{{ID: "alpha", Cursor: "100"}}, "for admins", "admins")

	var denied *realplexor.AccessDeniedError
	var refused *realplexor.ServerError
	switch {
	case errors.As(err, &denied):
		log.Printf("check the users file: %s", denied.Message)
	case errors.As(err, &refused):
		log.Printf("server refused (%d): %s", refused.Status, refused.Reason)
	case err != nil:
		log.Printf("not published: %v", err) // network, context, invalid argument
	}
}

// Invalid ids are refused before anything is sent.
func ExampleClient_Send_invalidID() {
	c := realplexor.New("http://127.0.0.1:10010")
	_, err := c.Send(context.Background(), realplexor.IDs("no-num"), "x")
	fmt.Println(err)
	fmt.Println(errors.Is(err, realplexor.ErrInvalidArgument))
	// Output:
	// identifier must be alphanumeric, "no-num" given
	// true
}

// Following ids as they come online and go offline.
func ExampleClient_Watch() {
	c := realplexor.New("http://127.0.0.1:10010", realplexor.WithNamespace("myapp_"))
	ctx := context.Background()

	events, err := c.Watch(ctx, 0) // one FAKE event: where the log stands
	if err != nil {
		log.Fatal(err)
	}
	pos := events[0].Pos - 1 // the next event gets exactly the FAKE position
	for range time.Tick(time.Second) {
		events, err := c.Watch(ctx, pos)
		if err != nil {
			log.Print(err)
			continue
		}
		for _, e := range events {
			fmt.Println(e.Type, e.ID) // "online alpha", "offline alpha"
			pos = e.Pos
		}
	}
}
