package heuristics

import (
	"encoding/json"
	"fmt"
	"strings"
)

// orderCore are the headers whose relative order the header-order rule
// compares: ones every request of the family carries in a fixed place.
// Headers whose position depends on the request type (content-type,
// origin, cache-control, priority) are left out to avoid false positives.
var orderCore = map[string]bool{
	"user-agent": true, "accept": true, "accept-encoding": true, "accept-language": true,
	"sec-ch-ua": true, "sec-ch-ua-mobile": true, "sec-ch-ua-platform": true,
	"sec-fetch-site": true, "sec-fetch-mode": true, "sec-fetch-user": true, "sec-fetch-dest": true,
	"upgrade-insecure-requests": true, "referer": true, "cookie": true,
}

// headerOrder is a family's expected order: rank per lower-case header for
// HTTP/1.x (from the capitalised list) and for HTTP/2 and 3 (lower-case).
type headerOrder struct {
	h1, h2 map[string]int
}

// orderFamilies are the header-generator families the rule uses. Safari is
// left out: its order has changed across releases (Sec-Fetch-* arrived in
// 16.4) and the data's single order cannot be trusted for every version.
var orderFamilies = []string{"chrome", "edge", "firefox"}

func loadHeaderOrders() (map[string]headerOrder, error) {
	raw, err := dataFS.ReadFile("data/headers/headers-order.json")
	if err != nil {
		return nil, fmt.Errorf("embedded headers-order.json: %w", err)
	}
	var lists map[string][]string
	if err := json.Unmarshal(raw, &lists); err != nil {
		return nil, fmt.Errorf("embedded headers-order.json: %w", err)
	}
	out := map[string]headerOrder{}
	for _, fam := range orderFamilies {
		list, ok := lists[fam]
		if !ok {
			return nil, fmt.Errorf("headers-order.json: no %q list", fam)
		}
		o := headerOrder{h1: map[string]int{}, h2: map[string]int{}}
		h2 := false
		for i, name := range list {
			if strings.HasPrefix(name, ":") {
				h2 = true // the HTTP/2 list starts with the pseudo-headers
				continue
			}
			lname := strings.ToLower(name)
			if !orderCore[lname] {
				continue
			}
			if h2 {
				o.h2[lname] = i
			} else {
				o.h1[lname] = i
			}
		}
		out[fam] = o
	}
	return out, nil
}

// inversions counts the places where a core header comes after one the
// family sends later, walking names in wire order.
func (o headerOrder) inversions(names []string, http2 bool) (inv, ranked int) {
	rank := o.h1
	if http2 {
		rank = o.h2
	}
	last := -1
	for _, n := range names {
		r, ok := rank[n]
		if !ok {
			continue
		}
		ranked++
		if r < last {
			inv++
		}
		last = max(last, r)
	}
	return inv, ranked
}
