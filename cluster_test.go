package caddyrealplexor

// Scale-out through Redis (issue 4): several real caddy processes with
// `realplexor { redis redis://… }` behave as one Realplexor. Every test
// starts its own redis-server (AOF, appendfsync always) and its own nodes
// (cluster_helpers_test.go), and checks the wire: the bytes the PHP client
// sends to one node's IN line, the bytes a poll parked on another node
// receives, and the ONLINE/WATCH replies of the whole cluster.

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A message the PHP client publishes on node A (exact request bytes,
// half-closed) reaches polls parked on node B, and on A, as one R-WAIT-13
// batch with a cluster-generated cursor newer than the polls' listen
// cursor.
func TestClusterPublishOnAReachesPollOnB(t *testing.T) {
	r := startClusterRedis(t)
	nodes := startCluster(t, r, clOptions{}, "A", "B")
	a, b := nodes[0], nodes[1]

	onB := b.poll("alpha")
	onB2 := b.poll("alpha")
	onA := a.poll("alpha")
	listen := onB.header(CursorHeader)
	if !clGeneratedCursor.MatchString(listen) {
		t.Fatalf("poll on B: %s %q is not a generated cursor (head %q)", CursorHeader, listen, onB.head)
	}

	reply := rawExchange(t, a.in, phpRequest("alpha", `"Hello!"`))
	if statusOf(reply) != 200 || bodyOf(t, reply) != "" {
		t.Fatalf("publish on A: %q", reply)
	}
	want := batch(entryJSON(`"alpha": "<cursor>"`, `"Hello!"`))
	var cursor string
	for i, p := range []*poll{onB, onB2, onA} {
		got := clBody(t, p, 10*time.Second, fmt.Sprintf("poll %d", i))
		if masked(got) != want {
			t.Fatalf("poll %d got\n%s\nwant\n%s", i, got, want)
		}
		c := clEntries(t, got, "alpha")[0].cursor
		if cursor != "" && c != cursor {
			t.Errorf("poll %d got cursor %s, another poll %s: one publish has one cursor", i, c, cursor)
		}
		cursor = c
	}
	if !(cursor > listen) {
		t.Errorf("delivered cursor %s is not above B's listen cursor %s", cursor, listen)
	}

	// And the other way round, with a multi-line body (the "data":\n form).
	onA = a.poll("alpha")
	b.publishOK("alpha", "{\n\"k\": 1\n}")
	if got, want := masked(clBody(t, onA, 10*time.Second, "poll on A")), batch(entryJSON(`"alpha": "<cursor>"`, "{\n\"k\": 1\n}")); got != want {
		t.Fatalf("poll on A got\n%s\nwant\n%s", got, want)
	}
}

// A client reconnecting to any node with its cursor gets exactly what it
// missed, in cursor order, once.
func TestClusterReconnectToOtherNodeWithCursor(t *testing.T) {
	r := startClusterRedis(t)
	nodes := startCluster(t, r, clOptions{}, "A", "B")
	a, b := nodes[0], nodes[1]

	a.publishOK("10:ch", `"m10"`)
	a.publishOK("20:ch", `"m20"`)
	a.publishOK("30:ch", `"m30"`)

	got := clBody(t, b.poll("15:ch"), 10*time.Second, "poll 15:ch on B")
	if want := batch(entryJSON(`"ch": "20"`, `"m20"`), entryJSON(`"ch": "30"`, `"m30"`)); got != want {
		t.Fatalf("poll 15:ch on B got\n%s\nwant\n%s", got, want)
	}
	got = clBody(t, a.poll("0:ch"), 10*time.Second, "poll 0:ch on A")
	if want := batch(entryJSON(`"ch": "10"`, `"m10"`), entryJSON(`"ch": "20"`, `"m20"`), entryJSON(`"ch": "30"`, `"m30"`)); got != want {
		t.Fatalf("poll 0:ch on A got\n%s\nwant\n%s", got, want)
	}
	got = clBody(t, b.poll("0:ch"), 10*time.Second, "poll 0:ch on B")
	if want := batch(entryJSON(`"ch": "10"`, `"m10"`), entryJSON(`"ch": "20"`, `"m20"`), entryJSON(`"ch": "30"`, `"m30"`)); got != want {
		t.Fatalf("poll 0:ch on B got\n%s\nwant\n%s", got, want)
	}

	// The browser's loop: a cursor-less poll on B gets a generated cursor,
	// two messages are published on A while nobody listens, the client
	// reconnects to A with the cursor it got and receives exactly those.
	p := b.poll("live")
	a.publishOK("live", `"first"`)
	first := clEntries(t, clBody(t, p, 10*time.Second, "poll live on B"), "live")
	if len(first) != 1 || first[0].data != `"first"` {
		t.Fatalf("poll live on B: %+v", first)
	}
	b.publishOK("live", `"second"`)
	a.publishOK("live", `"third"`)
	got = clBody(t, a.poll(first[0].cursor+":live"), 10*time.Second, "reconnect on A")
	missed := clEntries(t, got, "live")
	if len(missed) != 2 || missed[0].data != `"second"` || missed[1].data != `"third"` || !(missed[0].cursor > first[0].cursor) || !(missed[1].cursor > missed[0].cursor) {
		t.Fatalf("reconnect on A with %s:live got\n%s", first[0].cursor, got)
	}
	if want := batch(entryJSON(`"live": "<cursor>"`, `"second"`), entryJSON(`"live": "<cursor>"`, `"third"`)); masked(got) != want {
		t.Fatalf("reconnect on A got\n%s\nwant\n%s", got, want)
	}
}

// Cursors come from Redis: publishes alternating between two nodes get
// strictly increasing cursors in publish order.
func TestClusterCursorsIncreaseAcrossNodes(t *testing.T) {
	r := startClusterRedis(t)
	nodes := startCluster(t, r, clOptions{extra: "\t\tmax_data_for_id 100"}, "A", "B")
	const n = 50
	for i := 0; i < n; i++ {
		nodes[i%2].publishOK("ch", fmt.Sprintf(`{"n":%d}`, i))
	}
	var first string
	for _, node := range nodes {
		got := clBody(t, node.poll("0:ch"), 10*time.Second, "poll 0:ch on "+node.name)
		entries := clEntries(t, got, "ch")
		if len(entries) != n {
			t.Fatalf("poll 0:ch on %s: %d entries, want %d:\n%s", node.name, len(entries), n, got)
		}
		for i, e := range entries {
			if e.data != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("poll 0:ch on %s: entry %d is %s, want publish order:\n%s", node.name, i, e.data, got)
			}
			if !clGeneratedCursor.MatchString(e.cursor) {
				t.Fatalf("entry %d: %q is not a generated cursor", i, e.cursor)
			}
			if i > 0 && !(e.cursor > entries[i-1].cursor) {
				t.Fatalf("poll 0:ch on %s: cursor %d %s is not above %s", node.name, i, e.cursor, entries[i-1].cursor)
			}
		}
		if strings.Count(got, `"ids"`) != n {
			t.Fatalf("poll 0:ch on %s: not exactly %d entries:\n%s", node.name, n, got)
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Fatalf("the nodes return different histories:\n%s\n---\n%s", first, got)
		}
	}
}

