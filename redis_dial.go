package caddyrealplexor

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisOptions parses the `redis` setting into options for a universal
// client: one server, or a Redis Cluster when ?addr= lists more nodes.
func redisOptions(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("%q is not a redis:// or rediss:// URL", redactURL(raw))
	}
	if u.Query().Has("addr") {
		c, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{
			Addrs: c.Addrs, Username: c.Username, Password: c.Password, TLSConfig: c.TLSConfig,
			DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
			IsClusterMode: true,
		}, nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return &redis.UniversalOptions{
		Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
	}, nil
}

// dialRedis connects and checks the server answers, so a node with an
// unreachable Redis fails at start with a clear error.
func dialRedis(raw string) (redis.UniversalClient, error) {
	opts, err := redisOptions(raw)
	if err != nil {
		return nil, err
	}
	// A publish that cannot be stored must fail promptly (503), not
	// after several silent retries.
	opts.MaxRetries = 1
	client := redis.NewUniversalClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("unreachable: %w", err)
	}
	return client, nil
}

// redactURL hides a password for logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}
