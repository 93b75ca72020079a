package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster-wide presence (R-ONL-1..3 over several nodes). Each node reports
// the ids it has listeners on (Touch); an id stays online until
// OFFLINE_TIMEOUT after the last report of any node, so a listener moving
// between nodes never flaps offline and a node that dies stops counting
// once its reports stop. Keys, beside the hub's others:
//
//	online        zset: id -> Redis time (ms) until which it is online
//	nodes         set of node ids that reported
//	c:<node>      hash: id -> listeners parked on that node
//	alive:<node>  set while the node keeps reporting

var (
	//go:embed presence_touch.lua
	luaPresenceTouch string
	//go:embed presence_expire.lua
	luaPresenceExpire string
	//go:embed presence_online.lua
	luaPresenceOnline string

	presenceTouchScript  = redis.NewScript(luaPresenceTouch)
	presenceExpireScript = redis.NewScript(luaPresenceExpire)
	presenceOnlineScript = redis.NewScript(luaPresenceOnline)
)

// Listeners is one id's listener count on the reporting node.
type Listeners struct {
	ID    string
	Count int
}

// Touch reports this node's listeners. With replace, ids is the node's
// complete list (a heartbeat) and ids missing from it lose this node's
// count; otherwise only the listed ids change. Every listed id is kept
// online for offlineTimeout, with an online event if it was offline.
// aliveFor is how long the node counts as alive without another report.
func (s *Store) Touch(ctx context.Context, node string, ids []Listeners, replace bool, offlineTimeout, aliveFor time.Duration, retain int) error {
	mode := "update"
	if replace {
		mode = "replace"
	}
	args := make([]any, 0, 5+2*len(ids))
	args = append(args, offlineTimeout.Milliseconds(), retain, node, aliveFor.Milliseconds(), mode)
	for _, l := range ids {
		args = append(args, l.ID, l.Count)
	}
	keys := []string{s.prefix + "online", s.keyEvSeq, s.keyEvents, s.prefix + "c:" + node, s.prefix + "nodes", s.prefix + "alive:" + node}
	if err := presenceTouchScript.Run(ctx, s.client, keys, args...).Err(); err != nil {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	return nil
}

// ExpirePresence takes ids whose grace period ended offline, with an
// offline event each, and returns how many.
func (s *Store) ExpirePresence(ctx context.Context, retain int) (int, error) {
	n, err := presenceExpireScript.Run(ctx, s.client, []string{s.prefix + "online", s.keyEvSeq, s.keyEvents}, retain).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: expire presence: %w", err)
	}
	return n, nil
}

// Online returns the online ids with listeners summed over live nodes.
func (s *Store) Online(ctx context.Context) ([]Listeners, error) {
	raw, err := presenceOnlineScript.Run(ctx, s.client, []string{s.prefix + "online", s.prefix + "nodes"}, s.prefix).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: online: %w", err)
	}
	out := make([]Listeners, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		n, err := strconv.Atoi(raw[i+1])
		if err != nil {
			return nil, fmt.Errorf("redisstore: online: bad count %q", raw[i+1])
		}
		out = append(out, Listeners{ID: raw[i], Count: n})
	}
	return out, nil
}
