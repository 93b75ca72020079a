package caddyrealplexor

import (
	"bytes"
	"slices"
	"sort"
	"strings"
)

// batchItem is one entry of a WAIT reply: one message with every id of the
// request it was found under (R-WAIT-11).
type batchItem struct {
	msg        *message
	sortCursor Cursor // the cursor under the first id it was collected for (R-WAIT-12)
	ids        []idCursor
}

type idCursor struct {
	id     string
	cursor Cursor
}

// collect gathers what w should receive from its channels (all of them,
// or only those in only when it is non-nil): every visible entry with a
// cursor above the listen cursor, grouped by message. The channels must be
// locked by the caller.
func collect(w *waiter, only []*channel) []batchItem {
	var items []batchItem
	var index map[*message]int
	for _, s := range w.subs {
		if only != nil && !slices.Contains(only, s.ch) {
			continue
		}
		// The queue is in cursor order: skip to the first entry above the
		// listen cursor rather than compare every entry (a listener is
		// usually at the tail).
		q := s.ch.queue
		q = q[sort.Search(len(q), func(i int) bool { return s.cursor.Less(q[i].cursor) }):]
		for _, e := range q {
			if !w.sees(e.msg) {
				continue
			}
			if index == nil {
				index = make(map[*message]int)
			}
			i, seen := index[e.msg]
			if !seen {
				index[e.msg] = len(items)
				items = append(items, batchItem{msg: e.msg, sortCursor: e.cursor})
				i = len(items) - 1
			}
			items[i].ids = addIDCursor(items[i].ids, s.ch.id, e.cursor)
		}
	}
	return items
}

// addIDCursor adds id to an item. A message stored twice under one id (a
// duplicate publish target, R-ID-9) is listed once, with the higher
// cursor, so the listener's next poll starts after both copies.
func addIDCursor(ids []idCursor, id string, c Cursor) []idCursor {
	for i := range ids {
		if ids[i].id == id {
			if ids[i].cursor.Less(c) {
				ids[i].cursor = c
			}
			return ids
		}
	}
	return append(ids, idCursor{id, c})
}

// renderBatch writes the R-WAIT-13 body: entries sorted by cursor, ties by
// data bytes (R-WAIT-12); ids inside an entry sorted by bytes; the data
// inserted verbatim.
func renderBatch(items []batchItem) []byte {
	slices.SortStableFunc(items, func(a, b batchItem) int {
		if c := a.sortCursor.Compare(b.sortCursor); c != 0 {
			return c
		}
		return bytes.Compare(a.msg.data, b.msg.data)
	})
	size := 4
	for _, it := range items {
		size += 48 + len(it.msg.data)
		for _, ic := range it.ids {
			size += len(ic.id) + len(ic.cursor.text) + 8
		}
	}
	buf := make([]byte, 0, size)
	buf = append(buf, "[\n"...)
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ",\n"...)
		}
		slices.SortFunc(it.ids, func(a, b idCursor) int { return strings.Compare(a.id, b.id) })
		buf = append(buf, "  {\n    \"ids\": { "...)
		for j, ic := range it.ids {
			if j > 0 {
				buf = append(buf, ", "...)
			}
			buf = append(buf, '"')
			buf = append(buf, ic.id...)
			buf = append(buf, "\": \""...)
			buf = append(buf, ic.cursor.text...)
			buf = append(buf, '"')
		}
		buf = append(buf, " },\n    \"data\":"...)
		if bytes.IndexByte(it.msg.data, '\n') >= 0 {
			buf = append(buf, '\n')
		} else {
			buf = append(buf, ' ')
		}
		buf = append(buf, it.msg.data...)
		buf = append(buf, "\n  }"...)
	}
	buf = append(buf, "\n]"...)
	return buf
}
