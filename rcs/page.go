package rcs

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// Lists are answered a page at a time: ?limit= (1 to MaxPageSize, default
// DefaultPageSize) and ?cursor= from the previous page's Link header
// (rel="next"), which is absent on the last page.
const (
	DefaultPageSize = 500
	MaxPageSize     = 1000
)

type page struct {
	limit  int
	cursor string
}

func parsePage(r *http.Request, def int) (page, error) {
	p := page{limit: def, cursor: r.URL.Query().Get("cursor")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxPageSize {
			return p, apiErr(http.StatusBadRequest, "page size", fmt.Sprintf("limit=%q", l), fmt.Sprintf("1 to %d", MaxPageSize), "ask for fewer and follow the Link header's next page")
		}
		p.limit = n
	}
	if len(p.cursor) > 256 {
		return p, apiErr(http.StatusBadRequest, "page cursor", fmt.Sprintf("%d bytes", len(p.cursor)), "the cursor of the previous page's Link header", "follow the Link header, or start without a cursor")
	}
	return p, nil
}

// pageOf sorts items by key and returns those after the cursor, at most
// limit, with the cursor of the next page ("" on the last).
func pageOf[T any](items []T, key func(T) string, p page) ([]T, string) {
	slices.SortFunc(items, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	i, _ := slices.BinarySearchFunc(items, p.cursor, func(it T, c string) int {
		if k := key(it); k <= c {
			return -1
		}
		return 1
	})
	if p.cursor == "" {
		i = 0
	}
	items = items[i:]
	if len(items) <= p.limit {
		return items, ""
	}
	return items[:p.limit], key(items[p.limit-1])
}

// setNext announces the next page, if any.
func setNext(w http.ResponseWriter, r *http.Request, next string) {
	if next == "" {
		return
	}
	u := *r.URL
	q := u.Query()
	q.Set("cursor", next)
	u.RawQuery = q.Encode()
	w.Header().Set("Link", "<"+u.Path+"?"+u.RawQuery+`>; rel="next"`)
}