// ONLINE sums listeners over the nodes; WATCH is one cluster-wide log.
func TestClusterOnlineAndWatch(t *testing.T) {
	r := startClusterRedis(t)
	nodes := startCluster(t, r, clOptions{}, "A", "B")
	a, b := nodes[0], nodes[1]

	a.poll("x")
	var events []clEvent
	eventuallyWithin(t, 10*time.Second, "watch 1 on B to show x online", func() bool {
		events = clEvents(t, b.watch(1))
		return len(events) == 1
	})
	b.poll("y")
	eventuallyWithin(t, 10*time.Second, "watch 1 on A to show y online", func() bool {
		events = clEvents(t, a.watch(1))
		return len(events) == 2
	})
	b.poll("x")

	for _, node := range nodes {
		var got string
		eventuallyWithin(t, 10*time.Second, "online on "+node.name+` to be "x 2\ny 1\n"`, func() bool {
			got = node.online()
			return got == "x 2\ny 1\n"
		})
	}

	body := a.watch(1)
	events = clEvents(t, body)
	if len(events) != 2 || events[0].kind != "online" || events[0].id != "x" || events[1].kind != "online" || events[1].id != "y" || !(events[0].pos < events[1].pos) {
		t.Fatalf("watch 1 on A: %q, want online <p>:x then online <q>:y with p < q", body)
	}
	if p := events[0].pos; body != fmt.Sprintf("online %d:x\nonline %d:y\n", p, events[1].pos) {
		t.Fatalf("watch 1 on A: %q", body)
	}
	if got := b.watch(1); got != body {
		t.Errorf("watch 1 on B: %q, on A: %q (one log for the cluster)", got, body)
	}
	if got := a.watch(events[0].pos); got != fmt.Sprintf("online %d:y\n", events[1].pos) {
		t.Errorf("watch %d on A: %q", events[0].pos, got)
	}
	fa, fb := a.fake(), b.fake()
	if fa != events[1].pos+1 || fb != fa {
		t.Errorf("watch 0: FAKE %d on A, %d on B; want the next position %d on both", fa, fb, events[1].pos+1)
	}
	if got := a.watch(fa); got != "" {
		t.Errorf("watch %d (the FAKE position): %q, want nothing", fa, got)
	}
}

