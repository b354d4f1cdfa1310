package amtsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/amt/wsman"
)

// handlerFunc is a device-side WS-MAN handler: the caller says who asked.
type handlerFunc func(d *Device, c *caller, r *wsman.Request) (any, error)

// listFunc returns the instances an enumeration starts with.
type listFunc func(d *Device, c *caller) []any

var (
	muxOnce   sync.Once
	sharedMux *wsman.Mux
)

// mux is the one route table every device shares; the handlers find their
// device in the request context.
func mux() *wsman.Mux {
	muxOnce.Do(func() {
		m := wsman.NewMux()
		r := &routes{m: m}
		r.general()
		r.hostBasedSetup()
		r.setupAndConfiguration()
		r.authorization()
		r.timeSync()
		r.publicKey()
		r.tls()
		r.features()
		sharedMux = m
	})
	return sharedMux
}

type routes struct{ m *wsman.Mux }

func wrap(h handlerFunc) wsman.Handler {
	return func(ctx context.Context, r *wsman.Request) (any, error) {
		c := callerFrom(ctx)
		if c == nil {
			return nil, wsman.NewFault(wsman.SubcodeAccessDenied, "")
		}
		return h(c.d, c, r)
	}
}

func (rt *routes) handle(resource, action string, h handlerFunc) {
	rt.m.Handle(resource, action, wrap(h))
}

func (rt *routes) method(resource, method string, h handlerFunc) {
	rt.m.HandleMethod(resource, method, wrap(h))
}

// get serves a singleton's Get.
func (rt *routes) get(resource string, f func(d *Device) any) {
	rt.handle(resource, wsman.ActionGet, func(d *Device, _ *caller, _ *wsman.Request) (any, error) {
		return f(d), nil
	})
}

// getByID serves Get of a class with one instance per InstanceID
// selector: findLocked runs under d.mu, and an ID it does not know gets the
// InvalidSelectors fault the firmware sends.
func (rt *routes) getByID(resource string, findLocked func(d *Device, id string) (any, bool)) {
	rt.handle(resource, wsman.ActionGet, func(d *Device, _ *caller, r *wsman.Request) (any, error) {
		id, err := selectorID(r)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if inst, ok := findLocked(d, id); ok {
			return inst, nil
		}
		return nil, wsman.NewFault(wsman.SubcodeInvalidSelectors, wsman.DetailInvalidValue)
	})
}

// enumeration serves Enumerate, Pull and Release with per-device contexts,
// so that one device's clients never see another's and a busy fleet does
// not share one table of open enumerations.
func (rt *routes) enumeration(resource string, list listFunc) {
	rt.handle(resource, wsman.ActionEnumerate, func(d *Device, c *caller, _ *wsman.Request) (any, error) {
		return &wsman.EnumerateResponse{EnumerationContext: d.startEnum(resource, list(d, c))}, nil
	})
	rt.handle(resource, wsman.ActionPull, func(d *Device, _ *caller, r *wsman.Request) (any, error) {
		var p wsman.PullRequest
		if err := r.Decode(&p); err != nil {
			return nil, err
		}
		items, next, ok := d.pullEnum(p.EnumerationContext, resource, p.MaxElements)
		if !ok {
			return nil, wsman.NewFault(wsman.SubcodeInvalidEnumerationContext, "")
		}
		return wsman.NewPullResponse(items, next), nil
	})
	rt.handle(resource, wsman.ActionRelease, func(d *Device, _ *caller, r *wsman.Request) (any, error) {
		var rel struct {
			EnumerationContext string `xml:"EnumerationContext"`
		}
		if err := r.Decode(&rel); err != nil {
			return nil, err
		}
		if _, _, ok := d.pullEnum(rel.EnumerationContext, resource, -1); !ok {
			return nil, wsman.NewFault(wsman.SubcodeInvalidEnumerationContext, "")
		}
		return nil, nil
	})
}

// maxOpenEnums bounds a device's open enumerations (oldest dropped first).
const maxOpenEnums = 8

type enumState struct {
	id       string
	resource string
	items    []any
}

type enumTable struct{ open []*enumState }

func (d *Device) startEnum(resource string, items []any) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enums == nil {
		d.enums = &enumTable{}
	}
	if len(d.enums.open) >= maxOpenEnums {
		d.enums.open = d.enums.open[1:]
	}
	d.enums.open = append(d.enums.open, &enumState{id: id, resource: resource, items: items})
	return id
}

// pullEnum takes up to max items (all for max <= 0; max < 0 releases).
func (d *Device) pullEnum(id, resource string, max int) (items []any, next string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enums == nil {
		return nil, "", false
	}
	for i, e := range d.enums.open {
		if e.id != id || e.resource != resource {
			continue
		}
		if max > 0 && max < len(e.items) {
			items, e.items = e.items[:max], e.items[max:]
			return items, id, true
		}
		d.enums.open = append(d.enums.open[:i], d.enums.open[i+1:]...)
		if len(d.enums.open) == 0 {
			d.enums = nil
		}
		return e.items, "", true
	}
	return nil, "", false
}

// returned is the output of a method whose only output is ReturnValue.
func returned(resource, method string, code amt.ReturnCode) any {
	return wsman.NewReturnOutput(resource, method, code)
}

// denyLSA refuses configuration calls made with the local system account:
// before provisioning it may read and run host-based setup, nothing more.
func (c *caller) denyLSA(call string) error {
	if !c.lsa {
		return nil
	}
	c.d.mu.Lock()
	c.d.refuseLocked(call, refusal(RuleAccess, "the local system account", "the admin user, or a setup session", "finish host-based setup first, then call it as admin with the new password"))
	c.d.mu.Unlock()
	return wsman.NewFault(wsman.SubcodeAccessDenied, "")
}

// configInput opens a configuration call that takes input: the local
// system account is refused before the body is read, as the firmware does,
// and only then must the body decode into T.
func configInput[T any](d *Device, c *caller, r *wsman.Request, call string) (T, error) {
	var in T
	if err := c.denyLSA(call); err != nil {
		return in, err
	}
	if err := r.Decode(&in); err != nil {
		return in, d.badInput(call, err)
	}
	return in, nil
}

// badInput records a malformed request and returns the fault to send.
func (d *Device) badInput(call string, err error) error {
	d.mu.Lock()
	d.refuseLocked(call, refusal(RuleParameter, err.Error(), "the input element of "+call, "send the method's _INPUT element"))
	d.mu.Unlock()
	return err
}