// A listener that moves from A to B within OFFLINE_TIMEOUT does not go
// offline; once it is really gone it goes offline once.
func TestClusterNoFlapWhenMovingNodes(t *testing.T) {
	r := startClusterRedis(t)
	nodes := startCluster(t, r, clOptions{}, "A", "B")
	a, b := nodes[0], nodes[1]

	pa := a.poll("mv")
	var body string
	eventuallyWithin(t, 10*time.Second, "mv online", func() bool {
		body = a.watch(1)
		return strings.Contains(body, ":mv\n")
	})
	events := clEvents(t, body)
	if len(events) != 1 || events[0].kind != "online" {
		t.Fatalf("watch 1: %q", body)
	}
	on := events[0]

	pa.close()
	moved := time.Now()
	pb := b.poll("mv")
	if d := time.Since(moved); d > 300*time.Millisecond {
		t.Fatalf("re-polling on B took %v (> 300 ms)", d)
	}
	time.Sleep(2500 * time.Millisecond) // OFFLINE_TIMEOUT is 1 s: a flap would show by now
	for _, node := range nodes {
		if got, want := node.watch(1), fmt.Sprintf("online %d:mv\n", on.pos); got != want {
			t.Errorf("watch 1 on %s after moving: %q, want %q (no offline event)", node.name, got, want)
		}
		var got string
		eventuallyWithin(t, 5*time.Second, "online on "+node.name+" to be mv 1", func() bool {
			got = node.online()
			return got == "mv 1\n"
		})
	}

	// The test can see a real offline: close the last listener.
	pb.close()
	eventuallyWithin(t, 10*time.Second, "mv offline", func() bool {
		body = b.watch(1)
		return strings.Contains(body, "offline ")
	})
	events = clEvents(t, body)
	if len(events) != 1 || events[0].kind != "offline" || events[0].id != "mv" || !(events[0].pos > on.pos) {
		t.Fatalf("watch 1 after the last listener left: %q", body)
	}
	if got := a.watch(on.pos); got != body {
		t.Errorf("watch %d on A: %q, want %q", on.pos, got, body)
	}
	if got := a.online(); got != "" {
		t.Errorf("online on A after mv went offline: %q", got)
	}
}

// *limiter visibility holds across nodes, for parked polls and history.
func TestClusterLimiters(t *testing.T) {
	r := startClusterRedis(t)
	nodes := startCluster(t, r, clOptions{}, "A", "B")
	a, b := nodes[0], nodes[1]

	plain := b.poll("abc")
	withAA := b.poll("abc,aa")
	a.publishOK("abc,*aa", `"limited"`)
	if got, want := masked(clBody(t, withAA, 10*time.Second, "poll abc,aa on B")), batch(entryJSON(`"abc": "<cursor>"`, `"limited"`)); got != want {
		t.Fatalf("poll abc,aa on B got\n%s\nwant\n%s", got, want)
	}
	clSilent(t, plain, time.Second, "poll abc on B after a publish limited to aa")
	// The poll is alive and still does not see the limited message.
	a.publishOK("abc", `"public"`)
	if got, want := masked(clBody(t, plain, 10*time.Second, "poll abc on B")), batch(entryJSON(`"abc": "<cursor>"`, `"public"`)); got != want {
		t.Fatalf("poll abc on B got\n%s\nwant\n%s", got, want)
	}

	// History: stored on A, read on B.
	a.publishOK("20:lim,*bb", `"hist"`)
	hidden := b.poll("10:lim")
	clSilent(t, hidden, time.Second, "poll 10:lim on B (the message is limited to bb)")
	if got, want := clBody(t, b.poll("10:lim,bb"), 10*time.Second, "poll 10:lim,bb on B"), batch(entryJSON(`"lim": "20"`, `"hist"`)); got != want {
		t.Fatalf("poll 10:lim,bb on B got\n%s\nwant\n%s", got, want)
	}
}

// Redis stopped mid-run: parked polls stay parked, publishes answer 503
// and are not stored; after the restart the nodes reconnect by themselves,
// the parked polls get later publishes, and what was acknowledged before
// is still there.
func TestClusterRedisRestart(t *testing.T) {
	r := startClusterRedis(t)
	nodes := startCluster(t, r, clOptions{}, "A", "B")
	a, b := nodes[0], nodes[1]

	a.publishOK("5:keep", `"kept"`) // acknowledged before the outage
	pa := a.poll("rs")
	pb := b.poll("rs")

	r.kill()
	for _, node := range nodes {
		reply, took := node.publishWithin(8*time.Second, "rs", `"lost"`)
		if statusOf(reply) != 503 {
			t.Fatalf("publish on %s with Redis down: %q after %v, want a 503", node.name, reply, took.Round(time.Millisecond))
		}
		t.Logf("publish on %s with Redis down: 503 after %v", node.name, took.Round(time.Millisecond))
	}
	clSilent(t, pa, time.Second, "poll on A with Redis down")
	clSilent(t, pb, time.Second, "poll on B with Redis down")

	r.start()
	restarted := time.Now()
	var data string
	attempt := 0
	eventuallyWithin(t, 10*time.Second, "a publish to succeed after the Redis restart", func() bool {
		attempt++
		data = fmt.Sprintf(`{"after":%d}`, attempt)
		reply, _ := a.publishWithin(5*time.Second, "rs", data)
		switch statusOf(reply) {
		case 200:
			return true
		case 503:
			return false
		default:
			t.Fatalf("publish after the restart: %q, want 200 or 503", reply)
			return false
		}
	})
	t.Logf("first publish accepted %v after the restart (attempt %d)", time.Since(restarted).Round(time.Millisecond), attempt)
	want := batch(entryJSON(`"rs": "<cursor>"`, data))
	for i, p := range []*poll{pa, pb} {
		if got := masked(clBody(t, p, 10*time.Second, fmt.Sprintf("parked poll %d after the restart", i))); got != want {
			t.Errorf("parked poll %d got\n%s\nwant\n%s (503-answered publishes must not be stored)", i, got, want)
		}
	}

	// Parked polls opened after the restart work on both nodes too.
	pa, pb = a.poll("rs2"), b.poll("rs2")
	b.publishOK("rs2", `"again"`)
	for i, p := range []*poll{pa, pb} {
		if got, want := masked(clBody(t, p, 10*time.Second, fmt.Sprintf("new poll %d", i))), batch(entryJSON(`"rs2": "<cursor>"`, `"again"`)); got != want {
			t.Errorf("new poll %d got\n%s\nwant\n%s", i, got, want)
		}
	}

	// Nothing acknowledged was lost, nothing refused was stored.
	for _, node := range nodes {
		if got, want := clBody(t, node.poll("1:keep"), 10*time.Second, "poll 1:keep on "+node.name), batch(entryJSON(`"keep": "5"`, `"kept"`)); got != want {
			t.Errorf("poll 1:keep on %s got\n%s\nwant\n%s", node.name, got, want)
		}
		if got := masked(clBody(t, node.poll("0:rs"), 10*time.Second, "poll 0:rs on "+node.name)); got != want {
			t.Errorf("poll 0:rs on %s got\n%s\nwant\n%s", node.name, got, want)
		}
	}
}

// A node that dies leaves no ghost presence: its ids go offline within
// OFFLINE_TIMEOUT plus 2 s, and the other nodes' ids stay online.
func TestClusterDeadNodeNoGhost(t *testing.T) {
	r := startClusterRedis(t)
	nodes := startCluster(t, r, clOptions{}, "A", "B", "C")
	a, b, c := nodes[0], nodes[1], nodes[2]

	a.poll("alive")
	c.poll("ghost")
	var got string
	eventuallyWithin(t, 10*time.Second, `online on A to list "alive 1\nghost 1\n"`, func() bool {
		got = a.online()
		return got == "alive 1\nghost 1\n"
	})

	died := c.kill()
	const limit = time.Second + 2*time.Second // offline_timeout + margin
	for {
		got = a.online()
		if !strings.Contains(got, "ghost") {
			break
		}
		if time.Since(died) > limit {
			t.Fatalf("online on A %v after node C died: %q; ghost must be gone within %v", time.Since(died).Round(time.Millisecond), got, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("ghost left online %v after its node died", time.Since(died).Round(time.Millisecond))
	if got != "alive 1\n" {
		t.Errorf("online on A after C died: %q, want %q", got, "alive 1\n")
	}
	if got := b.online(); got != "alive 1\n" {
		t.Errorf("online on B after C died: %q, want %q", got, "alive 1\n")
	}
	var body string
	eventuallyWithin(t, 10*time.Second, "watch 1 to show ghost offline", func() bool {
		body = a.watch(1)
		return strings.Contains(body, "offline ") && strings.Contains(body, ":ghost\n")
	})
	var ghostOff, aliveOn bool
	for _, e := range clEvents(t, body) {
		switch {
		case e.id == "ghost" && e.kind == "offline":
			ghostOff = true
		case e.id == "alive" && e.kind == "online":
			aliveOn = true
		default:
			t.Errorf("unexpected event %+v in %q", e, body)
		}
	}
	if !ghostOff || !aliveOn {
		t.Errorf("watch 1 on A: %q, want offline <p>:ghost and online <q>:alive", body)
	}
	if got := b.watch(1); got != body {
		t.Errorf("watch 1 on B: %q, on A: %q", got, body)
	}
}

// Redis unreachable at start: the node fails to start with an error that
// names Redis. The same config with a live Redis starts (so the failure is
// not merely an unknown option).
func TestClusterRedisUnreachableAtStart(t *testing.T) {
	closed := clFreePort(t) // nothing listens there
	n := newClusterNode(t, "dead-redis", fmt.Sprintf("redis://127.0.0.1:%d/0", closed), clOptions{})
	n.launch()
	if !n.waitExit(15 * time.Second) {
		t.Fatalf("the node with an unreachable Redis is still running after 15 s; logs:\n%s", clTail(n.logs.String(), 6000))
	}
	if n.exitError() == nil {
		t.Fatalf("the node with an unreachable Redis exited with status 0; logs:\n%s", clTail(n.logs.String(), 6000))
	}
	// The start error itself (not only go-redis's dial log) names Redis.
	var errLines []string
	for _, line := range strings.Split(n.logs.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) || strings.HasPrefix(line, "Error:") {
			errLines = append(errLines, line)
		}
	}
	errText := strings.Join(errLines, "\n")
	if strings.Contains(errText, "unknown realplexor option") {
		t.Fatalf("the redis option is not implemented:\n%s", errText)
	}
	if !strings.Contains(strings.ToLower(errText), "redis") {
		t.Fatalf("the start error does not mention redis:\n%s\nlogs:\n%s", errText, clTail(n.logs.String(), 6000))
	}
	t.Logf("exit: %v; error:\n%s", n.exitError(), errText)

	// Control: the same config pointing at a live Redis serves.
	r := startClusterRedis(t)
	live := startCluster(t, r, clOptions{}, "live")[0]
	p := live.poll("ok")
	live.publishOK("ok", `"up"`)
	if got, want := masked(clBody(t, p, 10*time.Second, "poll on the live node")), batch(entryJSON(`"ok": "<cursor>"`, `"up"`)); got != want {
		t.Fatalf("live node: got\n%s\nwant\n%s", got, want)
	}
}
